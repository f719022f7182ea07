package testproc

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// TestListenerOn: a port nobody listens on, one this test binary listens
// on (another process, for a fixture's group), and one a fixture's group
// listens on, in a process the leader forked.
func TestListenerOn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	taken := ln.Addr().(*net.TCPAddr).Port
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freePort := free.Addr().(*net.TCPAddr).Port
	free.Close()
	defer ln.Close()

	// The fixture: a shell whose forked python3 listens on the port the
	// test picked.
	port := pickPort(t)
	cmd := exec.Command("/bin/sh", "-c", `python3 -c "import socket,time; s=socket.socket(); s.bind(('127.0.0.1', $1)); s.listen(); time.sleep(60)" & wait`, "fixture", strconv.Itoa(port))
	if err := Start(cmd); err != nil {
		t.Fatal(err)
	}
	defer func() { Kill(cmd); cmd.Wait() }()

	if got, err := ListenerOn(os.Getpid(), freePort); err != nil || got != NoListener {
		t.Errorf("a free port: %v %v", got, err)
	}
	if got, err := ListenerOn(cmd.Process.Pid, taken); err != nil || got != OtherListener {
		t.Errorf("a port another process holds: %v %v", got, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := ListenerOn(cmd.Process.Pid, port)
		if err != nil {
			t.Fatal(err)
		}
		if got == OurListener {
			break
		}
		if got == OtherListener || time.Now().After(deadline) {
			t.Fatalf("the fixture's forked listener: %v", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func pickPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
