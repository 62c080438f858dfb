//go:build !unix

package rlimit

import "errors"

// RaiseOpenFiles is not available here: the limit stays what it is.
func RaiseOpenFiles() (soft, hard uint64, err error) {
	return 0, 0, errors.New("open-file limit: not supported on this system")
}
