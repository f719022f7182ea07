package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
)

// Two Stores opened on one directory with Shared stand for two processes:
// each has its own flocks (a flock belongs to an open file), its own
// snapshots and its own write lock, as a second process would.

func openShared(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{Shared: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSharedSeesOthersWrites(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, b := openShared(t, dir), openShared(t, dir)

	create(t, a, "i1", "p", "shared")
	// b's own write catches up first: it patches the image a made.
	if _, err := b.UpdateImage(ctx, "i1", []backends.Change{{Op: backends.PatchReplace, Path: []string{"name"}, Value: []byte(`"renamed"`)}}); err != nil {
		t.Fatalf("update through b of an image a created: %v", err)
	}
	a.Refresh()
	if got := cur(t, a, "i1"); got.Name == nil || *got.Name != "renamed" {
		t.Fatalf("a shows name %v after b's rename", got.Name)
	}
	if err := b.AddTag(ctx, "i1", "t1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AddMember(ctx, "i1", "p2"); err != nil {
		t.Fatal(err)
	}
	a.Refresh()
	if got := cur(t, a, "i1"); len(got.Tags) != 1 || got.Tags[0] != "t1" {
		t.Errorf("a shows tags %v after b tagged", got.Tags)
	}
	if _, err := a.Member(ctx, "i1", "p2"); err != nil {
		t.Errorf("a does not see b's member: %v", err)
	}
	// A listing answers from the snapshots.
	create(t, b, "i2", "p", "public")
	a.Refresh()
	list, err := a.ListImages(ctx, &backends.ListQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != "i2" {
		t.Fatalf("a lists %v after b created public i2", list)
	}
	if a.OthersWrites() == 0 {
		t.Error("a counted no write of b's")
	}

	// Deleted through b: gone on a, its data removed once.
	create(t, a, "d1", "p", "private")
	if _, err := a.UploadData(ctx, "d1", strings.NewReader("data"), backends.UploadOptions{ExpectedSize: -1}); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteImage(ctx, "d1"); err != nil {
		t.Fatalf("delete through b: %v", err)
	}
	a.Refresh()
	if _, err := a.Image(ctx, "d1"); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("a shows the image b deleted: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "images", "d1")); !os.IsNotExist(err) {
		t.Fatalf("data of the deleted image: %v", err)
	}
	// And a's write to it answers as to a deleted image, without a Refresh.
	create(t, a, "d2", "p", "private")
	if err := b.DeleteImage(ctx, "d2"); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteImage(ctx, "d2"); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("a deletes what b deleted: %v, want not found", err)
	}
}

func TestSharedStageHereImportThere(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, b := openShared(t, dir), openShared(t, dir)
	data := bytes.Repeat([]byte("spyglass"), 8<<10)
	create(t, a, "s1", "p", "private")
	if _, err := a.StageData(ctx, "s1", bytes.NewReader(data), backends.UploadOptions{ExpectedSize: -1}); err != nil {
		t.Fatal(err)
	}
	if err := b.Import(ctx, "s1", backends.ImportRequest{Method: "glance-direct"}); err != nil {
		t.Fatalf("import through b of what a staged: %v", err)
	}
	img := waitStatus(t, b, "s1", backends.StatusActive)
	tasks, err := b.ImageTasks(ctx, "s1")
	if err != nil || len(tasks) != 1 {
		t.Fatalf("b's import task: %v %v", tasks, err)
	}
	waitTask(t, b, tasks[0].ID)
	a.Refresh()
	if got := cur(t, a, "s1"); got.Status != backends.StatusActive || *got.Checksum != *img.Checksum {
		t.Fatalf("a shows %s (checksum %v) after b imported", got.Status, got.Checksum)
	}
	if got, want := cur(t, a, "s1").DataURL, img.DataURL; got != want || got == "" {
		t.Errorf("a shows the data file at %q, b at %q", got, want)
	}
	d, err := a.OpenData(ctx, cur(t, a, "s1"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(io.NewSectionReader(d, 0, d.Size()))
	d.Close()
	if !bytes.Equal(got, data) {
		t.Fatalf("a reads %d bytes, want the %d staged", len(got), len(data))
	}
	tasks, err = a.ImageTasks(ctx, "s1")
	if err != nil || len(tasks) != 1 || tasks[0].Status != backends.TaskSuccess {
		t.Fatalf("a's view of b's import task: %v %v", tasks, err)
	}
}

func TestSharedWritesDoNotInterleave(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, b := openShared(t, dir), openShared(t, dir)
	create(t, a, "t", "p", "private")
	b.Refresh()
	// Each store checks the tag quota and rewrites the tags from its
	// snapshot: without the write lock's catch-up, one would drop the
	// other's tags.
	var wg sync.WaitGroup
	for i, s := range []*Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 20 {
				if err := s.AddTag(ctx, "t", fmt.Sprintf("s%d-%d", i, k)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for _, s := range []*Store{a, b} {
		s.Refresh()
		if got, want := len(cur(t, s, "t").Tags), 40; got != want {
			t.Errorf("%d tags, want %d", got, want)
		}
	}
}

func TestSharedOpenLeavesLiveWorkAlone(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := openShared(t, dir)
	create(t, a, "up", "p", "private")
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := a.UploadData(ctx, "up", pr, backends.UploadOptions{ExpectedSize: -1})
		done <- err
	}()
	pw.Write([]byte("first half, "))
	waitStatus(t, a, "up", backends.StatusSaving)

	// Another process opens the directory mid-upload.
	b := openShared(t, dir)
	if got := cur(t, b, "up").Status; got != backends.StatusSaving {
		t.Fatalf("b found the upload in flight %s, want saving", got)
	}
	pw.Write([]byte("second half"))
	pw.Close()
	if err := <-done; err != nil {
		t.Fatalf("the upload b's start would have cut off: %v", err)
	}
	b.Refresh()
	if got := cur(t, b, "up"); got.Status != backends.StatusActive || *got.Size != int64(len("first half, second half")) {
		t.Fatalf("b shows %s, size %v", got.Status, got.Size)
	}
}

func TestSharedOpenRecoversDeadWork(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := openShared(t, dir)
	b := openShared(t, dir)
	create(t, a, "up", "p", "private")
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := a.UploadData(ctx, "up", pr, backends.UploadOptions{ExpectedSize: -1})
		done <- err
	}()
	pw.Write([]byte("part"))
	waitStatus(t, a, "up", backends.StatusSaving)
	// a "dies": its worker lock goes as the kernel would drop it.
	a.locks[1].Close()

	c := openShared(t, dir)
	if got := cur(t, c, "up").Status; got != backends.StatusQueued {
		t.Fatalf("c left the dead upload %s, want queued", got)
	}
	b.Refresh()
	if got := cur(t, b, "up").Status; got != backends.StatusQueued {
		t.Fatalf("b, alive throughout, shows %s, want queued", got)
	}
	// What the dead process would still write (its temporary file is
	// gone with it) fails, and leaves no file.
	pw.Close()
	if err := <-done; err == nil {
		t.Fatal("the dead upload succeeded")
	}
	if got := cur(t, c, "up").Status; got != backends.StatusQueued {
		t.Fatalf("after the dead upload, %s, want queued", got)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "images")); len(ents) != 0 {
		t.Fatalf("data left behind: %v", ents)
	}
}

func TestSharedRefusesAProcessAlone(t *testing.T) {
	dir := t.TempDir()
	a := openShared(t, dir)
	if s, err := Open(dir, Options{}); err == nil {
		s.Close()
		t.Fatal("a store without Shared opened a directory a shared one has open")
	} else if !strings.Contains(err.Error(), "Redis") {
		t.Errorf("error %q does not say what to do", err)
	}
	// Metadefs only: no images held, no recovery; it may open beside.
	m, err := Open(dir, Options{MetadefsOnly: true})
	if err != nil {
		t.Fatalf("metadefs-only open beside a server: %v", err)
	}
	m.Close()
	a.Close()

	alone, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer alone.Close()
	for _, opts := range []Options{{}, {Shared: true}} {
		if s, err := Open(dir, opts); err == nil {
			s.Close()
			t.Fatalf("opened with %+v a directory a store alone has open", opts)
		}
	}
}

func TestSharedPrunedLogReloads(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, b := openShared(t, dir), openShared(t, dir)
	create(t, a, "old", "p", "private")
	create(t, a, "new", "p", "private")
	if err := a.DeleteImage(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	// Every entry b has not read is pruned, as if b had stood still.
	if _, err := a.wdb.Exec(`UPDATE changes SET at = 0`); err != nil {
		t.Fatal(err)
	}
	if err := a.prune(ctx); err != nil {
		t.Fatal(err)
	}
	b.Refresh()
	if _, err := b.Image(ctx, "new"); err != nil {
		t.Fatalf("b after a pruned log: %v", err)
	}
	if _, err := b.Image(ctx, "old"); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("b still shows a deleted image: %v", err)
	}
}

func TestSharedTellsOfOthersWrites(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, b := openShared(t, dir), openShared(t, dir)
	var mu sync.Mutex
	told := map[string]int{}
	a.OnOthersWrite(func(id string) {
		mu.Lock()
		told[id]++
		mu.Unlock()
	})
	create(t, a, "mine", "p", "private")
	create(t, b, "theirs", "p", "private")
	if err := b.AddTag(ctx, "theirs", "x"); err != nil {
		t.Fatal(err)
	}
	a.Refresh()
	mu.Lock()
	defer mu.Unlock()
	// Once per catch-up that found it changed (the poll may have run
	// between b's two writes).
	if told["theirs"] == 0 || told["mine"] != 0 {
		t.Fatalf("a was told of %v, want theirs, not its own", told)
	}
}

func TestSharedOpenLeavesLiveImportAlone(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("first half, "))
		w.(http.Flusher).Flush()
		<-release
		w.Write([]byte("second half"))
	}))
	defer srv.Close()
	defer close(release) // before srv.Close: a failed test must not hang it
	dir := t.TempDir()
	a, err := Open(dir, Options{Shared: true, Fetcher: loopbackFetcher(t, srv)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx := backends.WithCaller(context.Background(), &backends.Caller{Project: "p"})
	create(t, a, "wd", "p", "private")
	if err := a.Import(ctx, "wd", backends.ImportRequest{Method: "web-download", URI: srv.URL + "/img"}); err != nil {
		t.Fatal(err)
	}
	tasks, err := a.ImageTasks(ctx, "wd")
	if err != nil || len(tasks) != 1 {
		t.Fatalf("tasks %v %v", tasks, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for cur, _ := a.Task(ctx, tasks[0].ID); cur.Status != backends.TaskProcessing; cur, _ = a.Task(ctx, tasks[0].ID) {
		if time.Now().After(deadline) {
			t.Fatalf("task still %s", cur.Status)
		}
		time.Sleep(5 * time.Millisecond)
	}

	// Another process opens the directory mid-import.
	b := openShared(t, dir)
	if got := cur(t, b, "wd").Status; got != backends.StatusImporting {
		t.Fatalf("b found the import in flight %s, want importing", got)
	}
	if task, _ := b.Task(ctx, tasks[0].ID); task.Status != backends.TaskProcessing {
		t.Fatalf("b found the import's task %s, want processing", task.Status)
	}
	release <- struct{}{}
	waitStatus(t, a, "wd", backends.StatusActive)
	if task := waitTask(t, a, tasks[0].ID); task.Status != backends.TaskSuccess {
		t.Fatalf("the import b's start would have failed: %s %s", task.Status, task.Message)
	}
	b.Refresh()
	if got := cur(t, b, "wd"); got.Status != backends.StatusActive || *got.Size != int64(len("first half, second half")) {
		t.Fatalf("b shows %s, size %v", got.Status, got.Size)
	}
}

func TestSharedRecoversWorkOfAProcessThatEnded(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, b := openShared(t, dir), openShared(t, dir)
	create(t, a, "up", "p", "private")
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.UploadData(ctx, "up", pr, backends.UploadOptions{ExpectedSize: -1})
	}()
	defer func() { pw.Close(); <-done }()
	pw.Write([]byte("part"))
	waitStatus(t, a, "up", backends.StatusSaving)
	if err := b.recoverDead(); err != nil {
		t.Fatal(err)
	}
	b.Refresh()
	if got := cur(t, b, "up").Status; got != backends.StatusSaving {
		t.Fatalf("b recovered a live upload: %s", got)
	}
	a.locks[1].Close() // a "dies"
	if err := b.recoverDead(); err != nil {
		t.Fatal(err)
	}
	if got := cur(t, b, "up").Status; got != backends.StatusQueued {
		t.Fatalf("b, still running, left the dead upload %s, want queued", got)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "images")); len(ents) != 0 {
		t.Fatalf("the dead upload's files stay: %v", ents)
	}
}
