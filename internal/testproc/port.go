package testproc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrPortTaken: another process listens on the port a fixture was told to
// bind.
var ErrPortTaken = errors.New("another process took the port before the fixture bound it")

// Bound reports whether the process group of cmd (a group of its own, as
// Start makes it) listens on port yet, and ErrPortTaken when another
// process does. A fixture is given a port that was free a moment before
// (picked by listening on :0 and closing); until it binds, any other
// process on the machine, a parallel test's server above all, may take
// it, and a readiness probe then gets its answer from that process: the
// test runs against someone else's server (a Glance or a Redis of the next
// package, or a test's fake). Probes ask Bound first, and start over on
// another port on ErrPortTaken.
func Bound(cmd *exec.Cmd, port int) (bool, error) {
	switch l, err := listenerOn(cmd.Process.Pid, port); {
	case err != nil:
		return false, fmt.Errorf("who listens on port %d: %w", port, err)
	case l == otherListener:
		return false, fmt.Errorf("port %d: %w", port, ErrPortTaken)
	default:
		return l == ourListener, nil
	}
}

// listener says who listens on a port: nobody yet, a fixture's process
// group, or another process.
type listener int

const (
	noListener listener = iota
	ourListener
	otherListener
)

// listenerOn reports who listens on port, for the process group pgid. It
// reads /proc: the port's listening sockets from /proc/net/tcp{,6}, then
// whether one of them is an open file of a process in the group
// (glance-api and uwsgi bind in the leader and fork workers that inherit
// the socket; redis-server does not fork).
func listenerOn(pgid, port int) (listener, error) {
	inodes := map[string]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		if err := listeningInodes(table, port, inodes); err != nil {
			return noListener, err
		}
	}
	if len(inodes) == 0 {
		return noListener, nil
	}
	procs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return noListener, err
	}
	for _, proc := range procs {
		if pg, ok := processGroup(proc); !ok || pg != pgid {
			continue
		}
		fds, _ := os.ReadDir(filepath.Join(proc, "fd")) // a process that ended has none
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(proc, "fd", fd.Name()))
			if err == nil && strings.HasPrefix(link, "socket:[") && inodes[link[len("socket:["):len(link)-1]] {
				return ourListener, nil
			}
		}
	}
	return otherListener, nil
}

// listeningInodes adds to inodes those of table's sockets listening on port.
//
//	sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
//	0: 0100007F:2422 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41781 ...
func listeningInodes(table string, port int, inodes map[string]bool) error {
	f, err := os.Open(table)
	if os.IsNotExist(err) { // no IPv6 in this kernel
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	suffix := fmt.Sprintf(":%04X", port)
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		const listen = "0A"
		if len(fields) > 9 && strings.HasSuffix(fields[1], suffix) && fields[3] == listen {
			inodes[fields[9]] = true
		}
	}
	return sc.Err()
}

// processGroup reads the process group from proc's stat: the fifth field,
// counted after the command name's closing parenthesis (the name may hold
// spaces and parentheses).
func processGroup(proc string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(proc, "stat"))
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	fields := strings.Fields(string(b[i+1:])) // state ppid pgrp ...
	if len(fields) < 3 {
		return 0, false
	}
	pg, err := strconv.Atoi(fields[2])
	return pg, err == nil
}
