package socketcan

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
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
