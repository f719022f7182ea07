package blob_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/cache/blob"
	"github.com/spyglass-gateway/spyglass/cache/blob/blobtest"
)

// diskUsage is what du says of dir: the apparent size of every file and
// directory under it (itself included), and the blocks they take. Files
// that go while it walks are skipped.
func diskUsage(dir string) (apparent, allocated int64) {
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		apparent += info.Size()
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			allocated += st.Blocks * 512
		}
		return nil
	})
	return apparent, allocated
}

// boundSampler measures the cache directory (du-style) and the cache's
// own count over and over while fills run, and remembers every sample over
// the bound in force when the sample began.
type boundSampler struct {
	dir   string
	b     *blob.Cache
	bound atomic.Int64

	samples            atomic.Int64
	maxApparent, maxDu atomic.Int64
	mu                 sync.Mutex
	over               []string
	stop, done         chan struct{}
}

func startBoundSampler(dir string, b *blob.Cache, bound int64) *boundSampler {
	s := &boundSampler{dir: dir, b: b, stop: make(chan struct{}), done: make(chan struct{})}
	s.bound.Store(bound)
	go func() {
		defer close(s.done)
		for {
			select {
			case <-s.stop:
				return
			default:
			}
			bound := s.bound.Load()
			apparent, allocated := diskUsage(s.dir)
			used := s.b.Stats().UsedBytes
			s.samples.Add(1)
			if apparent > s.maxApparent.Load() {
				s.maxApparent.Store(apparent)
			}
			if allocated > s.maxDu.Load() {
				s.maxDu.Store(allocated)
			}
			if apparent > bound || allocated > bound || used > bound {
				s.mu.Lock()
				if len(s.over) < 10 {
					s.over = append(s.over, fmt.Sprintf("sample %d: apparent %d, on disk %d, counted %d; bound %d",
						s.samples.Load(), apparent, allocated, used, bound))
				}
				s.mu.Unlock()
			}
			time.Sleep(time.Millisecond)
		}
	}()
	return s
}

// check stops the sampler and fails t for every sample over the bound.
func (s *boundSampler) check(t *testing.T, minSamples int64) {
	t.Helper()
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.over {
		t.Error(o)
	}
	if n := s.samples.Load(); n < minSamples {
		t.Errorf("only %d samples of the directory while the fills ran", n)
	}
	t.Logf("%d samples; at most %.1f MiB apparent, %.1f MiB on disk", s.samples.Load(),
		float64(s.maxApparent.Load())/(1<<20), float64(s.maxDu.Load())/(1<<20))
}

// readImage reads [off, off+n) of k through b and returns its MD5.
func readImage(b *blob.Cache, k blob.Key, exp blob.Expect, src blob.Origin, off, n int64) (string, error) {
	d, err := b.Open(context.Background(), k, exp, src)
	if err != nil {
		return "", err
	}
	defer d.Close()
	r, err := d.(sectioner).Section(context.Background(), off, n)
	if err != nil {
		return "", err
	}
	defer r.Close()
	h := md5.New()
	got, err := io.Copy(h, r)
	if err == nil && got != n {
		err = fmt.Errorf("%d bytes of %d", got, n)
	}
	return hex.EncodeToString(h.Sum(nil)), err
}

func md5Of(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// Ten concurrent fills of 16 MiB images into a 64 MiB cache: the cache
// directory (du's apparent size and its blocks) stays under max_size at
// every sample while they run; the fills that find no room stream from the
// origin, uncached and counted, and every reader gets the image. One image's
// record says a size its data does not have: its fill is verified and
// discarded, within its reservation. Then a second wave, with the complete
// entries of the first evicted to make room, and the bound lowered to
// 32 MiB (as SIGHUP does) while it runs: the fills that no longer fit stop,
// their readers go on from the origin, and the directory is under the new
// bound from then on.
func TestBlobConcurrentFillsStayUnderMaxSize(t *testing.T) {
	const maxSize, size = 64 << 20, 16 << 20
	o := blobtest.NewOrigin(t, size)
	o.BytesPerS.Store(16 << 20) // a 1 s fill: they all run at once
	src := o.Region(t, time.Minute)
	exp := o.Expect()
	liar := exp
	liar.Size = size - 5000 // what its record says; its bytes are the others'

	dir := filepath.Join(t.TempDir(), "cache")
	b := openBlobs(t, dir, maxSize)
	defer b.Close()
	sampler := startBoundSampler(dir, b, maxSize)

	wave := func(first, n int, during func()) {
		var wg sync.WaitGroup
		for i := first; i < first+n; i++ {
			k := blob.Key{Region: "r1", Image: fmt.Sprintf("img%d", i)}
			imgExp := exp
			if i == first {
				imgExp = liar
			}
			for r := range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					off, n := int64(0), int64(size)
					if r == 2 {
						off, n = 3<<20+17, 5<<20 // a range, as a client resuming
					}
					if imgExp == liar {
						readImage(b, k, imgExp, src, 0, imgExp.Size) // an error when cached; unverified when not
						return
					}
					sum, err := readImage(b, k, imgExp, src, off, n)
					if err != nil || sum != md5Of(o.Data[off:off+n]) {
						t.Errorf("%s reader %d: %v (md5 %s)", k.Image, r, err, sum)
					}
				}()
			}
		}
		if during != nil {
			during()
		}
		wg.Wait()
	}

	wave(0, 10, nil)
	st := b.Stats()
	cached, _ := b.List()
	t.Logf("first wave: %d cached, bypasses %+v, %d fills (%d failed)", len(cached), st.Bypasses, st.Fills, st.FillsFailed)
	if st.Bypasses.Full == 0 {
		t.Errorf("ten 16 MiB fills at once into 64 MiB: no read was counted as bypassed for want of room (%+v)", st.Bypasses)
	}
	if len(cached) == 0 || len(cached) > 3 {
		t.Errorf("%d entries cached; want 1 to 3 of 16 MiB under 64 MiB", len(cached))
	}
	if isCached(b, blob.Key{Region: "r1", Image: "img0"}) {
		t.Error("the image whose size does not match its record is cached")
	}
	if st.BypassBytes == 0 {
		t.Error("no bytes counted as streamed through uncached")
	}

	// Second wave; the bound goes down to 32 MiB once its fills run.
	wave(10, 10, func() {
		waitUntil(t, "the second wave's fills", func() bool { return b.Stats().FillsInFlight >= 2 })
		if err := b.SetBounds(32<<20, 0, 0); err != nil {
			t.Fatal(err)
		}
		sampler.bound.Store(32 << 20)
	})
	sampler.check(t, 20)
	if st := b.Stats(); st.Evictions == 0 || st.UsedBytes > 32<<20 {
		t.Errorf("after the second wave: %d evictions, %d bytes counted under a 32 MiB bound", st.Evictions, st.UsedBytes)
	}
}

