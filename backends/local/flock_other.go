//go:build !unix

package local

import (
	"errors"
	"os"
)

// Without flock a directory cannot tell its live processes from dead
// ones: the store opens only where it has it.
func flock(f *os.File, how int) error { return errors.ErrUnsupported }
func funlock(f *os.File) error        { return errors.ErrUnsupported }
func wouldBlock(err error) bool       { return false }

const (
	lockShared    = 1
	lockExclusive = 2
	lockNoWait    = 4
)
