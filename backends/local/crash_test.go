package local

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
)

const (
	envCrashDir = "SPYGLASS_LOCAL_CRASH_DIR"
	envCrashAt  = "SPYGLASS_LOCAL_CRASH_AT"
)

// stallingReader yields some data, says so on stdout, then blocks forever:
// the parent kills the process mid-upload.
type stallingReader struct{ n int }

func (r *stallingReader) Read(p []byte) (int, error) {
	if r.n >= 64<<10 {
		fmt.Println("AT streaming")
		select {}
	}
	n := min(len(p), 4096)
	for i := range p[:n] {
		p[i] = 'x'
	}
	r.n += n
	return n, nil
}

// TestHelperProcess is the child of TestCrash: it uploads into the store in
// $SPYGLASS_LOCAL_CRASH_DIR and stops at $SPYGLASS_LOCAL_CRASH_AT.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(envCrashDir)
	if dir == "" {
		t.Skip("only run as TestCrash's child")
	}
	at := os.Getenv(envCrashAt)
	s, err := Open(dir, Options{})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	crashHook = func(point string) {
		if point == at {
			fmt.Println("AT", point)
			select {}
		}
	}
	var r io.Reader = strings.NewReader("complete data")
	if at == "streaming" || at == "stage-streaming" {
		r = &stallingReader{}
	}
	if at == "stage-streaming" {
		_, err = s.StageData(context.Background(), "img", r, backends.UploadOptions{ExpectedSize: -1})
	} else {
		_, err = s.UploadData(context.Background(), "img", r, backends.UploadOptions{ExpectedSize: -1})
	}
	fmt.Println("ERR upload finished:", err)
	os.Exit(2)
}

func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	for _, at := range []string{"streaming", "renamed", "stage-streaming"} {
		t.Run(at, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			create(t, s, "img", "p", "private")
			s.Close()

			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
			cmd.Env = append(os.Environ(), envCrashDir+"="+dir, envCrashAt+"="+at)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := make(chan string, 1)
			go func() {
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					if strings.HasPrefix(sc.Text(), "AT ") || strings.HasPrefix(sc.Text(), "ERR") {
						lines <- sc.Text()
						break
					}
				}
				io.Copy(io.Discard, out)
			}()
			select {
			case line := <-lines:
				if want := strings.TrimPrefix(at, "stage-"); line != "AT "+want {
					cmd.Process.Kill()
					cmd.Wait()
					t.Fatalf("child: %s", line)
				}
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatal("child did not reach", at)
			}
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			cmd.Wait()

			area := "images"
			if strings.HasPrefix(at, "stage-") {
				area = "staging"
			}
			ents, _ := os.ReadDir(filepath.Join(dir, area))
			if len(ents) == 0 {
				t.Fatal("the crash left no file behind: the test does not test recovery")
			}
			s, err = Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			img, err := s.Image(ctx, "img")
			if err != nil {
				t.Fatal(err)
			}
			if got, want := img.Status, "queued"; got != want {
				t.Fatalf("status after crash %q, want %q", got, want)
			}
			if img.Size != nil || img.Checksum != nil {
				t.Fatalf("image after crash has data fields: %+v", img)
			}
			if ents, _ := os.ReadDir(filepath.Join(dir, area)); len(ents) != 0 {
				t.Fatalf("files left after recovery: %v", ents)
			}
			if _, err := s.OpenData(ctx, img); err != backends.ErrNoData {
				t.Fatalf("OpenData after crash: %v", err)
			}
			img, err = s.UploadData(ctx, "img", strings.NewReader("fresh"), backends.UploadOptions{ExpectedSize: -1})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := *img.Size, int64(5); got != want {
				t.Fatalf("size %d want %d", got, want)
			}
		})
	}
}
