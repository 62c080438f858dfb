package can

import (
	"context"
	"time"
)

// Timed is a frame as seen on a bus: when, where, what.
type Timed struct {
	Time  time.Time // kernel receive time, or the timestamp of a log line
	Bus   string    // interface name, e.g. "can0"
	Frame Frame

	// Dropped counts the frames the kernel dropped on this bus's socket
	// since the bus's previous frame, because the reader fell behind (a
	// SocketCAN bus sets it from SO_RXQ_OVFL): they belong in the gap
	// just before this frame. LogWriter writes it as a DROPCOUNT line,
	// as `candump -l -d` does. LogReader leaves it 0 and reports
	// DROPCOUNT lines through LogReaderOptions.OnDrops instead.
	Dropped uint32
}

// Source yields frames in the order they were seen. Next returns io.EOF when a
// finite source (a log file) ends; a live source returns only when ctx ends or
// it fails for good. Close unblocks a pending Next.
//
// SocketCAN buses (package socketcan), candump files (LogReader), Replay and
// Merge implement it.
type Source interface {
	Next(ctx context.Context) (Timed, error)
	Close() error
}

// Sink accepts frames: a SocketCAN bus, a candump file (LogWriter).
type Sink interface {
	Send(ctx context.Context, t Timed) error
}
