package socketcan

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sys/unix"
)

// The kernel's cumulative count arrives from two sources out of order and
// wraps at 2^32: each frame lost is counted once.
func TestNoteDrops(t *testing.T) {
	m := NewMetrics(nil)
	b := &Bus{name: "x", m: m.forBus("x")}
	s := &sock{}
	for _, step := range []struct {
		total uint32
		want  uint64
	}{
		{0, 0},
		{5, 5},
		{3, 5}, // a frame queued before the last report
		{5, 5}, // the same count again
		{12, 12},
		{0xFFFFFFF0, 12}, // "ahead" by more than 2^31: an old count, ignored
		{40, 40},
	} {
		b.noteDrops(s, step.total)
		if got := b.st.load().Dropped; got != step.want {
			t.Fatalf("after %d: dropped %d, want %d", step.total, got, step.want)
		}
	}
	w := &sock{}
	w.drops.Store(0xFFFFFFFE)
	b.noteDrops(w, 3) // wrapped: 0xFFFFFFFE -> 3 is 5 frames
	if got := b.st.load().Dropped; got != 45 {
		t.Errorf("across the wrap: dropped %d, want 45", got)
	}
	if got := testutil.ToFloat64(m.drops.WithLabelValues("x")); got != 45 {
		t.Errorf("metric %v, want 45", got)
	}
}

// socketDrops reads the kernel's sk_drops, here of a UDP socket that a
// burst overflows (UDP drops like a CAN raw socket: receive buffer full).
// Every datagram is either received or counted.
func TestSocketDrops(t *testing.T) {
	rfd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(rfd)
	if err := unix.SetsockoptInt(rfd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1); err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(rfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	addr, err := unix.Getsockname(rfd)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := socketDrops(uintptr(rfd)); !ok || d != 0 {
		t.Fatalf("fresh socket: drops %d, %v", d, ok)
	}
	wfd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(wfd)
	const sent = 500
	for range sent {
		if err := unix.Sendto(wfd, []byte("frame"), 0, addr); err != nil {
			t.Fatal(err)
		}
	}
	received := 0
	var buf [16]byte
	for {
		if _, _, err := unix.Recvfrom(rfd, buf[:], 0); err != nil {
			break
		}
		received++
	}
	d, ok := socketDrops(uintptr(rfd))
	t.Logf("received %d, dropped %d", received, d)
	if !ok || d == 0 || received+int(d) != sent {
		t.Errorf("received %d + dropped %d (%v) != sent %d", received, d, ok, sent)
	}
	if _, ok := socketDrops(^uintptr(0)); ok {
		t.Error("a bad descriptor gave a count")
	}
}
