//go:build !linux

package socketcan

import (
	"context"
	"errors"
	"fmt"

	"github.com/kanal-dev/kanal/can"
)

// Bus is a SocketCAN interface; SocketCAN exists only on Linux.
type Bus struct{}

// Open returns an error wrapping errors.ErrUnsupported: SocketCAN is Linux only.
func Open(_ context.Context, opts Options) (*Bus, error) {
	return nil, fmt.Errorf("open socketcan %s: %w", opts.Interface, errors.ErrUnsupported)
}

// Next implements can.Source.
func (b *Bus) Next(context.Context) (can.Timed, error) {
	return can.Timed{}, fmt.Errorf("read socketcan: %w", errors.ErrUnsupported)
}

// Send implements can.Sink.
func (b *Bus) Send(context.Context, can.Timed) error {
	return fmt.Errorf("send socketcan: %w", errors.ErrUnsupported)
}

// Close implements can.Source.
func (b *Bus) Close() error { return nil }

// Name returns the interface name the bus was opened on.
func (b *Bus) Name() string { return "" }

// Stats returns zero counts.
func (b *Bus) Stats() Stats { return Stats{} }
