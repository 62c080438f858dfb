package socketcan

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kanal-dev/kanal/can"
)

// Back-off of Send while the kernel's transmit queue is full (ENOBUFS).
const (
	noBufsMin  = 50 * time.Microsecond // first wait
	noBufsMax  = 10 * time.Millisecond // longest wait
	noBufsGive = 2 * time.Second       // Send gives up after ENOBUFS for this long
)

// transmitter is the write state of a Bus, owned by Send under sendMu.
type transmitter struct {
	buf  [fdMTU]byte
	n    int // bytes of buf to write: classicMTU or fdMTU
	err  error
	wait waiter
}

func (tx *transmitter) init() { tx.wait.init(true, tx.writeFrame) }

// writeFrame is one non-blocking write. It returns false on EAGAIN (the
// socket's send buffer is full).
func (tx *transmitter) writeFrame(fd uintptr) bool {
	for {
		_, err := unix.Write(int(fd), tx.buf[:tx.n])
		switch err {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		tx.err = err
		return true
	}
}

// Send writes t.Frame to the bus; t.Bus and t.Time are ignored. When the
// kernel queue is full (ENOBUFS: a writer faster than the bus) it backs off
// from 50µs up to 10ms between tries and gives up after 2s, so a bus that
// stopped transmitting (bus-off) surfaces as an error. While the interface
// is down it returns an error wrapping ErrBusDown.
func (b *Bus) Send(ctx context.Context, t can.Timed) error {
	b.sendMu.Lock()
	defer b.sendMu.Unlock()
	n, err := encodeFrame(&b.tx.buf, t.Frame)
	if err != nil {
		return fmt.Errorf("send socketcan %s: %w", b.name, err)
	}
	b.tx.n = n
	wait := noBufsMin
	var giveUp time.Time
	for {
		s, err := b.reopen()
		if err != nil {
			if errors.Is(err, can.ErrClosed) {
				return fmt.Errorf("send socketcan %s: %w", b.name, err)
			}
			return fmt.Errorf("send socketcan %s: %w: %w", b.name, ErrBusDown, err)
		}
		err = b.write(ctx, s)
		switch {
		case err == nil:
			b.m.tx.Inc()
			b.st.sent.Add(1)
			return nil
		case b.closedNow():
			return fmt.Errorf("send socketcan %s: %w", b.name, can.ErrClosed)
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, unix.ENOBUFS):
			now := time.Now()
			if giveUp.IsZero() {
				giveUp = now.Add(noBufsGive)
			} else if now.After(giveUp) {
				return fmt.Errorf("send socketcan %s: queue full for %v: %w", b.name, noBufsGive, err)
			}
			if err := sleep(ctx, wait); err != nil {
				return err
			}
			wait = min(2*wait, noBufsMax)
		case t.Frame.IsFD() && errors.Is(err, unix.EINVAL):
			if mtu, merr := interfaceMTU(b.name); merr == nil && mtu != fdMTU {
				return fmt.Errorf("send socketcan %s: mtu %d: %w", b.name, mtu, ErrFDNotSupported)
			}
			return fmt.Errorf("send socketcan %s: %w", b.name, err)
		case errors.Is(err, unix.ENETDOWN):
			// The socket survives a down interface; Next handles recovery.
			return fmt.Errorf("send socketcan %s: %w: %w", b.name, ErrBusDown, err)
		case isDown(err) || b.dropped(s):
			// The device is gone and the socket unbound (or Next dropped it
			// meanwhile): drop it, so that the next Send (or Next) opens the
			// interface again by name.
			b.markDown(s, err)
			return fmt.Errorf("send socketcan %s: %w: %w", b.name, ErrBusDown, err)
		default:
			return fmt.Errorf("send socketcan %s: %w", b.name, err)
		}
	}
}

// write writes the frame in b.tx to s, waiting in Go's poller while the
// socket's send buffer is full; ctx ends the wait.
func (b *Bus) write(ctx context.Context, s *sock) error {
	if err := b.tx.wait.wait(ctx, s); err != nil {
		return err
	}
	return b.tx.err
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
