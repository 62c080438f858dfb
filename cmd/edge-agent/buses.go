package main

import (
	"context"
	"log/slog"

	"github.com/kanal-dev/kanal/can"
	"github.com/kanal-dev/kanal/can/socketcan"
)

// defaultReceiveBuffer is the kernel receive buffer of every bus a command
// opens, unless its configure function sets another (record's --rcvbuf).
// The kernel's default (net.core.rmem_default, often 208 KiB) holds a few
// hundred frames: a reader that stalls for a tenth of a second on a busy
// bus (a slow machine, a pause of the garbage collector, a blocked output)
// loses frames. 4 MiB holds thousands.
const defaultReceiveBuffer = 4 << 20

// openBuses opens the SocketCAN interfaces names, with the options
// configure fills in for each (Interface, Logger, shared Metrics and
// ReceiveBuffer are set), and returns them as one Source: the bus itself
// for one, a Merge for several. On error every bus opened so far is closed.
func openBuses(ctx context.Context, names []string, configure func(*socketcan.Options)) (can.Source, []*socketcan.Bus, error) {
	metrics := socketcan.NewMetrics(nil)
	var buses []*socketcan.Bus
	srcs := make([]can.Source, 0, len(names))
	for _, name := range names {
		opts := socketcan.Options{Interface: name, Logger: slog.Default(), Metrics: metrics, ReceiveBuffer: defaultReceiveBuffer}
		if configure != nil {
			configure(&opts)
		}
		bus, err := socketcan.Open(ctx, opts)
		if err != nil {
			for _, b := range buses {
				b.Close()
			}
			return nil, nil, err
		}
		buses = append(buses, bus)
		srcs = append(srcs, bus)
	}
	if len(srcs) == 1 {
		return srcs[0], buses, nil
	}
	return can.Merge(srcs...), buses, nil
}

// logBusStats logs each bus's counts when a command ends, as a warning when
// the kernel dropped frames (they are missing from what the command saw),
// and returns the frames dropped on all buses. Stats asks the kernel, so
// drops after the last frame read are included.
func logBusStats(buses []*socketcan.Bus) (dropped uint64) {
	for _, b := range buses {
		st := b.Stats()
		level := slog.LevelInfo
		if st.Dropped > 0 {
			level = slog.LevelWarn
		}
		slog.Log(context.Background(), level, "bus stats", "bus", b.Name(), "received", st.Received,
			"error_frames", st.ErrorFrames, "kernel_dropped", st.Dropped, "went_down", st.Down)
		dropped += st.Dropped
	}
	return dropped
}
