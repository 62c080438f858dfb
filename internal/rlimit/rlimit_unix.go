//go:build unix

// Package rlimit raises the process's limit of open files, which the
// gateway (a file per vehicle connection) and the load generator (a file
// per connection it holds) both need: 10,000 connections need more than the
// soft default of 1024 many systems still set.
package rlimit

import (
	"fmt"
	"syscall"
)

// RaiseOpenFiles raises the soft limit of open files (RLIMIT_NOFILE) to
// the hard limit and returns both. Go raises it by itself at start since
// 1.19; this also covers a limit lowered after start, and tells the caller
// what it got, to log or to size a connection limit by.
func RaiseOpenFiles() (soft, hard uint64, err error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, fmt.Errorf("open-file limit: %w", err)
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
			return uint64(lim.Cur), uint64(lim.Max), fmt.Errorf("raise open-file limit to %d: %w", lim.Max, err)
		}
		lim = raised
	}
	return uint64(lim.Cur), uint64(lim.Max), nil
}
