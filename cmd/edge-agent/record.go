package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/kanal-dev/kanal/can"
	"github.com/kanal-dev/kanal/can/socketcan"
	"github.com/kanal-dev/kanal/internal/cli"
)

type recordFlags struct {
	from       []string
	out        string
	rotateSize cli.Size
	keep       int
	count      int64
	duration   time.Duration
	rcvbuf     cli.Size
	errFrames  bool
}

func newRecordCmd() *cobra.Command {
	fl := recordFlags{rcvbuf: 4 << 20}
	cmd := &cobra.Command{
		Use:   "record --from IFACE [--from IFACE...] [--out FILE]",
		Short: "Record SocketCAN buses to a candump log, like candump -l",
		Long: `Record writes every frame of one or more SocketCAN interfaces in the
candump log format (candump -l), with the kernel's receive timestamps, to
--out or standard output. With --rotate-size, the file is rotated like
logrotate: FILE becomes FILE.1, FILE.1 becomes FILE.2, up to --keep files.

The buffer is flushed every second, on rotation and at exit
(SIGINT or SIGTERM). Frames the kernel dropped because the reader fell
behind are a gap in the recording: as with candump -l -d, a DROPCOUNT line
in the log marks where they were lost, and the drops after the last frame
end the log with one more; the counts are also reported at exit.`,
		Example: `  edge-agent record --from can0 --out drive.log
  edge-agent record --from can0 --from can1 --out /var/log/kanal/can.log --rotate-size 64MiB --keep 20
  edge-agent record --from vcan0 --count 1000 > sample.log`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRecord(cmd.Context(), cmd, fl)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&fl.from, "from", nil, "SocketCAN interface to record (repeatable)")
	f.StringVar(&fl.out, "out", "-", "output file; - is standard output")
	f.Var(&fl.rotateSize, "rotate-size", "rotate the output file at this size (e.g. 64MiB); 0 never rotates")
	f.IntVar(&fl.keep, "keep", 10, "rotated files to keep")
	f.Int64Var(&fl.count, "count", 0, "stop after this many frames; 0 records until interrupted")
	f.DurationVar(&fl.duration, "duration", 0, "stop after this long; 0 records until interrupted")
	f.Var(&fl.rcvbuf, "rcvbuf", "kernel receive buffer per interface")
	f.BoolVar(&fl.errFrames, "error-frames", true, "record CAN error frames too")
	return cmd
}

// frameWriter is what record writes to: a LogWriter or a RotatingLog.
type frameWriter interface {
	Write(can.Timed) error
	WriteDrops(bus string, dropped uint32) error
	Flush() error
	Close() error
}

func runRecord(ctx context.Context, cmd *cobra.Command, fl recordFlags) error {
	if len(fl.from) == 0 {
		return errors.New("--from IFACE is required")
	}
	if fl.out == "-" && fl.rotateSize > 0 {
		return errors.New("--rotate-size needs --out FILE")
	}
	if fl.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, fl.duration)
		defer cancel()
	}
	src, buses, err := openBuses(ctx, fl.from, func(o *socketcan.Options) {
		o.ReceiveBuffer, o.ErrorFrames = int(fl.rcvbuf), fl.errFrames
	})
	if err != nil {
		return err
	}
	defer src.Close()

	var w frameWriter
	if fl.out == "-" {
		w = can.NewLogWriter(nopCloser{cmd.OutOrStdout()})
	} else {
		rl, err := can.OpenRotatingLog(can.RotatingLogOptions{Path: fl.out, MaxBytes: int64(fl.rotateSize), Keep: fl.keep})
		if err != nil {
			return err
		}
		w = rl
	}
	// The sockets are bound: from here on every frame is kept.
	slog.Info("recording", "from", fl.from, "out", fl.out)
	n, logged, err := record(ctx, src, w, fl.count)
	if err == nil {
		err = writeLateDrops(w, buses, logged)
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	slog.Info("record done", "frames", n, "out", fl.out)
	logBusStats(buses) // dropped frames are missing from the file
	return err
}

// writeLateDrops ends the log with a DROPCOUNT line for each bus whose
// kernel dropped frames after the last one read (Stats asks the kernel):
// candump never reports those, but they are a gap at the end of the
// recording. logged are the drops already written before frames, by bus.
func writeLateDrops(w frameWriter, buses []*socketcan.Bus, logged map[string]uint64) error {
	for _, b := range buses {
		if st := b.Stats(); st.Dropped > logged[b.Name()] {
			if err := w.WriteDrops(b.Name(), uint32(st.Dropped-logged[b.Name()])); err != nil {
				return err
			}
		}
	}
	return nil
}

// record copies frames from src to w until ctx ends, src ends or count
// frames were written, and returns how many it wrote and the kernel's drops
// it wrote before them (as DROPCOUNT lines), by bus. A ticker flushes w
// every second, so a quiet bus does not leave the last frames in the
// buffer.
func record(ctx context.Context, src can.Source, w frameWriter, count int64) (int64, map[string]uint64, error) {
	var (
		mu       sync.Mutex
		flushErr error
		done     = make(chan struct{})
		wg       sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				mu.Lock()
				if err := w.Flush(); err != nil && flushErr == nil {
					flushErr = err
				}
				mu.Unlock()
			}
		}
	}()
	defer func() { close(done); wg.Wait() }()

	var n int64
	logged := make(map[string]uint64)
	err := drain(ctx, src, func(t *can.Timed) error {
		if t.Dropped > 0 {
			logged[t.Bus] += uint64(t.Dropped)
		}
		mu.Lock()
		err := w.Write(*t)
		if err == nil {
			err = flushErr
		}
		mu.Unlock()
		if err != nil {
			return err
		}
		if n++; count > 0 && n >= count {
			return errEnough
		}
		return nil
	})
	return n, logged, err
}
