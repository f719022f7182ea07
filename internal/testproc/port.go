package testproc

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Listener says who listens on a loopback TCP port a fixture was told to
// bind: nobody yet, the fixture's process group, or another process.
type Listener int

const (
	NoListener Listener = iota
	OurListener
	OtherListener
)

// ListenerOn reports who listens on port, for cmd's process group. A
// fixture is given a port that was free a moment before (picked by
// listening on :0 and closing); until it binds, any other process on the
// machine, a parallel test's server above all, may take it. A readiness
// probe then gets its answer from that process, and the test runs against
// someone else's server: a Glance or a Redis from the next package, or a
// test's fake. Probes must ask ListenerOn first and start over on another
// port on OtherListener.
//
// It reads /proc: the port's listening sockets from /proc/net/tcp{,6},
// then whether one of them is an open file of a process in cmd's group
// (glance-api and uwsgi bind in the leader and fork workers that inherit
// the socket; redis-server does not fork).
func ListenerOn(pgid, port int) (Listener, error) {
	inodes := map[string]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		if err := listeningInodes(table, port, inodes); err != nil {
			return NoListener, err
		}
	}
	if len(inodes) == 0 {
		return NoListener, nil
	}
	procs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return NoListener, err
	}
	for _, proc := range procs {
		if pg, ok := processGroup(proc); !ok || pg != pgid {
			continue
		}
		fds, _ := os.ReadDir(filepath.Join(proc, "fd")) // a process that ended has none
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(proc, "fd", fd.Name()))
			if err == nil && strings.HasPrefix(link, "socket:[") && inodes[link[len("socket:["):len(link)-1]] {
				return OurListener, nil
			}
		}
	}
	return OtherListener, nil
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
