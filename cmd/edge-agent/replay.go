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
	to      string
	maps    []string
	speed   float64
	fast    bool
	loop    bool
	maxGap  time.Duration
	strict  bool
	rcvTime bool
}

func newReplayCmd() *cobra.Command {
	var fl replayFlags
	cmd := &cobra.Command{
		Use:   "replay LOG",
		Short: "Play a candump log onto SocketCAN buses with its recorded timing, like canplayer",
		Long: `Replay plays a candump log (candump -l / -L format) onto SocketCAN
interfaces, paced by the log's timestamps like can-utils' canplayer.

Frames go to --to, or per logged bus with --map OUT=IN (canplayer's order:
--map vcan0=can0 sends what was logged on can0 to vcan0). With --map and no
--to, frames of unmapped buses are dropped. --to - writes the paced log to
standard output, to pipe it into another program.

A timestamp that goes backwards (logs joined from several files) restarts
the clock; --max-gap shortens long pauses. Malformed lines are skipped and
counted, or fatal with --strict.`,
		Example: `  edge-agent replay testdata/candumps/drive_city.log --to vcan0
  edge-agent replay drive.log --map vcan0=can0 --map vcan1=can1 --speed 4 --loop
  edge-agent replay drive.log --to - --fast | edge-agent decode --dbc car.dbc -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReplay(cmd.Context(), cmd, args[0], fl)
		},
	}
	f := cmd.Flags()
	f.StringVar(&fl.to, "to", "", "output interface for all frames (or those --map does not name); - writes candump text to stdout")
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
	if fl.to == "" && len(fl.maps) == 0 {
		return errors.New("nowhere to send frames: give --to IFACE or --map OUT=IN")
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
	opts := can.LogReaderOptions{Strict: fl.strict, OnMalformed: func(e *can.LineError) {
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
	defer out.close()
	start := time.Now()
	var sent int64
	for {
		t, err := rp.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				break // interrupted: report what was sent
			}
			return err
		}
		if err := out.send(ctx, t); err != nil {
			if ctx.Err() != nil {
				break
			}
			return err
		}
		sent++
	}
	if err := out.close(); err != nil {
		return err
	}
	elapsed := time.Since(start)
	slog.Info("replay done", "log", path, "frames", sent, "malformed", malformed,
		"passes", rp.Passes(), "elapsed", elapsed.Round(time.Millisecond),
		"frames_per_s", int64(float64(sent)/max(elapsed.Seconds(), 1e-9)))
	if malformed > 10 {
		slog.Warn("more malformed lines were skipped", "count", malformed-10)
	}
	return nil
}

// sinks opens one output per bus name on first use: a SocketCAN interface,
// or candump text on stdout for "-".
type sinks struct {
	ctx    context.Context
	buses  map[string]can.Sink
	text   *can.LogWriter // set when every frame goes to stdout
	paced  bool           // flush text per frame, so a pipe sees it when due
	closed bool
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
