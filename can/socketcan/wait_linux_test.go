package socketcan

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The waiter is tested on a datagram socket pair: a real kernel socket in
// Go's poller, like a CAN socket, but one that every kernel has.

// pairEnd is one end of a socket pair with a waiter in each direction.
type pairEnd struct {
	s          *sock
	rd, wr     waiter
	buf        [64]byte
	got        int
	rerr, werr error
	msg        []byte
}

func newPair(t *testing.T) (a, b *pairEnd) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(fd int) *pairEnd {
		f := os.NewFile(uintptr(fd), "pair")
		rc, err := f.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		p := &pairEnd{s: &sock{f: f, rc: rc}}
		p.rd.init(false, p.tryRead)
		p.wr.init(true, p.tryWrite)
		t.Cleanup(func() { f.Close() })
		return p
	}
	return mk(fds[0]), mk(fds[1])
}

func (p *pairEnd) tryRead(fd uintptr) bool {
	n, err := unix.Read(int(fd), p.buf[:])
	if err == unix.EAGAIN {
		return false
	}
	p.got, p.rerr = n, err
	return true
}

func (p *pairEnd) tryWrite(fd uintptr) bool {
	_, err := unix.Write(int(fd), p.msg)
	if err == unix.EAGAIN {
		return false
	}
	p.werr = err
	return true
}

func TestWaiterRead(t *testing.T) {
	a, b := newPair(t)
	go func() {
		time.Sleep(50 * time.Millisecond)
		b.msg = []byte("frame")
		b.wr.wait(context.Background(), b.s)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.rd.wait(ctx, a.s); err != nil || a.rerr != nil || string(a.buf[:a.got]) != "frame" {
		t.Fatalf("wait = %v, read %q, %v", err, a.buf[:a.got], a.rerr)
	}
	if a.rd.ctx != nil || a.rd.s != nil || a.rd.stop != nil {
		t.Error("the waiter keeps state of a finished wait")
	}
}

// A context ends a parked wait; the watch it armed may fire late, and the
// next wait clears that deadline and still reads.
func TestWaiterContext(t *testing.T) {
	a, b := newPair(t)
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		err := a.rd.wait(ctx, a.s)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("wait with a deadline: %v", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	if err := a.rd.wait(ctx, a.s); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait with a cancelled context: %v", err)
	}
	// A deadline in the past, as a watch that fired after its wait left it.
	if err := a.s.setDeadline(false, aLongTimeAgo); err != nil {
		t.Fatal(err)
	}
	b.msg = []byte("after")
	if err := b.wr.wait(context.Background(), b.s); err != nil || b.werr != nil {
		t.Fatal(err, b.werr)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.rd.wait(ctx, a.s); err != nil || string(a.buf[:a.got]) != "after" {
		t.Fatalf("wait after a stale deadline = %v, read %q", err, a.buf[:a.got])
	}
}

// The write side is the same mechanism: a full send buffer parks the
// writer, its context ends the wait, and a reader that drains lets it on.
func TestWaiterWrite(t *testing.T) {
	a, b := newPair(t)
	a.msg = make([]byte, 60)
	n := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		err := a.wr.wait(ctx, a.s)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break // the peer's queue is full
		}
		if err != nil || a.werr != nil {
			t.Fatal(err, a.werr)
		}
		if n++; n > 1<<20 {
			t.Fatal("the socket never filled")
		}
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- a.wr.wait(ctx, a.s)
	}()
	time.Sleep(50 * time.Millisecond)
	// Drain the queue: the kernel wakes a writer only when half its send
	// buffer is free again (sock_writeable).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range n {
		if err := b.rd.wait(ctx, b.s); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil || a.werr != nil {
		t.Fatalf("parked write after the reader drained the queue: %v, %v", err, a.werr)
	}
	t.Logf("%d datagrams filled the queue", n)
}

// Closing the socket ends a parked wait with the poller's error ("use of
// closed file", which is not os.ErrClosed: Next and Send recognize a socket
// closed under them by Bus.dropped instead).
func TestWaiterClose(t *testing.T) {
	a, _ := newPair(t)
	done := make(chan error, 1)
	go func() { done <- a.rd.wait(context.Background(), a.s) }()
	time.Sleep(50 * time.Millisecond)
	a.s.f.Close()
	select {
	case err := <-done:
		if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("wait on a closed socket: %v, want the poller's closed-file error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end the wait")
	}
}

// A wait that finds its datagram at once allocates nothing: Next's 0
// allocations per frame depend on it.
func TestWaiterAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	a, b := newPair(t)
	b.msg = []byte("x")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	allocs := testing.AllocsPerRun(100, func() {
		if err := b.wr.wait(ctx, b.s); err != nil {
			t.Fatal(err)
		}
		if err := a.rd.wait(ctx, a.s); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per write and read", allocs)
	}
}
