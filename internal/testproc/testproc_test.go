package testproc

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestFixtureDiesWithTheTestBinary: a "test binary" (this one, re-run as a
// child) starts a fixture with Start and is then SIGKILLed, as a -timeout
// panic or an impatient user would end it; the fixture and the worker it
// forked must be gone soon after, without anyone's cleanup running.
func TestFixtureDiesWithTheTestBinary(t *testing.T) {
	if os.Getenv("TESTPROC_CHILD") == "1" {
		// The fixture: a shell (the leader) with a forked worker, like
		// glance-api's parent and worker.
		cmd := exec.Command("/bin/sh", "-c", "sleep 300 & echo $!; wait")
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := Start(cmd); err != nil {
			t.Fatal(err)
		}
		worker, _ := bufio.NewReader(out).ReadString('\n')
		fmt.Printf("%d %s", cmd.Process.Pid, worker)
		time.Sleep(5 * time.Minute)
		return
	}
	child := exec.Command(os.Args[0], "-test.run=^TestFixtureDiesWithTheTestBinary$", "-test.count=1")
	child.Env = append(os.Environ(), "TESTPROC_CHILD=1")
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	var leader, worker int
	if _, err := fmt.Fscan(bufio.NewReader(out), &leader, &worker); err != nil {
		child.Process.Kill()
		t.Fatalf("reading the fixture's pids: %v", err)
	}
	// Whatever happens below, leave nothing behind.
	t.Cleanup(func() { syscall.Kill(-leader, syscall.SIGKILL) })
	if !alive(leader) || !alive(worker) {
		t.Fatalf("fixture not running: leader %d %v, worker %d %v", leader, alive(leader), worker, alive(worker))
	}
	child.Process.Kill()
	child.Wait()
	for _, p := range []struct {
		name string
		pid  int
	}{{"leader", leader}, {"worker", worker}} {
		deadline := time.Now().Add(10 * time.Second)
		for alive(p.pid) {
			if time.Now().After(deadline) {
				t.Errorf("the fixture's %s (pid %d) outlived the test binary by 10s", p.name, p.pid)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// alive: pid exists and is not a zombie (a zombie waits for a reaper
// that may be slow, but runs nothing).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// "pid (comm) S ...": the state follows the last ')'.
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == ')' {
			return i+2 < len(b) && b[i+2] != 'Z'
		}
	}
	return true
}
