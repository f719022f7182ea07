package blob_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/cache/blob"
	"github.com/spyglass-gateway/spyglass/cache/blob/blobtest"
)

// breakDir puts a file where the cache's directory was: a disk that takes
// nothing new (chmod cannot make one for root, which the tests run as).
func breakDir(t *testing.T, dir string) {
	t.Helper()
	if err := os.Rename(dir, dir+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond (the state of the cache's own goroutines) until it
// holds, failing after a minute.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within a minute", what)
		}
	}
}

// A prefetch into a cache whose disk takes nothing is refused at once with
// the disk's error (Glance answers its PUT /v2/cache/{id} 500 then), not
// queued to fail where nobody hears it.
func TestBlobPrefetchIntoUnusableCacheIsRefused(t *testing.T) {
	o := blobtest.NewOrigin(t, 1<<20)
	dir := filepath.Join(t.TempDir(), "cache")
	b := openBlobs(t, dir, 1<<30)
	defer b.Close()
	breakDir(t, dir)
	err := b.Prefetch(context.Background(), key, o.Expect(), o.Region(t, 5*time.Second))
	if err == nil {
		t.Fatal("Prefetch into a cache directory that is a file: no error")
	}
	if got, want := err.Error(), "the image data cache cannot take image img: cache.dir "+dir; !strings.HasPrefix(got, want) {
		t.Errorf("Prefetch error = %q, want it to start %q", got, want)
	}
	if _, queued := b.List(); len(queued) != 0 {
		t.Errorf("queued after the refusal: %v", queued)
	}
	if got := o.Requests.Load(); got != 0 {
		t.Errorf("the origin was asked %d times", got)
	}
}

// A queued prefetch whose fill fails (wrong bytes from the region) is
// counted and leaves nothing cached.
func TestBlobPrefetchFillFailureIsCounted(t *testing.T) {
	o := blobtest.NewOrigin(t, 1<<20)
	o.Corrupt.Store(true)
	b := openBlobs(t, t.TempDir(), 1<<30)
	defer b.Close()
	if err := b.Prefetch(context.Background(), key, o.Expect(), o.Region(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the failed prefetch counted", func() bool { return b.Stats().PrefetchesFailed == 1 })
	if isCached(b, key) {
		t.Fatal("wrong bytes cached")
	}
}

// The disk fails while a prefetch waits its turn: when its turn comes it
// is counted as failed; a prefetch whose entry the operator evicts is not.
func TestBlobPrefetchDiskFailsWhileQueued(t *testing.T) {
	hung, later := blobtest.NewOrigin(t, 1<<20), blobtest.NewOrigin(t, 1<<20)
	hung.Hang.Store(true) // its fill holds the prefetcher until evicted
	dir := filepath.Join(t.TempDir(), "cache")
	b := openBlobs(t, dir, 1<<30)
	defer b.Close()
	first, second := blob.Key{Region: "r1", Image: "first"}, blob.Key{Region: "r1", Image: "second"}
	if err := b.Prefetch(context.Background(), first, hung.Expect(), hung.Region(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := b.Prefetch(context.Background(), second, later.Expect(), later.Region(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the first prefetch filling", func() bool {
		p := b.Partial()
		return len(p) == 1 && p[0].Key == first && p[0].Filling
	})
	breakDir(t, dir)
	if !b.Delete(first) {
		t.Fatal("Delete of the filling entry: not found")
	}
	// The region's data client leaves a stalled read to its read timeout,
	// cancelled or not: end the stall rather than wait for it.
	hung.Close()
	eventually(t, "the second prefetch counted", func() bool { return b.Stats().PrefetchesFailed > 0 })
	eventually(t, "the queue drained", func() bool { _, q := b.List(); return len(q) == 0 })
	if got, want := b.Stats().PrefetchesFailed, int64(1); got != want {
		t.Errorf("PrefetchesFailed = %d, want %d (the evicted one is no failure)", got, want)
	}
	if got := later.Requests.Load(); got != 0 {
		t.Errorf("the second image's origin was asked %d times for an image nobody reads", got)
	}
}

// A queued image is listed as queued until its fill completes, then as
// cached, and never as neither: Glance drops its queue file only when it
// commits the cached one. Before, the slot went when the fill started, and
// a GET /v2/cache during the fill of a region's image listed it nowhere.
func TestBlobPrefetchQueuedUntilCached(t *testing.T) {
	o := blobtest.NewOrigin(t, 1<<20)
	o.HoldAt.Store(1 << 10)
	b := openBlobs(t, t.TempDir(), 1<<30)
	defer b.Close()
	if err := b.Prefetch(context.Background(), key, o.Expect(), o.Region(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	<-o.Held // the fill runs, its first KiB written
	if cached, queued := b.List(); len(cached) != 0 || len(queued) != 1 || queued[0] != key {
		t.Fatalf("during the fill: cached %v, queued %v; want the image queued", cached, queued)
	}
	close(o.Release)
	eventually(t, "the image cached", func() bool { return isCached(b, key) })
	if cached, queued := b.List(); len(cached) != 1 || len(queued) != 0 {
		t.Errorf("after the fill: cached %v, queued %v; want it cached only", cached, queued)
	}
	if cached, _ := b.List(); len(cached) == 1 && cached[0].Hits != 0 {
		t.Errorf("hits = %d after a prefetch, want 0", cached[0].Hits)
	}
}

// PrefetchDelay: a queued image waits its delay before its fill starts,
// listed as queued; a Close ends the wait.
func TestBlobPrefetchDelay(t *testing.T) {
	for _, tc := range []struct {
		name  string
		delay time.Duration
	}{{"at once", 0}, {"after 300ms", 300 * time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) {
			o := blobtest.NewOrigin(t, 64<<10)
			b, err := blob.Open(blob.Config{Dir: t.TempDir(), MaxSize: 1 << 30, PrefetchDelay: tc.delay})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			start := time.Now()
			if err := b.Prefetch(context.Background(), key, o.Expect(), o.Region(t, time.Minute)); err != nil {
				t.Fatal(err)
			}
			if tc.delay > 0 {
				if _, queued := b.List(); len(queued) != 1 {
					t.Fatalf("right after Prefetch: queued %v, want the image", queued)
				}
			}
			eventually(t, "the image cached", func() bool { return isCached(b, key) })
			if took := time.Since(start); took < tc.delay {
				t.Errorf("cached after %v, before the delay %v", took, tc.delay)
			}
		})
	}
	// Close during a long delay returns at once.
	o := blobtest.NewOrigin(t, 64<<10)
	b, err := blob.Open(blob.Config{Dir: t.TempDir(), MaxSize: 1 << 30, PrefetchDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Prefetch(context.Background(), key, o.Expect(), o.Region(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { b.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for the prefetch delay")
	}
	if got := o.Requests.Load(); got != 0 {
		t.Errorf("the origin was asked %d times before the delay ended", got)
	}
}
