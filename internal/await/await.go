// Package await lets tests wait for what other goroutines do: a condition
// that becomes true, a component that runs until the test ends and must
// stop when told. Every wait is bounded, so a test that goes wrong fails
// with what it waited for instead of hanging until go test's timeout.
package await

import (
	"context"
	"testing"
	"time"
)

// poll is how often Until looks again: often enough that a test does not
// wait much longer than the condition needs, rarely enough not to load a
// 2-core machine under the race detector.
const poll = 10 * time.Millisecond

// Until waits until cond returns true, and fails t with what was awaited
// when that has not happened within timeout.
func Until(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	WatchHangs(t)
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
			return
		}
		time.Sleep(poll)
	}
}

// Run runs fn in a goroutine until the test ends. At cleanup it cancels
// fn's context and checks that fn returns within timeout and without an
// error: a component that does not stop, or fails on the way, fails the
// test.
func Run(t testing.TB, timeout time.Duration, what string, fn func(context.Context) error) {
	t.Helper()
	WatchHangs(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: %v", what, err)
			}
		case <-time.After(timeout):
			t.Errorf("%s did not stop within %v", what, timeout)
		}
	})
}
