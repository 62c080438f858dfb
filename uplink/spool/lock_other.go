//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package spool

import (
	"errors"
	"fmt"
	"os"
)

// lockDir refuses: without flock two agents could share a spool and lose
// batches, so the spool does not open on such systems.
func lockDir(dir string) (*os.File, error) {
	return nil, fmt.Errorf("lock %s: %w", dir, errors.ErrUnsupported)
}
