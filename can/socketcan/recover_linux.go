package socketcan

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kanal-dev/kanal/can"
)

// Bounds of the wait between attempts to reopen a downed bus.
const (
	reopenMin = 100 * time.Millisecond // first wait
	reopenMax = 2 * time.Second        // longest wait
)

// isDown reports the errors of an interface that went down (ENETDOWN) or
// away (ENODEV on read, ENXIO on write).
func isDown(err error) bool {
	return errors.Is(err, unix.ENETDOWN) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO)
}

// current returns the open socket, reopening it with back-off while the bus
// is down. Only ctx or Close end the wait.
func (b *Bus) current(ctx context.Context) (*sock, error) {
	wait := reopenMin
	for {
		s, err := b.reopen()
		if s != nil || errors.Is(err, can.ErrClosed) {
			if err != nil {
				err = fmt.Errorf("read socketcan %s: %w", b.name, err)
			}
			return s, err
		}
		b.log.Debug("can bus still down", "bus", b.name, "err", err)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-b.closed:
			timer.Stop()
			return nil, fmt.Errorf("read socketcan %s: %w", b.name, can.ErrClosed)
		case <-timer.C:
		}
		wait = min(2*wait, reopenMax)
	}
}

// reopen returns the current socket, or opens a new one if the bus is down
// and the interface is up again.
func (b *Bus) reopen() (*sock, error) {
	b.mu.Lock()
	s, closed := b.sock, b.isClosed
	b.mu.Unlock()
	switch {
	case closed:
		return nil, can.ErrClosed
	case s != nil:
		return s, nil
	}
	s, up, err := b.open()
	if err != nil {
		return nil, err
	}
	if !up {
		s.f.Close()
		return nil, unix.ENETDOWN
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.isClosed:
		s.f.Close()
		return nil, can.ErrClosed
	case b.sock != nil: // Send reopened it meanwhile
		s.f.Close()
		return b.sock, nil
	}
	b.sock = s
	if b.down {
		b.down = false
		b.log.Info("can bus up", "bus", b.name)
	}
	return s, nil
}

// dropped reports whether s is no longer the bus's socket: the other side
// (Next or Send) marked it down and closed it.
func (b *Bus) dropped(s *sock) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sock != s
}

// markDown drops the socket s after it failed with a down error, once: the
// first caller logs and counts the outage. The socket's last drops are
// counted before it is closed.
func (b *Bus) markDown(s *sock, cause error) {
	b.syncDrops(s)
	b.mu.Lock()
	if b.sock == s {
		b.sock = nil
		s.f.Close()
	}
	first := !b.down && !b.isClosed
	if first {
		b.down = true
	}
	b.mu.Unlock()
	if first {
		b.m.busDown.Inc()
		b.st.down.Add(1)
		b.log.Warn("can bus down", "bus", b.name, "err", cause)
	}
}
