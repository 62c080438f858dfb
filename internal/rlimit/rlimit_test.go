//go:build unix

package rlimit

import (
	"syscall"
	"testing"
)

func TestRaiseOpenFiles(t *testing.T) {
	var before syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &before); err != nil {
		t.Fatal(err)
	}
	// lower the soft limit, then raise it back to the hard one
	lowered := before
	lowered.Cur = min(before.Cur, 256)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lowered); err != nil {
		t.Skipf("cannot lower the limit here: %v", err)
	}
	soft, hard, err := RaiseOpenFiles()
	if err != nil || soft != hard || hard != uint64(before.Max) {
		t.Fatalf("RaiseOpenFiles = %d, %d, %v; want the hard limit %d twice", soft, hard, err, before.Max)
	}
	var after syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &after)
	if after.Cur != before.Max {
		t.Fatalf("soft limit %d after raising, want %d", after.Cur, before.Max)
	}
}
