package blob_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/cache/blob/blobtest"
)

// TestBlobStatsFillsAndWaiters: while a slow fill runs, Stats counts it in
// flight with every reader attached to it; a complete entry's reads are
// hits; both kinds of Data say their bytes come from the cache.
func TestBlobStatsFillsAndWaiters(t *testing.T) {
	o := blobtest.NewOrigin(t, 4<<20)
	o.BytesPerS.Store(1 << 20) // a 4 s fill
	dir := t.TempDir()
	b := openBlobs(t, dir, 64<<20)
	defer b.Close()
	src := o.Region(t, 10*time.Second)
	var datas []backends.Data
	for i := 0; i < 3; i++ {
		d, err := b.Open(context.Background(), key, o.Expect(), src)
		if err != nil {
			t.Fatal(err)
		}
		datas = append(datas, d)
	}
	s := b.Stats()
	if s.FillsInFlight != 1 || s.FillWaiters != 3 || s.Fills != 1 || s.Misses != 3 {
		t.Errorf("during the fill: %+v, want 1 fill in flight, 3 waiters, 1 fill, 3 misses", s)
	}
	if s.MaxBytes != 64<<20 || s.HighBytes != (64<<20)*9/10 || s.LowBytes != (64<<20)*8/10 {
		t.Errorf("bounds: %+v", s)
	}
	if c, ok := datas[0].(interface{ FromCache() bool }); !ok || !c.FromCache() {
		t.Errorf("a reader attached to a fill does not say its bytes come from the cache")
	}
	if _, err := readAll(t, datas[0]); err != nil {
		t.Fatal(err)
	}
	for _, d := range datas {
		d.Close()
	}
	// The fill's goroutine marks itself done just after the last byte.
	for deadline := time.Now().Add(10 * time.Second); b.Stats().FillsInFlight != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("fill still in flight 10s after its last byte: %+v", b.Stats())
		}
	}
	d, err := b.Open(context.Background(), key, o.Expect(), src)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if c, ok := d.(interface{ FromCache() bool }); !ok || !c.FromCache() {
		t.Errorf("a complete entry does not say its bytes come from the cache")
	}
	if s := b.Stats(); s.Hits != 1 || s.FillWaiters != 0 {
		t.Errorf("after the fill: %+v, want 1 hit, no waiters", s)
	}
	// Used: the image in whole blocks, its record and the directories —
	// at least what is on the disk, and not much more.
	_, onDisk := diskUsage(dir)
	if used := b.Stats().UsedBytes; used < 4<<20 || used < onDisk || used > 4<<20+64<<10 {
		t.Errorf("used %d bytes for a 4 MiB image (%d on disk)", used, onDisk)
	}
}

// TestBlobCheckDisk: the probe passes on a usable directory and fails when
// the directory is gone (a file in its place).
func TestBlobCheckDisk(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	b := openBlobs(t, dir, 1<<20)
	defer b.Close()
	if err := b.CheckDisk(); err != nil {
		t.Fatalf("usable directory: %v", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.CheckDisk(); err == nil {
		t.Fatal("CheckDisk with a file where the directory was: no error")
	}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	if len(entries) != 1 {
		t.Errorf("the probe left files behind: %v", entries)
	}
}
