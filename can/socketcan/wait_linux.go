package socketcan

import (
	"context"
	"errors"
	"os"
	"time"
)

// waiter runs a non-blocking syscall on a socket until it completes,
// parking the goroutine in Go's poller while the syscall reports EAGAIN,
// and lets a context end the wait. Receiving and transmitting use the same
// mechanism, each with its own waiter.
//
// The poller knows deadlines, not contexts: when the first attempt finds
// nothing to do, the waiter arms a context.AfterFunc that sets the socket's
// deadline in the past, which wakes the parked goroutine with
// os.ErrDeadlineExceeded. A watch that fires after its wait ended leaves
// that deadline set for the next wait, which clears it and tries again.
type waiter struct {
	write bool                  // the write direction (and deadline), else read
	try   func(fd uintptr) bool // one attempt; false means EAGAIN, wait and call again
	fn    func(fd uintptr) bool // w.attempt, made once so that a wait that does not park allocates nothing

	// State of the current wait, cleared when it ends: no reference to ctx
	// outlives it.
	ctx  context.Context
	s    *sock
	stop func() bool // unregisters the watch on ctx, once armed
}

func (w *waiter) init(write bool, try func(fd uintptr) bool) {
	w.write, w.try = write, try
	w.fn = w.attempt
}

// attempt is the RawConn callback.
func (w *waiter) attempt(fd uintptr) bool {
	if w.try(fd) {
		return true
	}
	if w.stop == nil && w.ctx.Done() != nil {
		s, write := w.s, w.write
		w.stop = context.AfterFunc(w.ctx, func() { _ = s.setDeadline(write, aLongTimeAgo) })
	}
	return false
}

// wait calls try on s until it reports done. It returns ctx's error when
// ctx ended the wait, and the poller's error when the socket failed or was
// closed; the result of the syscall itself is for try to keep.
func (w *waiter) wait(ctx context.Context, s *sock) error {
	w.ctx, w.s = ctx, s
	defer func() { w.ctx, w.s = nil, nil }()
	for {
		var err error
		if w.write {
			err = s.rc.Write(w.fn)
		} else {
			err = s.rc.Read(w.fn)
		}
		if w.stop != nil {
			w.stop()
			w.stop = nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// A watch of an earlier wait fired late; clear it and try again.
		if err := s.setDeadline(w.write, time.Time{}); err != nil {
			return err
		}
	}
}
