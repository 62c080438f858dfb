package socketcan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// aLongTimeAgo is a deadline in the past: setting it wakes a pending read
// or write.
var aLongTimeAgo = time.Unix(1, 0)

// Bus is one SocketCAN interface opened as a raw CAN socket. It implements
// can.Source and can.Sink. Next must be called by one goroutine at a time;
// Send may be called from others, concurrently with Next.
//
// The code is split by concept, as einride's pkg/socketcan is: the socket
// and its options (dialraw_linux.go), recovery of a downed interface
// (recover_linux.go), receiving with its control messages
// (receiver_linux.go, control_linux.go, drops_linux.go), transmitting with
// back-off (transmitter_linux.go), and the one way both wait in Go's poller
// (wait_linux.go).
type Bus struct {
	name   string
	opts   Options
	log    *slog.Logger
	m      busMetrics
	st     counters
	closed chan struct{}

	mu       sync.Mutex
	sock     *sock // nil while the bus is down
	down     bool  // logged as down, not yet as up
	isClosed bool

	rx     receiver    // owned by Next
	sendMu sync.Mutex  // one Send at a time
	tx     transmitter // owned by Send, under sendMu
}

// Open opens a raw CAN socket on opts.Interface, with FD frames, kernel
// receive timestamps and the drop counter enabled. It fails if the interface
// does not exist; an interface that exists but is down is waited for by Next.
func Open(ctx context.Context, opts Options) (*Bus, error) {
	if opts.Interface == "" {
		return nil, errors.New("open socketcan: options: interface is required")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open socketcan %s: %w", opts.Interface, err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	opts.Filters = slices.Clone(opts.Filters) // reopening uses them again
	b := &Bus{
		name:   opts.Interface,
		opts:   opts,
		log:    opts.Logger,
		m:      opts.Metrics.forBus(opts.Interface),
		closed: make(chan struct{}),
	}
	b.rx.init()
	b.tx.init()
	if len(opts.Filters) > MaxFilters {
		b.log.Info("can filters over the kernel limit, receiving every frame",
			"bus", b.name, "filters", len(opts.Filters), "max", MaxFilters)
	}
	s, _, err := b.open()
	if err != nil {
		return nil, fmt.Errorf("open socketcan %s: %w", b.name, err)
	}
	b.sock = s
	return b, nil
}

// Name returns the interface name the bus was opened on.
func (b *Bus) Name() string { return b.name }

// Stats returns the bus's counts since Open. It is safe to call at any time.
// It asks the kernel for the socket's drop count first (see syncDrops), so
// frames dropped after the last one read are in Dropped too.
func (b *Bus) Stats() Stats {
	b.mu.Lock()
	s := b.sock
	b.mu.Unlock()
	if s != nil {
		b.syncDrops(s)
	}
	return b.st.load()
}

// Close closes the socket. A pending Next returns can.ErrClosed, and so do
// later calls. The drop count is read once more before the socket goes, so
// Stats after Close is final.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.isClosed {
		b.mu.Unlock()
		return nil
	}
	b.isClosed = true
	close(b.closed)
	s := b.sock
	b.sock = nil
	b.mu.Unlock()
	if s == nil {
		return nil
	}
	b.syncDrops(s)
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("close socketcan %s: %w", b.name, err)
	}
	return nil
}

// closedNow reports whether Close was called.
func (b *Bus) closedNow() bool {
	select {
	case <-b.closed:
		return true
	default:
		return false
	}
}
