package socketcan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kanal-dev/kanal/can"
	"github.com/kanal-dev/kanal/internal/vcantest"
)

// These tests need a vcan link: they skip without root and AF_CAN, and run
// for real under scripts/vmtest. Every wait is bounded.

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func openBus(t *testing.T, name string, opts Options) *Bus {
	t.Helper()
	opts.Interface = name
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	b, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func next(t *testing.T, b *Bus, within time.Duration) can.Timed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	tf, err := b.Next(ctx)
	if err != nil {
		t.Fatalf("next on %s: %v", b.name, err)
	}
	return tf
}

// expectNone checks that no frame arrives within d.
func expectNone(t *testing.T, b *Bus, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if tf, err := b.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want no frame, got %v, %v", tf.Frame, err)
	}
}

func send(t *testing.T, b *Bus, f can.Frame) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Send(ctx, can.Timed{Frame: f}); err != nil {
		t.Fatalf("send %v: %v", f, err)
	}
}

// sameFrame compares frames, ignoring FDF: kernels since 6.0 set it on
// every FD frame they deliver.
func sameFrame(a, b can.Frame) bool {
	a.Flags &^= can.FDF
	b.Flags &^= can.FDF
	return a == b
}

func TestClassicAndFDBothWays(t *testing.T) {
	name := vcantest.New(t, true)
	m := NewMetrics(nil)
	a := openBus(t, name, Options{Metrics: m})
	b := openBus(t, name, Options{Metrics: m})
	frames := []string{
		"123#DEADBEEF",
		"000#",
		"12345678#0102030405060708",
		"123#R",
		"1ABCDEF0#R3",
		"7FF#0011223344556677_F",
		"123##1" + strings.Repeat("A5", 12),
		"1FFFFFFF##3" + strings.Repeat("5A", 64),
		"456##2" + "01",
		"321##0",
	}
	for dir, pair := range [][2]*Bus{{a, b}, {b, a}} {
		w, r := pair[0], pair[1]
		for _, s := range frames {
			want := mustParse(t, s)
			before := time.Now()
			send(t, w, want)
			got := next(t, r, 5*time.Second)
			if !sameFrame(got.Frame, want) {
				t.Fatalf("dir %d: sent %v, got %v (flags %#x)", dir, want, got.Frame, got.Frame.Flags)
			}
			if got.Bus != name {
				t.Errorf("bus %q, want %q", got.Bus, name)
			}
			if got.Time.Before(before.Add(-time.Second)) || got.Time.After(time.Now().Add(time.Second)) {
				t.Errorf("kernel timestamp %v not near %v", got.Time, before)
			}
		}
	}
	n := float64(2 * len(frames))
	if rx, tx := testutil.ToFloat64(m.frames.WithLabelValues(name, "rx")),
		testutil.ToFloat64(m.frames.WithLabelValues(name, "tx")); rx != n || tx != n {
		t.Errorf("frames rx=%v tx=%v, want %v each", rx, tx, n)
	}
}

// Every bit of the candump flag nibble goes through the kernel and back,
// 0x08 too, which no header names: cansend 123##8AA is logged by candump as
// 123##CAA (the kernel adds FDF), and Kanal must read and send it the same.
func TestFDFlagNibble(t *testing.T) {
	name := vcantest.New(t, true)
	w := openBus(t, name, Options{})
	r := openBus(t, name, Options{})
	for nib := range can.Flags(16) {
		want := can.Frame{ID: 0x123, Len: 1, Flags: can.FD | nib, Data: [64]byte{0xAA}}
		send(t, w, want)
		got := next(t, r, 5*time.Second).Frame
		if !sameFrame(got, want) {
			t.Errorf("sent %v, got %v", want, got)
		}
		if got.Flags&0x0F != nib|can.FDF && got.Flags&0x0F != nib {
			t.Errorf("flags %X: kernel gave back %X, want %X or %X (FDF added)", nib, got.Flags&0x0F, nib, nib|can.FDF)
		}
	}
}

