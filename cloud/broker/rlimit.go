package broker

import (
	"fmt"
	"syscall"
)

// RaiseOpenFileLimit raises the process's soft limit of open files to its
// hard limit and returns both: every connection is a file, and 10,000
// connections need more than the common soft default of 1024. (Go raises
// it by itself at start since 1.19; this also covers a limit lowered after
// start, and reports the figures New logs.)
func RaiseOpenFileLimit() (soft, hard uint64, err error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, fmt.Errorf("open-file limit: %w", err)
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
			return lim.Cur, lim.Max, fmt.Errorf("raise open-file limit to %d: %w", lim.Max, err)
		}
		lim = raised
	}
	return lim.Cur, lim.Max, nil
}
