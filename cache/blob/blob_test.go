package blob_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/cache/blob"
	"github.com/spyglass-gateway/spyglass/cache/blob/blobtest"
)

func openBlobs(t testing.TB, dir string, max int64) *blob.Cache {
	t.Helper()
	b, err := blob.Open(blob.Config{Dir: dir, MaxSize: max, Checkpoint: 1 << 20, CheckpointInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var key = blob.Key{Region: "r1", Image: "img"}

// sectioner is the cache's Data as the gateway reads it.
type sectioner interface {
	Section(ctx context.Context, off, n int64) (io.ReadCloser, error)
}

func readAll(t testing.TB, d backends.Data) ([]byte, error) {
	t.Helper()
	sd := d.(interface {
		Section(ctx context.Context, off, n int64) (io.ReadCloser, error)
	})
	r, err := sd.Section(context.Background(), 0, d.Size())
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func isCached(b *blob.Cache, k blob.Key) bool {
	cached, _ := b.List()
	for _, c := range cached {
		if c.Key == k {
			return true
		}
	}
	return false
}

// A cold storm: many readers at once cost the origin the image once, and
// every reader gets exactly the image. 200 readers of 16 MiB took minutes
// under -race on a loaded 2-core machine, most of cache/blob's time: make
// test skips it, make bench-quick (which CI runs) runs it without -race.
func TestBlobStormOneOriginTransfer(t *testing.T) {
	if os.Getenv("SPYGLASS_BENCH") == "" {
		t.Skip("a benchmark-sized storm: run by `make bench-quick` (CI runs it), or SPYGLASS_BENCH=1 go test -run '^TestBlobStormOneOriginTransfer$' ./cache/blob/")
	}
	o := blobtest.NewOrigin(t, 16<<20)
	o.BytesPerS.Store(64 << 20)
	b := openBlobs(t, t.TempDir(), 1<<30)
	defer b.Close()
	src := o.Region(t, 5*time.Second)
	const readers = 200
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for i := 0; i < readers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := b.Open(context.Background(), key, o.Expect(), src)
			if err != nil {
				errs <- err
				return
			}
			defer d.Close()
			r, err := d.(interface {
				Section(ctx context.Context, off, n int64) (io.ReadCloser, error)
			}).Section(context.Background(), 0, d.Size())
			if err != nil {
				errs <- err
				return
			}
			defer r.Close()
			h := md5.New() // not the bytes: 200 copies would not fit under -race
			if n, err := io.Copy(h, r); err != nil || n != int64(len(o.Data)) {
				errs <- fmt.Errorf("reader: %d bytes, %v", n, err)
				return
			}
			if hex.EncodeToString(h.Sum(nil)) != o.Expect().Checksum {
				errs <- errors.New("a reader got bytes that are not the image's")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if sent := o.Sent.Load(); sent != int64(len(o.Data)) {
		t.Fatalf("origin sent %d bytes for a %d-byte image (%.2f×)", sent, len(o.Data), float64(sent)/float64(len(o.Data)))
	}
	if !isCached(b, key) {
		t.Fatal("the image is not listed as cached after the storm")
	}
	// Warm: no origin bytes.
	d, err := b.Open(context.Background(), key, o.Expect(), src)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.(interface{ File() *os.File }); !ok {
		t.Fatal("a complete entry does not offer its file for sendfile")
	}
	got, _ := readAll(t, d)
	d.Close()
	if !bytes.Equal(got, o.Data) || o.Sent.Load() != int64(len(o.Data)) {
		t.Fatal("warm read wrong or went to the origin")
	}
}

// A reader that attaches mid-fill gets bytes while the fill is still
// running: it never waits for the whole image.
func TestBlobWaiterStreamsBeforeFillEnds(t *testing.T) {
	o := blobtest.NewOrigin(t, 8<<20)
	o.BytesPerS.Store(8 << 20) // a 1 s fill
	b := openBlobs(t, t.TempDir(), 1<<30)
	defer b.Close()
	src := o.Region(t, 5*time.Second)
	first, err := b.Open(context.Background(), key, o.Expect(), src)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	<-o.FirstByte
	second, err := b.Open(context.Background(), key, o.Expect(), src)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	r, _ := second.(interface {
		Section(ctx context.Context, off, n int64) (io.ReadCloser, error)
	}).Section(context.Background(), 0, second.Size())
	buf := make([]byte, 1)
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatal(err)
	}
	if isCached(b, key) || o.Sent.Load() == int64(len(o.Data)) {
		t.Fatal("the attached reader's first byte came only after the fill ended")
	}
	rest, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(append(buf, rest...), o.Data) {
		t.Fatalf("attached reader: %v", err)
	}
}

// The origin cuts the stream at byte N: the fill resumes with a Range from
// where it stopped; readers never notice, the origin sends about one image.
func TestBlobFillResumesAfterCut(t *testing.T) {
	for _, noRange := range []bool{false, true} {
		t.Run(fmt.Sprintf("origin honours Range=%v", !noRange), func(t *testing.T) {
			o := blobtest.NewOrigin(t, 4<<20)
			o.CutAt.Store(1<<20 + 12345)
			o.NoRange.Store(noRange)
			b := openBlobs(t, t.TempDir(), 1<<30)
			defer b.Close()
			d, err := b.Open(context.Background(), key, o.Expect(), o.Region(t, 5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(t, d)
			d.Close()
			if err != nil || !bytes.Equal(got, o.Data) {
				t.Fatalf("after a cut: %v, %d bytes", err, len(got))
			}
			if o.Requests.Load() < 2 {
				t.Fatal("the fill did not resume with a second request")
			}
			limit := int64(len(o.Data)) + 1<<20 + 12345
			if noRange { // a resumed fill that ignores Range re-sends the head
				limit += int64(len(o.Data))
			}
			if o.Sent.Load() > limit {
				t.Fatalf("origin sent %d bytes", o.Sent.Load())
			}
		})
	}
}

// The origin sends wrong bytes: readers get an error, never a clean end;
// the entry is discarded and never listed or served.
func TestBlobWrongBytesAreNeverServed(t *testing.T) {
	o := blobtest.NewOrigin(t, 2<<20)
	o.Corrupt.Store(true)
	b := openBlobs(t, t.TempDir(), 1<<30)
	defer b.Close()
	src := o.Region(t, 5*time.Second)
	d, err := b.Open(context.Background(), key, o.Expect(), src)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, d)
	d.Close()
	if err == nil {
		t.Fatalf("a reader of a corrupt fill got a clean end (%d bytes)", len(got))
	}
	if isCached(b, key) {
		t.Fatal("a corrupt entry is listed as cached")
	}
	// Fixed origin: a new fill, correct bytes.
	o.Corrupt.Store(false)
	d, err = b.Open(context.Background(), key, o.Expect(), src)
	if err != nil {
		t.Fatal(err)
	}
	got, err = readAll(t, d)
	d.Close()
	if err != nil || !bytes.Equal(got, o.Data) {
		t.Fatalf("after the origin was fixed: %v", err)
	}
}

// The origin hangs: the fill gives up after its stall timeouts and a reader
// whose client went away returns at once.
func TestBlobOriginHangs(t *testing.T) {
	o := blobtest.NewOrigin(t, 1<<20)
	o.Hang.Store(true)
	b, err := blob.Open(blob.Config{Dir: t.TempDir(), MaxSize: 1 << 30, Retries: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	d, err := b.Open(context.Background(), key, o.Expect(), o.Region(t, 300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		// Section waits for the origin's answer, which never comes.
		r, err := d.(sectioner).Section(ctx, 0, d.Size())
		if err == nil {
			_, err = io.ReadAll(r)
			r.Close()
		}
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("reader after its client left: %v", err)
	}
	if _, err := readAll(t, d); err == nil {
		t.Fatal("a reader of a fill from a hung origin got a clean end")
	}
}

// The origin is down: readers get an error (the gateway answers 503), not
// a hang and not empty data.
func TestBlobOriginDown(t *testing.T) {
	o := blobtest.NewOrigin(t, 1<<20)
	exp := o.Expect()
	o.Close()
	b, err := blob.Open(blob.Config{Dir: t.TempDir(), MaxSize: 1 << 30, Retries: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	d, err := b.Open(context.Background(), key, exp, o.Region(t, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := readAll(t, d); !errors.Is(err, backends.ErrUnavailable) {
		t.Fatalf("origin down: %v, want ErrUnavailable", err)
	}
}

// A range far beyond the fill's frontier is fetched ahead with Range: its
// reader does not wait for the fill to get there, and the bytes are kept.
func TestBlobRangeAheadOfTheFill(t *testing.T) {
	o := blobtest.NewOrigin(t, 32<<20)
	o.BytesPerS.Store(8 << 20) // the fill would take 4 s to reach the end
	b := openBlobs(t, t.TempDir(), 1<<30)
	defer b.Close()
	src := o.Region(t, 5*time.Second)
	d, err := b.Open(context.Background(), key, o.Expect(), src)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	<-o.FirstByte
	off := int64(len(o.Data)) - 2<<20
	r, _ := d.(interface {
		Section(ctx context.Context, off, n int64) (io.ReadCloser, error)
	}).Section(context.Background(), off, 1<<20)
	buf := make([]byte, 1<<20-1) // all but the last byte, held back until verified
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatal(err)
	}
	if sent := o.Sent.Load(); sent > int64(len(o.Data))/2+4<<20 {
		t.Fatalf("the range reader waited for the fill (%d bytes sent)", sent)
	}
	if !bytes.Equal(buf, o.Data[off:off+int64(len(buf))]) {
		t.Fatal("range ahead: wrong bytes")
	}
	rest, err := io.ReadAll(r)
	if err != nil || len(rest) != 1 {
		t.Fatalf("last byte: %v %d", err, len(rest))
	}
	got, err := readAll(t, d)
	if err != nil || !bytes.Equal(got, o.Data) {
		t.Fatalf("whole image after a fetch ahead: %v", err)
	}
	if sent := o.Sent.Load(); sent > int64(len(o.Data))+2<<20 {
		t.Fatalf("origin sent %d bytes for %d (the fetched-ahead part was fetched twice?)", sent, len(o.Data))
	}
}

// A restart in the middle of a fill: the partial entry is not listed or
// served as complete; the next fill resumes from its last checkpoint.
func TestBlobRestartResumesPartial(t *testing.T) {
	o := blobtest.NewOrigin(t, 8<<20)
	o.BytesPerS.Store(4 << 20)
	dir := t.TempDir()
	b := openBlobs(t, dir, 1<<30)
	src := o.Region(t, 5*time.Second)
	d, err := b.Open(context.Background(), key, o.Expect(), src)
	if err != nil {
		t.Fatal(err)
	}
	for o.Sent.Load() < 4<<20 {
		time.Sleep(10 * time.Millisecond)
	}
	d.Close()
	b.Close() // stops the fill mid-way, as a crash would (the files stay)
	before := o.Sent.Load()

	o.BytesPerS.Store(0)
	b = openBlobs(t, dir, 1<<30)
	defer b.Close()
	if isCached(b, key) {
		t.Fatal("a partial entry is listed as cached after a restart")
	}
	d, err = b.Open(context.Background(), key, o.Expect(), src)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, d)
	d.Close()
	if err != nil || !bytes.Equal(got, o.Data) {
		t.Fatalf("after restart: %v", err)
	}
	if again := o.Sent.Load() - before; again > int64(len(o.Data))-2<<20 {
		t.Fatalf("the resumed fill fetched %d bytes of %d: it did not resume", again, len(o.Data))
	}
}

// A new entry's first record is written without an fsync (it holds no
// durable byte): a crash may leave it empty. The next start removes the
// entry's files, counts nothing for them, and fills the image again.
func TestBlobRestartDropsEntryWithLostFirstRecord(t *testing.T) {
	o := blobtest.NewOrigin(t, 4<<20)
	o.BytesPerS.Store(1 << 20)
	dir := t.TempDir()
	b := openBlobs(t, dir, 1<<30)
	empty := b.Stats().UsedBytes
	d, err := b.Open(context.Background(), key, o.Expect(), o.Region(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	b.Close()
	record := filepath.Join(dir, key.Region, key.Image+".json")
	if err := os.Truncate(record, 0); err != nil {
		t.Fatalf("the first record: %v", err)
	}

	o.BytesPerS.Store(0)
	b = openBlobs(t, dir, 1<<30)
	defer b.Close()
	if _, err := os.Stat(filepath.Join(dir, key.Region, key.Image+".data")); !os.IsNotExist(err) {
		t.Fatalf("the data file of an entry without a record survived the restart: %v", err)
	}
	if used := b.Stats().UsedBytes; used > empty+4096 {
		t.Fatalf("after the restart the cache counts %d bytes, %d before the entry", used, empty)
	}
	d, err = b.Open(context.Background(), key, o.Expect(), o.Region(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, d)
	d.Close()
	if err != nil || !bytes.Equal(got, o.Data) {
		t.Fatalf("after the restart: %v", err)
	}
}

// Eviction keeps the cache between its watermarks, least recently used
// first, and never evicts an entry being filled.
func TestBlobEviction(t *testing.T) {
	dir := t.TempDir()
	b := openBlobs(t, dir, 12<<20) // high 10.8 MiB, low 9.6 MiB
	defer b.Close()
	var origins []*blobtest.Origin
	keys := []blob.Key{}
	for i := 0; i < 3; i++ {
		o := blobtest.NewOrigin(t, 3<<20)
		origins = append(origins, o)
		k := blob.Key{Region: "r1", Image: fmt.Sprintf("img%d", i)}
		keys = append(keys, k)
		d, err := b.Open(context.Background(), k, o.Expect(), o.Region(t, 5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := readAll(t, d); err != nil {
			t.Fatal(err)
		}
		d.Close()
	}
	// 9 MiB cached (and their records); a fourth 3 MiB image needs room:
	// img0 (LRU) goes.
	slow := blobtest.NewOrigin(t, 3<<20)
	slow.BytesPerS.Store(2 << 20)
	k := blob.Key{Region: "r1", Image: "img3"}
	d, err := b.Open(context.Background(), k, slow.Expect(), slow.Region(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if isCached(b, keys[0]) || !isCached(b, keys[2]) {
		t.Fatal("eviction did not take the least recently used entry")
	}
	if st := b.Stats(); st.UsedBytes > st.HighBytes {
		t.Fatalf("used %d bytes, over the high watermark %d", st.UsedBytes, st.HighBytes)
	}
	// While img3 fills, prune cannot take it.
	b.Prune()
	if _, err := readAll(t, d); err != nil {
		t.Fatalf("the entry being filled was disturbed: %v", err)
	}
	d.Close()
	if !isCached(b, k) {
		t.Fatal("img3 not cached")
	}
}

// An unusable cache directory: every read is served from the origin.
func TestBlobUnwritableDirBypasses(t *testing.T) {
	o := blobtest.NewOrigin(t, 1<<20)
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o600)
	b, err := blob.Open(blob.Config{Dir: filepath.Join(f, "cache"), MaxSize: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	d, err := b.Open(context.Background(), key, o.Expect(), o.Region(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, d)
	d.Close()
	if err != nil || !bytes.Equal(got, o.Data) {
		t.Fatalf("bypass: %v", err)
	}
	if got := b.Stats().Bypasses; got.Disk != 1 || got.Total() != 1 {
		t.Fatalf("bypasses %+v, want the one read counted as disk", got)
	}
}

// SetBounds on a running cache: a smaller bound evicts least recently used
// entries down to the new low watermark at once; a bad bound changes
// nothing; a larger one lets images in that did not fit.
func TestBlobSetBounds(t *testing.T) {
	b := openBlobs(t, t.TempDir(), 10<<20)
	defer b.Close()
	var keys []blob.Key
	for i := 0; i < 2; i++ {
		o := blobtest.NewOrigin(t, 3<<20)
		k := blob.Key{Region: "r1", Image: fmt.Sprintf("img%d", i)}
		keys = append(keys, k)
		d, err := b.Open(context.Background(), k, o.Expect(), o.Region(t, 5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := readAll(t, d); err != nil {
			t.Fatal(err)
		}
		d.Close()
	}
	if err := b.SetBounds(4<<20, 0.9, 0.95); err == nil {
		t.Fatal("SetBounds with low > high succeeded")
	}
	if !isCached(b, keys[0]) || !isCached(b, keys[1]) {
		t.Fatal("a refused SetBounds evicted entries")
	}
	// 6 MiB cached; bound 5 MiB (high 4.5, low 4): img0 (LRU) goes.
	if err := b.SetBounds(5<<20, 0.9, 0.8); err != nil {
		t.Fatal(err)
	}
	if isCached(b, keys[0]) || !isCached(b, keys[1]) {
		t.Fatal("shrinking did not evict the least recently used entry only")
	}
	if used := b.Stats().UsedBytes; used > 4<<20 {
		t.Fatalf("used %d bytes after shrinking to a 4 MiB low watermark", used)
	}
	// A 6 MiB image is over 0.8×5 MiB: not cacheable, until the bound grows.
	big := blobtest.NewOrigin(t, 6<<20)
	kb := blob.Key{Region: "r1", Image: "big"}
	if err := b.Prefetch(context.Background(), kb, big.Expect(), big.Region(t, 5*time.Second)); err == nil {
		t.Fatal("prefetch of an image larger than the cache's low watermark succeeded")
	}
	if err := b.SetBounds(100<<20, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := b.Prefetch(context.Background(), kb, big.Expect(), big.Region(t, 5*time.Second)); err != nil {
		t.Fatalf("prefetch after growing the cache: %v", err)
	}
}

// waitUntil polls cond until it holds; after a minute the test fails (the
// thing waited for is not coming).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s", what)
		}
	}
}
