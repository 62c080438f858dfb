package socketcan

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine a Bus or a test starts must be gone when the tests end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