// A cache reopened with a smaller bound than the run that filled it
// evicts what the previous run left (complete and partial entries) down to
// the new bound before it takes anything.
func TestBlobReopenUnderASmallerBound(t *testing.T) {
	o := blobtest.NewOrigin(t, 4<<20)
	src := o.Region(t, time.Minute)
	dir := filepath.Join(t.TempDir(), "cache")
	b := openBlobs(t, dir, 64<<20)
	for i := range 3 {
		k := blob.Key{Region: "r1", Image: fmt.Sprintf("img%d", i)}
		if _, err := readImage(b, k, o.Expect(), src, 0, 4<<20); err != nil {
			t.Fatal(err)
		}
	}
	// A partial entry, left by a fill stopped mid-way.
	o.HoldAt.Store(2 << 20)
	d, err := b.Open(context.Background(), blob.Key{Region: "r1", Image: "partial"}, o.Expect(), src)
	if err != nil {
		t.Fatal(err)
	}
	<-o.Held
	waitUntil(t, "a checkpoint of the partial entry", func() bool {
		p := b.Partial()
		return len(p) == 1 && p[0].Have >= 1<<20
	})
	d.Close()
	b.Close()
	close(o.Release)
	if _, onDisk := diskUsage(dir); onDisk < 13<<20 {
		t.Fatalf("the first run left %d bytes", onDisk)
	}

	b = openBlobs(t, dir, 8<<20)
	defer b.Close()
	apparent, onDisk := diskUsage(dir)
	if st := b.Stats(); st.UsedBytes > 8<<20 || apparent > 8<<20 || onDisk > 8<<20 {
		t.Fatalf("reopened under 8 MiB: counted %d, apparent %d, on disk %d", st.UsedBytes, apparent, onDisk)
	}
	// And it still fills.
	k := blob.Key{Region: "r1", Image: "after"}
	if _, err := readImage(b, k, o.Expect(), src, 0, 4<<20); err != nil || !isCached(b, k) {
		t.Fatalf("a fill after reopening: %v, cached %v", err, isCached(b, k))
	}
}

// A prefetch that finds no room (a fill being read holds it) is skipped:
// it starts no fill, takes no room, and is not a bypass (nothing was read).
func TestBlobPrefetchWithNoRoomIsSkipped(t *testing.T) {
	o := blobtest.NewOrigin(t, 16<<20)
	o.HoldAt.Store(1 << 20)
	b := openBlobs(t, t.TempDir(), 32<<20) // one 16 MiB entry fits, not two
	defer b.Close()
	reading, err := b.Open(context.Background(), key, o.Expect(), o.Region(t, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer reading.Close()
	<-o.Held
	other := blobtest.NewOriginOf(t, o.Data)
	k := blob.Key{Region: "r1", Image: "prefetched"}
	if err := b.Prefetch(context.Background(), k, other.Expect(), other.Region(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the prefetcher to take the queued image", func() bool { _, q := b.List(); return len(q) == 0 })
	for _, p := range b.Partial() {
		if p.Key == k {
			t.Fatal("a prefetch with no room started a fill")
		}
	}
	if st := b.Stats(); st.Bypasses.Total() != 0 || st.UsedBytes > st.MaxBytes {
		t.Fatalf("after a skipped prefetch: %+v", st)
	}
	close(o.Release)
	if _, err := readAll(t, reading); err != nil {
		t.Fatal(err)
	}
	if got := other.Requests.Load(); got != 0 {
		t.Fatalf("the skipped prefetch made %d requests", got)
	}
}
