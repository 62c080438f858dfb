//go:build !unix

package loadgen

import "errors"

// RaiseFileLimit is not available here: the limit stays what it is.
func RaiseFileLimit() (soft, hard uint64, err error) {
	return 0, 0, errors.New("open-file limit: not supported on this system")
}
