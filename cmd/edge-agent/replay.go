package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/kanal-dev/kanal/can"
	"github.com/kanal-dev/kanal/can/socketcan"
)

type replayFlags struct {
	to     string
	maps   []string
	speed  float64
	fast   bool
	loop   bool
	maxGap time.Duration
	strict bool
}

func newReplayCmd() *cobra.Command {
	var fl replayFlags
	cmd := &cobra.Command{
		Use:   "replay LOG",
		Short: "Play a candump log onto SocketCAN buses with its recorded timing, like canplayer",
		Long: `Replay plays a candump log (candump -l / -L format) onto SocketCAN
interfaces, paced by the log's timestamps like can-utils' canplayer.

Each frame goes to the interface it was logged on, as with canplayer;
--to sends every frame to one interface instead, and --map OUT=IN renames
buses in canplayer's order (--map vcan0=can0 sends what was logged on can0
to vcan0). With --map and no --to, frames of unmapped buses are dropped.
--to - writes the paced log to standard output, to pipe it into another
program.

A timestamp that goes backwards (logs joined from several files) restarts
the clock; --max-gap shortens long pauses. Malformed lines are skipped and
counted, or fatal with --strict. The DROPCOUNT lines candump -d writes
where it lost frames are not malformed: each is reported as a gap in the
log, with its line, interface and count.`,
		Example: `  edge-agent replay vcan0.log
  edge-agent replay testdata/candumps/drive_city.log --to vcan0
  edge-agent replay drive.log --map vcan0=can0 --map vcan1=can1 --speed 4 --loop
  edge-agent replay drive.log --to - --fast | edge-agent decode --dbc car.dbc -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReplay(cmd.Context(), cmd, args[0], fl)
		},
	}
	f := cmd.Flags()
	f.StringVar(&fl.to, "to", "", "output interface for all frames (or those --map does not name), instead of the logged one; - writes candump text to stdout")
	f.StringArrayVar(&fl.maps, "map", nil, "bus assignment OUT=IN, e.g. vcan0=can0 (repeatable)")
	f.Float64Var(&fl.speed, "speed", 1, "speed factor: 1 is real time, 2 twice as fast")
	f.BoolVar(&fl.fast, "fast", false, "ignore timestamps: send as fast as the bus takes frames")
	f.BoolVar(&fl.loop, "loop", false, "start over at the end of the log, until interrupted")
	f.DurationVar(&fl.maxGap, "max-gap", 0, "shorten pauses longer than this (log time); 0 keeps them")
	f.BoolVar(&fl.strict, "strict", false, "stop at the first malformed line instead of skipping it")
	return cmd
}

func runReplay(ctx context.Context, cmd *cobra.Command, path string, fl replayFlags) error {
	if fl.speed <= 0 && !fl.fast {
		return fmt.Errorf("--speed %v: must be above 0 (use --fast to ignore timestamps)", fl.speed)
	}
	busMap, err := can.ParseBusMap(fl.maps)
	if err != nil {
		return err
	}
	toStdout := fl.to == "-"
	if toStdout {
		if len(fl.maps) > 0 {
			return errors.New("--to - writes the log as it is: it does not combine with --map")
		}
		fl.to = "" // keep the logged bus names
	}
	malformed := 0
	var drops dropWarnings
	opts := can.LogReaderOptions{Strict: fl.strict, OnDrops: drops.report, OnMalformed: func(e *can.LineError) {
		if malformed++; malformed <= 10 {
			slog.Warn("skipping malformed line", "err", e)
		}
	}}
	speed := fl.speed
	if fl.fast {
		speed = 0
	}
	rp, err := can.NewReplay(can.ReplayOptions{
		Open:    func() (can.Source, error) { return can.OpenLog(path, opts) },
		Speed:   speed,
		Loop:    fl.loop,
		MaxGap:  fl.maxGap,
		Map:     busMap,
		Default: fl.to,
	})
	if err != nil {
		return err
	}
	defer rp.Close()

	out := newSinks(ctx, cmd.OutOrStdout(), toStdout, speed > 0)
	out.asLogged = fl.to == "" && len(fl.maps) == 0 && !toStdout
	defer out.close()
	start := time.Now()
	var sent int64
	err = drain(ctx, rp, func(t *can.Timed) error {
		if err := out.send(ctx, *t); err != nil {
			return err
		}
		sent++
		return nil
	})
	if err != nil {
		return err
	}
	if err := out.close(); err != nil {
		return err
	}
	elapsed := time.Since(start)
	slog.Info("replay done", "log", path, "frames", sent, "malformed", malformed,
		"recorder_dropped", drops.frames, "passes", rp.Passes(), "elapsed", elapsed.Round(time.Millisecond),
		"frames_per_s", int64(float64(sent)/max(elapsed.Seconds(), 1e-9)))
	if malformed > 10 {
		slog.Warn("more malformed lines were skipped", "count", malformed-10)
	}
	drops.summary()
	return nil
}

// maxDropWarnings is how many DROPCOUNT lines a command reports one by one.
const maxDropWarnings = 10

// dropWarnings reports the DROPCOUNT lines of candump logs (can.DropReport)
// to the user: the recorder lost frames there, so the log has a gap that
// replay and decode cannot fill. The first lines are logged with file, line,
// interface and count, the rest only summed. replay and decode share it.
type dropWarnings struct {
	lines  int
	frames uint64
}

func (w *dropWarnings) report(d can.DropReport) {
	w.lines++
	w.frames += uint64(d.Dropped)
	if w.lines <= maxDropWarnings {
		slog.Warn("the recorder dropped frames here: the log has a gap", "file", d.File, "line", d.Line,
			"bus", d.Bus, "dropped", d.Dropped, "total", d.Total)
	}
}

// summary logs the lines report did not log one by one.
func (w *dropWarnings) summary() {
	if w.lines > maxDropWarnings {
		slog.Warn("more DROPCOUNT lines in the log", "lines", w.lines-maxDropWarnings,
			"frames_dropped_in_all", w.frames)
	}
}

// sinks opens one output per bus name on first use: a SocketCAN interface,
// or candump text on stdout for "-".
type sinks struct {
	ctx      context.Context
	buses    map[string]can.Sink
	text     *can.LogWriter // set when every frame goes to stdout
	paced    bool           // flush text per frame, so a pipe sees it when due
	asLogged bool           // no --to or --map: bus names are the logged ones
	closed   bool
}

func newSinks(ctx context.Context, stdout io.Writer, toStdout, paced bool) *sinks {
	s := &sinks{ctx: ctx, buses: map[string]can.Sink{}, paced: paced}
	if toStdout {
		s.text = can.NewLogWriter(nopCloser{stdout})
	}
	return s
}

func (s *sinks) send(ctx context.Context, t can.Timed) error {
	if s.text != nil {
		if err := s.text.Write(t); err != nil || !s.paced {
			return err
		}
		return s.text.Flush()
	}
	sink, ok := s.buses[t.Bus]
	if !ok {
		bus, err := socketcan.Open(s.ctx, socketcan.Options{Interface: t.Bus, Logger: slog.Default()})
		if err != nil && s.asLogged {
			return fmt.Errorf("%w (frames go to the interface they were logged on; --to IFACE or --map OUT=IN sends them elsewhere)", err)
		}
		if err != nil {
			return err
		}
		s.buses[t.Bus], sink = bus, bus
	}
	return sink.Send(ctx, t)
}

func (s *sinks) close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	if s.text != nil {
		errs = append(errs, s.text.Flush())
	}
	for _, b := range s.buses {
		if c, ok := b.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

// nopCloser keeps LogWriter.Close from closing stdout.
type nopCloser struct{ io.Writer }
