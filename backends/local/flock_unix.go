//go:build unix

package local

import (
	"errors"
	"os"
	"syscall"
)

// flock takes how (syscall.LOCK_SH or LOCK_EX, with LOCK_NB to fail
// instead of waiting) on f: a lock the kernel drops when the process
// ends, however it ends, which is what tells a live process from a dead
// one here.
func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

func funlock(f *os.File) error { return flock(f, syscall.LOCK_UN) }

// wouldBlock reports whether a LOCK_NB flock failed because another holds
// the lock.
func wouldBlock(err error) bool { return errors.Is(err, syscall.EWOULDBLOCK) }

const (
	lockShared    = syscall.LOCK_SH
	lockExclusive = syscall.LOCK_EX
	lockNoWait    = syscall.LOCK_NB
)
