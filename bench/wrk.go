package main

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// WrkOptions is one wrk load shape.
type WrkOptions struct {
	Duration time.Duration
	Conns    int
	Threads  int
}

// RunWrk loads url with wrk and parses its report.
func RunWrk(ctx context.Context, o WrkOptions, url string, headers map[string]string) (Result, error) {
	args := []string{"-t", strconv.Itoa(o.Threads), "-c", strconv.Itoa(o.Conns), "-d", o.Duration.String(), "--latency"}
	for k, v := range headers {
		args = append(args, "-H", k+": "+v)
	}
	args = append(args, url)
	out, err := exec.CommandContext(ctx, "wrk", args...).CombinedOutput()
	if err != nil {
		return Result{}, fmt.Errorf("%v\n%s", err, out)
	}
	return ParseWrk(string(out))
}

// ParseWrk reads wrk's Requests/sec, latency percentiles and error lines.
func ParseWrk(out string) (Result, error) {
	var r Result
	found := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return r, fmt.Errorf("bad Requests/sec %q", f[1])
			}
			r.RPS, found = v, true
		case len(f) >= 4 && f[1] == "requests" && f[2] == "in":
			r.Requests, _ = strconv.ParseInt(f[0], 10, 64)
		case len(f) == 2 && f[0] == "50%":
			r.P50 = f[1]
		case len(f) == 2 && f[0] == "99%":
			r.P99 = f[1]
		case len(f) >= 4 && f[0] == "Non-2xx":
			n, _ := strconv.Atoi(f[len(f)-1])
			r.Errors += n
		case len(f) >= 2 && f[0] == "Socket" && f[1] == "errors:":
			for _, part := range strings.Split(strings.Join(f[2:], " "), ",") {
				kv := strings.Fields(part)
				if len(kv) == 2 {
					n, _ := strconv.Atoi(kv[1])
					r.Errors += n
				}
			}
		}
	}
	if !found {
		return r, fmt.Errorf("no Requests/sec in wrk output:\n%s", out)
	}
	return r, nil
}
