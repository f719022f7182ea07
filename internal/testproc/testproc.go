// Package testproc starts the processes tests run as fixtures (glance-api,
// uwsgi for Keystone, redis-server, the spyglass binary) so that they die
// with the test binary, whichever way it dies: a -timeout panic, a SIGKILL,
// a t.Fatal in TestMain. Left behind, they hold ports and CPU on a shared
// machine and make the next runs slower and flakier.
//
//	cmd := exec.Command("redis-server", args...)
//	if err := testproc.Start(cmd); err != nil { ... }
//	defer testproc.Kill(cmd)
//
// Start puts the process in a process group of its own (so Kill and Stop
// reach the workers it forks, as glance-api and uwsgi do), asks the kernel
// to SIGKILL it when the test binary goes (Pdeathsig), and starts a reaper
// for the group: a shell reading a pipe only the test binary holds open,
// which kills the whole group when the pipe closes. Pdeathsig alone would
// spare the forked workers, which keep running when their leader is killed.
package testproc

import (
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Prepare sets cmd's SysProcAttr: its own process group, SIGKILL on the
// death of the test binary. Call it before cmd.Start; cmd.SysProcAttr must
// be nil or will be replaced.
func Prepare(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// Start is Prepare, cmd.Start and a reaper for cmd's process group (see
// the package doc). Pdeathsig fires when the OS thread that forked the
// child exits, not the process; the Go runtime ends a thread only when a
// goroutine exits while locked to it, so in practice it fires when the
// binary dies, and the reaper covers the rest.
func Start(cmd *exec.Cmd) error {
	Prepare(cmd)
	if err := cmd.Start(); err != nil {
		return err
	}
	watch(cmd.Process.Pid)
	return nil
}

// Run is Start and cmd.Wait, then it kills what the process left in its
// group and dismisses the reaper.
func Run(cmd *exec.Cmd) error {
	if err := Start(cmd); err != nil {
		return err
	}
	defer Kill(cmd)
	return cmd.Wait()
}

// reapers holds, per process group, the write end of its reaper's pipe.
var reapers struct {
	mu sync.Mutex
	w  map[int]*os.File
}

// watch starts the reaper of process group pgid. Without /bin/sh the
// group is still killed by Kill and Stop, only not when the binary dies.
func watch(pgid int) {
	r, w, err := os.Pipe() // close-on-exec: no other child inherits w
	if err != nil {
		return
	}
	defer r.Close()
	reaper := exec.Command("/bin/sh", "-c", `read _; kill -KILL -"$1" 2>/dev/null`, "testproc-reaper", strconv.Itoa(pgid))
	reaper.Stdin = r
	// Its own group: a test's kill of the fixture's group spares it, so it
	// ends when its pipe closes, not before.
	reaper.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := reaper.Start(); err != nil {
		w.Close()
		return
	}
	go reaper.Wait()
	reapers.mu.Lock()
	if reapers.w == nil {
		reapers.w = map[int]*os.File{}
	}
	reapers.w[pgid] = w
	reapers.mu.Unlock()
}

// release dismisses the reaper of pgid once the group is dead: its pipe
// closes, it kills what is left of the group (nothing) and exits.
func release(pgid int) {
	reapers.mu.Lock()
	w := reapers.w[pgid]
	delete(reapers.w, pgid)
	reapers.mu.Unlock()
	if w != nil {
		w.Close()
	}
}

// Kill sends SIGKILL to cmd's process group (the process and what it
// forked) and dismisses its reaper. It does not wait for cmd: the
// caller's Wait does.
func Kill(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	// Through os.Process too: besides signalling the leader, it orders
	// this call before Wait's return for the race detector (both go
	// through the Process's atomic state), as tests that read
	// cmd.ProcessState after a kill rely on.
	cmd.Process.Kill()
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	release(cmd.Process.Pid)
}

// Stop asks cmd's process group to end with SIGTERM and, if done (closed
// when cmd has been waited for) is not closed within grace, kills it; then
// it kills the group again, for workers that outlived their leader.
func Stop(cmd *exec.Cmd, done <-chan struct{}, grace time.Duration) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	pgid := cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}
	Kill(cmd)
}
