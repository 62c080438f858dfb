package spool

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain runs the kill -9 child when the parent test asked for it (see
// kill_test.go); otherwise the tests, checking that every goroutine a Spool
// starts is gone at the end.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	goleak.VerifyTestMain(m)
}
