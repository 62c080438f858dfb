package can

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// logOf returns a candump log of n frames on bus, with ids 0..n-1 (mod 0x800).
func logOf(bus string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "(%d.%06d) %s %03X#%02X\n", 1700000000+i/1000, i%1000, bus, i%0x800, i%256)
	}
	return b.String()
}

func reader(s string, strict bool) *LogReader {
	return NewLogReader(strings.NewReader(s), LogReaderOptions{Strict: strict})
}

// drainMerge reads m until an error and returns the frames per bus and the error.
func drainMerge(t *testing.T, m Source) (map[string][]Timed, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := map[string][]Timed{}
	for {
		tf, err := m.Next(ctx)
		if err != nil {
			return got, err
		}
		got[tf.Bus] = append(got[tf.Bus], tf)
	}
}

func TestMergeAll(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	m := Merge(reader(logOf("can0", 3000), false), reader(logOf("can1", 10), false), reader("", false))
	got, err := drainMerge(t, m)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("end: %v, want io.EOF", err)
	}
	for bus, want := range map[string]int{"can0": 3000, "can1": 10} {
		if len(got[bus]) != want {
			t.Errorf("%s: %d frames, want %d", bus, len(got[bus]), want)
		}
		for i, tf := range got[bus] { // each source keeps its own order
			if tf.Frame.ID != uint32(i%0x800) {
				t.Fatalf("%s frame %d: id %#x, want %#x", bus, i, tf.Frame.ID, i%0x800)
			}
		}
	}
	if _, err := m.Next(context.Background()); !errors.Is(err, io.EOF) {
		t.Errorf("Next after the end: %v, want io.EOF", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := m.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Next after Close: %v, want ErrClosed", err)
	}
}

func TestMergeNone(t *testing.T) {
	m := Merge()
	defer m.Close()
	if _, err := m.Next(context.Background()); !errors.Is(err, io.EOF) {
		t.Fatalf("empty merge: %v, want io.EOF", err)
	}
}

// A hard error is returned after the frames read before it, even while the
// other source could go on for long.
func TestMergeHardError(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	bad := logOf("bad0", 2) + "(1700000001.000000) bad0 XYZ\n" + logOf("bad0", 5)
	m := Merge(reader(logOf("can0", 20000), false), reader(bad, true))
	defer m.Close()
	got, err := drainMerge(t, m)
	var le *LineError
	if !errors.As(err, &le) || le.Line != 3 {
		t.Fatalf("end: %v, want the strict reader's *LineError at line 3", err)
	}
	if len(got["bad0"]) != 2 {
		t.Errorf("bad0: %d frames before the error, want 2", len(got["bad0"]))
	}
	if _, err := m.Next(context.Background()); !errors.As(err, &le) {
		t.Errorf("Next after the error: %v, want the same error", err)
	}
}

// blocking is a live source with no frames: Next waits for ctx or Close.
type blocking struct {
	closed    chan struct{}
	closes    atomic.Int32
	ignoreCtx bool // like a source that only Close unblocks
}

func newBlocking(ignoreCtx bool) *blocking {
	return &blocking{closed: make(chan struct{}), ignoreCtx: ignoreCtx}
}

func (b *blocking) Next(ctx context.Context) (Timed, error) {
	done := ctx.Done()
	if b.ignoreCtx {
		done = nil
	}
	select {
	case <-done:
		return Timed{}, ctx.Err()
	case <-b.closed:
		return Timed{}, ErrClosed
	}
}

func (b *blocking) Close() error {
	if b.closes.Add(1) == 1 {
		close(b.closed)
	}
	return nil
}

func TestMergeContextAndClose(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	live, deaf := newBlocking(false), newBlocking(true)
	m := Merge(live, deaf, reader(logOf("can0", 1), false))

	ctx := context.Background()
	if tf, err := m.Next(ctx); err != nil || tf.Bus != "can0" {
		t.Fatalf("first frame: %v %v", tf, err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := m.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next with an ending ctx: %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Next returned %v after its ctx ended", d)
	}

	pending := make(chan error, 1)
	go func() {
		_, err := m.Next(ctx)
		pending <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-pending:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("pending Next after Close: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock a pending Next")
	}
	if live.closes.Load() != 1 || deaf.closes.Load() != 1 {
		t.Errorf("sources closed %d and %d times, want once each", live.closes.Load(), deaf.closes.Load())
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// A frame not taken because ctx ended is delivered by the next call.
func TestMergeKeepsFrameAcrossCancel(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	m := Merge(reader(logOf("can0", 100), false))
	defer m.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var ids []uint32
	for range 10 {
		if tf, err := m.Next(ctx); err == nil { // select picks at random
			ids = append(ids, tf.Frame.ID)
		}
	}
	got, err := drainMerge(t, m)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("end: %v", err)
	}
	for _, tf := range got["can0"] {
		ids = append(ids, tf.Frame.ID)
	}
	if len(ids) != 100 {
		t.Fatalf("%d frames in all, want 100", len(ids))
	}
	for i, id := range ids {
		if id != uint32(i) {
			t.Fatalf("frame %d has id %d: a frame was lost or reordered", i, id)
		}
	}
}
