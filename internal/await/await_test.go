package await

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is a testing.TB that keeps what would fail the test.
type recorder struct {
	testing.TB
	failures []string
	cleanups []func()
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}
func (r *recorder) Errorf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}
func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recorder) cleanup() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func TestUntil(t *testing.T) {
	var n atomic.Int32
	r := &recorder{TB: t}
	Until(r, time.Second, "third look", func() bool { return n.Add(1) == 3 })
	if len(r.failures) != 0 || n.Load() != 3 {
		t.Errorf("failures %q after %d looks, want none after 3", r.failures, n.Load())
	}

	r = &recorder{TB: t}
	start := time.Now()
	Until(r, 50*time.Millisecond, "never", func() bool { return false })
	if len(r.failures) != 1 || r.failures[0] != "never: not within 50ms" {
		t.Errorf("failures %q, want one naming what was awaited", r.failures)
	}
	if time.Since(start) < 50*time.Millisecond {
		t.Errorf("gave up after %v, before its timeout", time.Since(start))
	}
}

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		desc string
		fn   func(context.Context) error
		want string
	}{
		{"stops when told", func(ctx context.Context) error { <-ctx.Done(); return nil }, ""},
		{"fails on the way out", func(ctx context.Context) error { <-ctx.Done(); return errors.New("flush: broken") }, "svc: flush: broken"},
		{"does not stop", func(ctx context.Context) error { time.Sleep(time.Second); return nil }, "svc did not stop within 50ms"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			r := &recorder{TB: t}
			Run(r, 50*time.Millisecond, "svc", tc.fn)
			if len(r.failures) != 0 {
				t.Fatalf("failed before cleanup: %q", r.failures)
			}
			r.cleanup()
			got := strings.Join(r.failures, "; ")
			if got != tc.want {
				t.Errorf("failures %q, want %q", got, tc.want)
			}
		})
	}
}
