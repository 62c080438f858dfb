package loadgen

import (
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
)

// reasonError is a failure that already says its reason (a CONNACK or
// DISCONNECT code, a limit of the broker's).
type reasonError struct{ reason string }

func (e *reasonError) Error() string { return e.reason }

// reasonOf names why a connection could not be made or was lost, in a few
// words from a small set, so that the counts by reason stay readable at
// 10,000 connections (an address or a port in the text would make each
// one its own reason).
func reasonOf(err error) string {
	var re *reasonError
	if errors.As(err, &re) {
		return re.reason
	}
	for _, k := range []struct {
		err    error
		reason string
	}{
		{syscall.ECONNREFUSED, "connection refused"},
		{syscall.ECONNRESET, "connection reset"},
		{syscall.EPIPE, "broken pipe"},
		{syscall.EADDRNOTAVAIL, "no free local port (EADDRNOTAVAIL: see LoopbackAddrs)"},
		{syscall.EADDRINUSE, "local address in use"},
		{syscall.EMFILE, "too many open files (RLIMIT_NOFILE)"},
		{syscall.ENFILE, "too many open files in the system"},
		{syscall.ETIMEDOUT, "timeout"},
		{syscall.ENETUNREACH, "network unreachable"},
		{syscall.EHOSTUNREACH, "host unreachable"},
		{os.ErrDeadlineExceeded, "timeout"},
		{io.ErrUnexpectedEOF, "closed by the broker"},
		{io.EOF, "closed by the broker"},
		{net.ErrClosed, "closed"},
	} {
		if errors.Is(err, k.err) {
			return k.reason
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}
