package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReloadOnSIGHUP: the binary, sent SIGHUP after its files changed,
// applies the new policy rules and log level without a restart; a broken
// policy file or an invalid configuration is logged and changes nothing; a
// changed key that needs a restart is named and ignored; the process stays
// up throughout.
func TestReloadOnSIGHUP(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	policyPath := filepath.Join(dir, "policy.yaml")
	cfgPath := filepath.Join(dir, "spyglass.yaml")
	write := func(path, body string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	config := func(extra string) string {
		return fmt.Sprintf("listen: 127.0.0.1:0\nauth: {mode: noauth}\nregions: [{name: local, kind: local, data_dir: %q}]\npolicy: {file: %q}\n%s",
			filepath.Join(dir, "data"), policyPath, extra)
	}
	write(policyPath, `"publicize_image": "role:admin"`+"\n")
	write(cfgPath, config(""))
	p := startWithConfig(t, bin, cfgPath)
	list := "http://" + p.addr + "/v2/images"
	status := func() int {
		t.Helper()
		req, _ := http.NewRequest("GET", list, nil)
		req.Header.Set("X-Openstack-Request-Id", "req-reload-test")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET /v2/images: %v\n%s", err, p.log())
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// hup sends SIGHUP and waits for the reload's outcome, the n-th line
	// containing want.
	hup := func(want string) {
		t.Helper()
		n := strings.Count(p.log(), want)
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for strings.Count(p.log(), want) <= n {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log 20s after SIGHUP:\n%s", want, p.log())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	if got := status(); got != 200 {
		t.Fatalf("GET /v2/images before any reload: %d", got)
	}

	// The rules change: nobody may list.
	write(policyPath, `"get_images": "!"`+"\n")
	hup("configuration reloaded")
	// Written after the request's line would have been, on the same pipe.
	if strings.Contains(p.log(), "msg=request ") {
		t.Fatalf("an access log line at level info:\n%s", p.log())
	}
	if got := status(); got != 403 {
		t.Fatalf("GET /v2/images after reloading get_images: \"!\": %d, want 403", got)
	}

	// A broken policy file: logged, the rules in force stay.
	write(policyPath, `"get_images": "role:admin and ("`+"\n")
	hup("reload: invalid policy")
	if got := status(); got != 403 {
		t.Fatalf("GET /v2/images after a broken policy reload: %d, want 403 (the rules in force)", got)
	}

	// An invalid configuration: every problem logged, nothing changes
	// (the policy file is fine again, but is not applied).
	write(policyPath, `"publicize_image": "role:admin"`+"\n")
	write(cfgPath, config("log: {level: loud}\nredis: {timeout: 0s}\n"))
	hup("reload: invalid configuration")
	for _, want := range []string{"log.level: unknown level", "redis.timeout: must be positive"} {
		if !strings.Contains(p.log(), want) {
			t.Errorf("the log does not name %q:\n%s", want, p.log())
		}
	}
	if got := status(); got != 403 {
		t.Fatalf("GET /v2/images after an invalid configuration reload: %d, want 403", got)
	}

	// A valid file: the policy and the log level apply; a key that needs a
	// restart is named and ignored.
	write(cfgPath, config("log: {level: debug}\nshutdown_timeout: 7s\n"))
	hup("configuration reloaded")
	if !strings.Contains(p.log(), "needs a restart; ignored\" key=shutdown_timeout") {
		t.Errorf("the log does not say shutdown_timeout needs a restart:\n%s", p.log())
	}
	if got := status(); got != 200 {
		t.Fatalf("GET /v2/images after restoring the policy: %d, want 200", got)
	}
	// Debug now: the access log line, with the client's request id (the
	// log is read from a pipe: poll).
	deadline := time.Now().Add(20 * time.Second)
	for {
		var access string
		for _, l := range strings.Split(p.log(), "\n") {
			if strings.Contains(l, "msg=request ") && strings.Contains(l, "path=/v2/images") {
				access = l
			}
		}
		if access != "" && logField(access, "request_id") == "req-reload-test" && logField(access, "status") == "200" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no debug access log line with request_id=req-reload-test after reloading log.level debug:\n%s", p.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if p.cmd.ProcessState != nil {
		t.Fatal("the process exited")
	}
}
