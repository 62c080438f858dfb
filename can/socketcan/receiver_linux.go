package socketcan

import (
	"context"
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/kanal-dev/kanal/can"
)

// receiver is the read state of a Bus, owned by Next. Its buffers live in
// the Bus so that reading a frame allocates nothing.
type receiver struct {
	buf   [fdMTU]byte
	oob   [128]byte
	iov   unix.Iovec
	msg   unix.Msghdr
	n     int // bytes of the datagram
	oobn  int // bytes of control messages
	flags int // msg_flags (MSG_TRUNC)
	err   error
	wait  waiter
}

func (rx *receiver) init() { rx.wait.init(false, rx.recvmsg) }

// recvmsg is one non-blocking recvmsg. It returns false on EAGAIN.
func (rx *receiver) recvmsg(fd uintptr) bool {
	rx.iov.Base = &rx.buf[0]
	rx.iov.SetLen(len(rx.buf))
	rx.msg = unix.Msghdr{Iov: &rx.iov, Control: &rx.oob[0]}
	rx.msg.SetIovlen(1)
	rx.msg.SetControllen(len(rx.oob))
	for {
		n, _, errno := unix.Syscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&rx.msg)), 0)
		switch errno {
		case 0:
			rx.n, rx.oobn, rx.flags, rx.err = int(n), int(rx.msg.Controllen), int(rx.msg.Flags), nil
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			rx.err = errno
			return true
		}
	}
}

// Next returns the next frame, stamped with the kernel's receive time. While
// the interface is down or gone it waits and reopens (see the package doc);
// it returns only a frame, ctx's error, or can.ErrClosed after Close.
func (b *Bus) Next(ctx context.Context) (can.Timed, error) {
	for {
		s, err := b.current(ctx)
		if err != nil {
			return can.Timed{}, err
		}
		t, ok, err := b.read(ctx, s)
		switch {
		case err == nil && ok:
			return t, nil
		case err == nil:
			continue // a frame of a size Kanal does not read
		case b.closedNow():
			return can.Timed{}, fmt.Errorf("read socketcan %s: %w", b.name, can.ErrClosed)
		case ctx.Err() != nil:
			return can.Timed{}, ctx.Err()
		case isDown(err) || b.dropped(s):
			// dropped: Send closed s, whose device is gone, while this read
			// waited (the poller then says "use of closed file").
			b.markDown(s, err)
		default:
			return can.Timed{}, fmt.Errorf("read socketcan %s: %w", b.name, err)
		}
	}
}

// read reads one frame from s, waiting in Go's poller. It reports false for
// a datagram that is not a classic or FD frame.
func (b *Bus) read(ctx context.Context, s *sock) (can.Timed, bool, error) {
	if err := b.rx.wait.wait(ctx, s); err != nil {
		return can.Timed{}, false, err
	}
	if b.rx.err != nil {
		return can.Timed{}, false, b.rx.err
	}
	return b.frame(s)
}

// frame converts the datagram in b.rx into a Timed and updates the counters.
func (b *Bus) frame(s *sock) (can.Timed, bool, error) {
	rx := &b.rx
	ts, drops, haveDrops := parseControl(rx.oob[:rx.oobn])
	var gap uint32
	if haveDrops {
		b.noteDrops(s, drops)
		// The count a frame carries is the socket's when the frame was
		// queued, so the frames it grew by since the last delivered one
		// were lost just before this one. A datagram skipped below keeps
		// its gap for the next frame delivered.
		if d := drops - s.framed; int32(d) > 0 {
			gap = d
		}
	}
	if rx.flags&unix.MSG_TRUNC != 0 {
		return can.Timed{}, false, nil
	}
	f, ok := decodeFrame(rx.buf[:rx.n])
	if !ok {
		return can.Timed{}, false, nil
	}
	if ts.IsZero() {
		ts = time.Now()
	}
	ts = ts.UTC() // as LogReader returns them
	b.m.rx.Inc()
	b.st.received.Add(1)
	if f.IsError() {
		b.m.errFrames.Inc()
		b.st.errFrames.Add(1)
	}
	s.framed += gap
	return can.Timed{Time: ts, Bus: b.name, Frame: f, Dropped: gap}, true, nil
}
