package testproc

import (
	"errors"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// TestBound: a port nobody listens on, one this test binary listens on
// (another process, for a fixture's group), and one a fixture's group
// listens on, in a process the leader forked.
func TestBound(t *testing.T) {
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

	if bound, err := Bound(cmd, freePort); err != nil || bound {
		t.Errorf("a free port: %v %v", bound, err)
	}
	if bound, err := Bound(cmd, taken); !errors.Is(err, ErrPortTaken) || bound {
		t.Errorf("a port another process holds: %v %v", bound, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		bound, err := Bound(cmd, port)
		if err != nil {
			t.Fatalf("the fixture's forked listener: %v", err)
		}
		if bound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the fixture's forked listener: not bound after 20 s")
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