func TestFDOnClassicMTU(t *testing.T) {
	name := vcantest.New(t, false)
	w := openBus(t, name, Options{})
	r := openBus(t, name, Options{})
	err := w.Send(context.Background(), can.Timed{Frame: mustParse(t, "123##1AABB")})
	if !errors.Is(err, ErrFDNotSupported) || !strings.Contains(err.Error(), name) {
		t.Fatalf("FD frame on a classic interface: %v, want ErrFDNotSupported naming %s", err, name)
	}
	send(t, w, mustParse(t, "123#AABB"))
	if got := next(t, r, 5*time.Second); got.Frame.ID != 0x123 {
		t.Fatalf("classic frame after the FD error: %v", got.Frame)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(context.Background(), Options{}); err == nil || !strings.Contains(err.Error(), "interface is required") {
		t.Errorf("no interface: %v", err)
	}
	// Runs without vcan too: the error names the interface either way.
	_, err := Open(context.Background(), Options{Interface: "nosuchcan9"})
	if err == nil || !strings.Contains(err.Error(), "open socketcan nosuchcan9") {
		t.Errorf("missing interface: %v", err)
	}
}

func TestKernelFilters(t *testing.T) {
	name := vcantest.New(t, true)
	w := openBus(t, name, Options{})
	r := openBus(t, name, Options{Filters: FiltersFor([]uint32{0x100, EFF | 0x1234567, EFF | 0x200})})
	all := openBus(t, name, Options{Filters: FiltersFor(manyIDs(MaxFilters + 1))})

	sent := []string{"200#01", "100#02", "00000100#03", "01234567#04", "123#05", "00000200#06", "100#R", "100##1AABB"}
	wantIDs := []string{"100#02", "01234567#04", "00000200#06", "100##1AABB"}
	for _, s := range sent {
		send(t, w, mustParse(t, s))
	}
	for _, s := range wantIDs {
		want := mustParse(t, s)
		if got := next(t, r, 5*time.Second); !sameFrame(got.Frame, want) {
			t.Fatalf("filtered reader got %v, want %v", got.Frame, want)
		}
	}
	expectNone(t, r, 200*time.Millisecond)
	// Over the kernel limit the bus receives everything.
	for _, s := range sent {
		if got := next(t, all, 5*time.Second); !sameFrame(got.Frame, mustParse(t, s)) {
			t.Fatalf("reader with %d filters got %v, want %s", MaxFilters+1, got.Frame, s)
		}
	}
}

func manyIDs(n int) []uint32 {
	ids := make([]uint32, n)
	for i := range ids {
		ids[i] = EFF | uint32(0x10000+i)
	}
	return ids
}

// vcan does not generate error frames, but it loops back one that is sent,
// and the kernel delivers it only to sockets that asked for error frames.
func TestErrorFrames(t *testing.T) {
	name := vcantest.New(t, false)
	m := NewMetrics(nil)
	w := openBus(t, name, Options{})
	withErr := openBus(t, name, Options{ErrorFrames: true, Metrics: m})
	without := openBus(t, name, Options{})

	errFrame := mustParse(t, "20000004#0004000000000000") // CAN_ERR_CRTL, rx error warning
	send(t, w, errFrame)
	send(t, w, mustParse(t, "321#01"))
	got := next(t, withErr, 5*time.Second)
	if !got.Frame.IsError() || got.Frame != errFrame {
		t.Fatalf("error reader got %v, want %v", got.Frame, errFrame)
	}
	if got := next(t, without, 5*time.Second); got.Frame.ID != 0x321 || got.Frame.IsError() {
		t.Fatalf("reader without error frames got %v first, want 321#01", got.Frame)
	}
	if n := testutil.ToFloat64(m.errFrames.WithLabelValues(name)); n != 1 {
		t.Errorf("error frames counted %v, want 1", n)
	}
}

// testFrame returns the i-th frame of a mixed stream: classic and FD,
// standard and extended, with i in the first four data bytes.
func testFrame(i int) can.Frame {
	var f can.Frame
	switch i % 4 {
	case 0:
		f = can.Frame{ID: uint32(i) & 0x7FF, Len: 8}
	case 1:
		f = can.Frame{ID: uint32(i) & 0x1FFFFFFF, Len: 6, Flags: can.Extended}
	case 2:
		f = can.Frame{ID: uint32(i) & 0x7FF, Len: 64, Flags: can.FD | can.BRS}
	default:
		f = can.Frame{ID: uint32(i) & 0x1FFFFFFF, Len: 12, Flags: can.FD | can.Extended}
	}
	hostOrder.PutUint32(f.Data[:4], uint32(i))
	return f
}

func seqOf(f can.Frame) int { return int(hostOrder.Uint32(f.Data[:4])) }

// readAll reads frames of the testFrame stream from r until none came for
// idle, checking order and content, then sends a marker frame from w and
// reads up to it: the kernel reports drops on the next frame it delivers, so
// the marker brings the final count. It returns the stream frames read.
func readAll(ctx context.Context, t *testing.T, w, r *Bus, idle time.Duration, marker int) int {
	t.Helper()
	received, last, sentMarker := 0, -1, false
	for {
		nctx, cancel := context.WithTimeout(ctx, idle)
		tf, err := r.Next(nctx)
		cancel()
		switch {
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil && !sentMarker:
			if err := w.Send(ctx, can.Timed{Frame: testFrame(marker)}); err != nil {
				t.Fatalf("send marker: %v", err)
			}
			sentMarker = true
			continue
		case err != nil:
			t.Fatalf("after %d frames (last %d): %v", received, last, err)
		}
		seq := seqOf(tf.Frame)
		if seq <= last {
			t.Fatalf("frame %d after %d: out of order", seq, last)
		}
		// The frames missing between two delivered ones are the ones the
		// kernel dropped: the later frame says so (record writes that as
		// a DROPCOUNT line in its place).
		if gap := uint32(seq - last - 1); tf.Dropped != gap {
			t.Fatalf("frame %d after %d: Dropped %d, want the %d frames between", seq, last, tf.Dropped, gap)
		}
		if seq == marker {
			return received
		}
		if want := testFrame(seq); !sameFrame(tf.Frame, want) {
			t.Fatalf("frame %d: got %v, want %v", seq, tf.Frame, want)
		}
		received, last = received+1, seq
	}
}

// A reader keeps up with a writer at full speed; whatever the kernel drops
// is counted, so received + dropped accounts for every frame.
func TestFullSpeed(t *testing.T) {
	const total = 20000
	name := vcantest.New(t, true)
	m := NewMetrics(nil)
	w := openBus(t, name, Options{Metrics: m})
	r := openBus(t, name, Options{Metrics: m, ReceiveBuffer: 4 << 20})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	sendErr := make(chan error, 1)
	go func() {
		for i := range total {
			if err := w.Send(ctx, can.Timed{Frame: testFrame(i)}); err != nil {
				sendErr <- fmt.Errorf("frame %d: %w", i, err)
				return
			}
		}
		sendErr <- nil
	}()
	received := readAll(ctx, t, w, r, time.Second, total)
	if err := <-sendErr; err != nil {
		t.Fatalf("send: %v", err)
	}
	elapsed := time.Since(start)
	drops := testutil.ToFloat64(m.drops.WithLabelValues(name))
	t.Logf("%d frames in %v including 1s idle (%.0f frames/s), %d received, %.0f dropped by the kernel",
		total, elapsed, total/(elapsed-time.Second).Seconds(), received, drops)
	if received+int(drops) != total {
		t.Errorf("received %d + dropped %.0f != sent %d", received, drops, total)
	}
	if drops > total/100 && !raceEnabled {
		t.Errorf("a reader with a 4 MiB buffer lost %.0f of %d frames", drops, total)
	}
}

// A reader with a tiny buffer that does not read loses frames, and the
// kernel's drop counter says how many.
func TestDropCounter(t *testing.T) {
	const total = 500
	name := vcantest.New(t, true)
	m := NewMetrics(nil)
	w := openBus(t, name, Options{})
	r := openBus(t, name, Options{Metrics: m, ReceiveBuffer: 1}) // the kernel's minimum
	for i := range total {
		send(t, w, testFrame(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	received := readAll(ctx, t, w, r, 300*time.Millisecond, total)
	drops := testutil.ToFloat64(m.drops.WithLabelValues(name))
	t.Logf("received %d, dropped %.0f", received, drops)
	if drops == 0 {
		t.Fatalf("no drops counted with a tiny buffer; received %d of %d", received, total)
	}
	if received+int(drops) != total {
		t.Errorf("received %d + dropped %.0f != sent %d", received, drops, total)
	}
	// readAll's marker frame may be among the received, not among the counted.
	if st := r.Stats(); st.Dropped != uint64(drops) || st.Received < uint64(received) || st.Received > uint64(received)+1 {
		t.Errorf("Stats %+v; metrics say received %d, dropped %.0f", st, received, drops)
	}
	if st := w.Stats(); st.Sent < total || st.Sent > total+1 || st.Received != 0 {
		t.Errorf("writer Stats %+v, want %d sent (and maybe the marker)", st, total)
	}
}

// Frames dropped after the last one read are counted too: the kernel
// reports drops with the next frame it delivers, and none comes, so Stats
// asks for the socket's count (SO_MEMINFO), and Close does once more.
func TestDropsAfterLastFrame(t *testing.T) {
	const total = 500
	name := vcantest.New(t, true)
	m := NewMetrics(nil)
	w := openBus(t, name, Options{})
	r := openBus(t, name, Options{Metrics: m, ReceiveBuffer: 1})
	for i := range total {
		send(t, w, testFrame(i))
	}
	received := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err := r.Next(ctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if received++; received > total {
			t.Fatalf("read more frames than were sent")
		}
	}
	st := r.Stats()
	t.Logf("received %d, dropped %d", received, st.Dropped)
	if st.Dropped == 0 || received+int(st.Dropped) != total {
		t.Errorf("received %d + dropped %d != sent %d", received, st.Dropped, total)
	}
	if got := testutil.ToFloat64(m.drops.WithLabelValues(name)); got != float64(st.Dropped) {
		t.Errorf("metric says %v dropped, Stats %d", got, st.Dropped)
	}
	if again := r.Stats(); again.Dropped != st.Dropped {
		t.Errorf("a second Stats counted again: %d, then %d", st.Dropped, again.Dropped)
	}

	// The same with Close instead of Stats: the count is final after Close.
	r2 := openBus(t, name, Options{ReceiveBuffer: 1})
	for i := range total {
		send(t, w, testFrame(i))
	}
	if err := r2.Close(); err != nil {
		t.Fatal(err)
	}
	if st := r2.Stats(); st.Dropped == 0 || st.Dropped > total || st.Received != 0 {
		t.Errorf("after Close without reading: %+v, want drops counted", st)
	}
}

// lockedBuffer collects log output written from the reading goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// sendUntilRead sends frames until r reads one: after an outage the
// writer's first sends may fail and the reader may still be reopening.
func sendUntilRead(t *testing.T, w, r *Bus, within time.Duration) can.Timed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	got := make(chan can.Timed, 1)
	errc := make(chan error, 1)
	go func() {
		tf, err := r.Next(ctx)
		if err != nil {
			errc <- err
			return
		}
		got <- tf
	}()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		_ = w.Send(ctx, can.Timed{Frame: mustParse(t, "0AA#0102")}) // errors expected while down
		select {
		case tf := <-got:
			return tf
		case err := <-errc:
			t.Fatalf("next after the outage: %v", err)
		case <-tick.C:
		}
	}
}

func TestRecoverDownUp(t *testing.T) {
	name := vcantest.New(t, false)
	logs := &lockedBuffer{}
	m := NewMetrics(nil)
	w := openBus(t, name, Options{})
	r := openBus(t, name, Options{Metrics: m, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	send(t, w, mustParse(t, "001#01"))
	next(t, r, 5*time.Second)

	pending := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err := r.Next(ctx)
		pending <- err
	}()
	time.Sleep(100 * time.Millisecond)
	vcantest.Down(t, name)
	time.Sleep(700 * time.Millisecond) // several reopen attempts
	select {
	case err := <-pending:
		t.Fatalf("Next returned while the bus was down: %v", err)
	default:
	}
	if err := w.Send(context.Background(), can.Timed{Frame: mustParse(t, "002#02")}); !errors.Is(err, ErrBusDown) {
		t.Errorf("send while down: %v, want ErrBusDown", err)
	}
	vcantest.Up(t, name)
	deadline := time.After(10 * time.Second)
	for done := false; !done; {
		_ = w.Send(context.Background(), can.Timed{Frame: mustParse(t, "003#03")})
		select {
		case err := <-pending:
			if err != nil {
				t.Fatalf("Next after up: %v", err)
			}
			done = true
		case <-deadline:
			t.Fatal("no frame 10s after the bus came up")
		case <-time.After(20 * time.Millisecond):
		}
	}
	// A second outage is logged and counted again.
	vcantest.Down(t, name)
	vcantest.Up(t, name)
	sendUntilRead(t, w, r, 10*time.Second)

	if n := testutil.ToFloat64(m.busDown.WithLabelValues(name)); n < 1 || n > 2 {
		t.Errorf("bus down counted %v times, want 1 or 2", n)
	}
	downs, ups := logs.count(`msg="can bus down"`), logs.count(`msg="can bus up"`)
	if downs < 1 || downs != ups || float64(downs) != testutil.ToFloat64(m.busDown.WithLabelValues(name)) {
		t.Errorf("logged %d downs and %d ups, counted %v:\n%s", downs, ups,
			testutil.ToFloat64(m.busDown.WithLabelValues(name)), logs.b.String())
	}
}

func TestRecoverDeleteReadd(t *testing.T) {
	name := vcantest.New(t, true)
	logs := &lockedBuffer{}
	w := openBus(t, name, Options{})
	r := openBus(t, name, Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	send(t, w, mustParse(t, "001#01"))
	next(t, r, 5*time.Second)

	vcantest.Delete(t, name)
	expectNone(t, r, 500*time.Millisecond) // Next keeps waiting for the link
	if logs.count(`msg="can bus down"`) != 1 {
		t.Fatalf("want one down log, got:\n%s", logs.b.String())
	}
	vcantest.Add(t, name, true)
	got := sendUntilRead(t, w, r, 10*time.Second)
	if got.Frame.ID != 0xAA {
		t.Errorf("first frame after re-add: %v", got.Frame)
	}
	// FD still works on the new link: the writer reopened by name too.
	send(t, w, mustParse(t, "123##1"+strings.Repeat("11", 16)))
	for {
		if tf := next(t, r, 5*time.Second); tf.Frame.IsFD() {
			break
		}
	}
	if d, u := logs.count(`msg="can bus down"`), logs.count(`msg="can bus up"`); d != 1 || u != 1 {
		t.Errorf("logged %d downs, %d ups, want 1 each:\n%s", d, u, logs.b.String())
	}
}

func TestCloseUnblocksNext(t *testing.T) {
	name := vcantest.New(t, false)
	for _, down := range []bool{false, true} {
		r := openBus(t, name, Options{})
		if down { // Close also ends a Next that waits for the link to come back
			vcantest.Down(t, name)
		}
		pending := make(chan error, 1)
		go func() {
			_, err := r.Next(context.Background())
			pending <- err
		}()
		time.Sleep(300 * time.Millisecond)
		start := time.Now()
		if err := r.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		select {
		case err := <-pending:
			if !errors.Is(err, can.ErrClosed) {
				t.Errorf("down=%v: pending Next after Close: %v, want can.ErrClosed", down, err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("down=%v: Next took %v to return after Close", down, d)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("down=%v: Close did not unblock Next", down)
		}
		if _, err := r.Next(context.Background()); !errors.Is(err, can.ErrClosed) {
			t.Errorf("Next after Close: %v", err)
		}
		if down {
			vcantest.Up(t, name)
		}
	}
}

func TestContextUnblocksNext(t *testing.T) {
	name := vcantest.New(t, false)
	w := openBus(t, name, Options{})
	r := openBus(t, name, Options{})
	for range 3 { // the same Bus, several ctx ends in a row, then a frame
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		start := time.Now()
		_, err := r.Next(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Next: %v, want DeadlineExceeded", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Next returned %v after a 100ms deadline", d)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	if _, err := r.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next with a cancelled ctx: %v", err)
	}
	send(t, w, mustParse(t, "042#42"))
	if got := next(t, r, 5*time.Second); got.Frame.ID != 0x42 {
		t.Fatalf("frame after cancellations: %v", got.Frame)
	}
}

// Several buses at once through can.Merge.
func TestMergeBuses(t *testing.T) {
	n0, n1 := vcantest.New(t, false), vcantest.New(t, true)
	m := NewMetrics(nil) // shared by both buses
	w0, w1 := openBus(t, n0, Options{}), openBus(t, n1, Options{})
	r0, err := Open(context.Background(), Options{Interface: n0, Metrics: m, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	r1, err := Open(context.Background(), Options{Interface: n1, Metrics: m, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	src := can.Merge(r0, r1)
	defer src.Close()
	for i := range 100 {
		send(t, w0, testFrame(4*i))
		send(t, w1, testFrame(4*i+2))
	}
	seen := map[string]int{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 200 {
		tf, err := src.Next(ctx)
		if err != nil {
			t.Fatalf("merged next: %v (seen %v)", err, seen)
		}
		seen[tf.Bus]++
	}
	if seen[n0] != 100 || seen[n1] != 100 {
		t.Errorf("per bus %v, want 100 each", seen)
	}
	if err := src.Close(); err != nil {
		t.Errorf("close merged: %v", err)
	}
}

// Reading a frame allocates nothing: buffers live in the Bus and the
// control messages are parsed in place.
func TestNextAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	name := vcantest.New(t, true)
	w := openBus(t, name, Options{})
	r := openBus(t, name, Options{ReceiveBuffer: 1 << 20})
	const runs = 100
	for i := range runs + 1 {
		send(t, w, testFrame(i))
	}
	ctx := context.Background()
	allocs := testing.AllocsPerRun(runs, func() {
		if _, err := r.Next(ctx); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Next allocates %v times per frame", allocs)
	}
}
