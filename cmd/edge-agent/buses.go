package main

import (
	"context"
	"log/slog"

	"github.com/kanal-dev/kanal/can"
	"github.com/kanal-dev/kanal/can/socketcan"
)

// openBuses opens the SocketCAN interfaces names, with the options
// configure fills in for each (Interface, Logger and shared Metrics are
// set), and returns them as one Source: the bus itself for one, a Merge
// for several. On error every bus opened so far is closed.
func openBuses(ctx context.Context, names []string, configure func(*socketcan.Options)) (can.Source, []*socketcan.Bus, error) {
	metrics := socketcan.NewMetrics(nil)
	var buses []*socketcan.Bus
	srcs := make([]can.Source, 0, len(names))
	for _, name := range names {
		opts := socketcan.Options{Interface: name, Logger: slog.Default(), Metrics: metrics}
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
