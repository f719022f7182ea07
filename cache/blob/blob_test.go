package blob_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/backends/glance"
	"github.com/spyglass-gateway/spyglass/cache/blob"
)

// origin is a small real HTTP server that serves one image's data the way
// Glance's GET /v2/images/{id}/file does (Range → 206), and misbehaves on
// demand in the ways a real Glance cannot be made to: it cuts a stream at a
// byte, sends wrong bytes, ignores Range, hangs, or goes slowly.
type origin struct {
	data []byte
	srv  *http.Server
	url  string

	sent      atomic.Int64 // body bytes written
	requests  atomic.Int64
	cutAt     atomic.Int64 // >0: the next response stops after this many body bytes
	corrupt   atomic.Bool  // flip one byte in the middle
	noRange   atomic.Bool  // answer 200 with the whole body
	hang      atomic.Bool  // send headers, then nothing
	bytesPerS atomic.Int64 // >0: rate limit
	firstByte chan struct{}
	fbOnce    sync.Once
	// holdAt > 0: a response stops after this many body bytes until
	// release is closed, then goes on.
	holdAt  atomic.Int64
	held    chan struct{} // closed when a response reaches holdAt
	heldOne sync.Once
	release chan struct{}
}

func newOrigin(t testing.TB, size int) *origin {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	return newOriginOf(t, data)
}

// newOriginOf serves data (which it does not modify).
func newOriginOf(t testing.TB, data []byte) *origin {
	t.Helper()
	o := &origin{data: data, firstByte: make(chan struct{}), held: make(chan struct{}), release: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.url = "http://" + ln.Addr().String()
	o.srv = &http.Server{Handler: http.HandlerFunc(o.serve)}
	go o.srv.Serve(ln)
	t.Cleanup(func() { o.srv.Close() })
	return o
}

func (o *origin) expect() blob.Expect {
	m := md5.Sum(o.data)
	s := sha512.Sum512(o.data)
	return blob.Expect{Size: int64(len(o.data)), Checksum: hex.EncodeToString(m[:]), HashAlgo: "sha512", HashValue: hex.EncodeToString(s[:])}
}

func (o *origin) serve(w http.ResponseWriter, r *http.Request) {
	o.requests.Add(1)
	if !strings.HasSuffix(r.URL.Path, "/file") {
		http.NotFound(w, r)
		return
	}
	body := o.data
	if o.corrupt.Load() {
		body = append([]byte(nil), o.data...)
		body[len(body)/2] ^= 0xff
	}
	start, end := int64(0), int64(len(body))
	status := 200
	if rng := r.Header.Get("Range"); rng != "" && !o.noRange.Load() {
		spec := strings.TrimPrefix(rng, "bytes=")
		a, b, _ := strings.Cut(spec, "-")
		start, _ = strconv.ParseInt(a, 10, 64)
		if b != "" {
			e, _ := strconv.ParseInt(b, 10, 64)
			end = e + 1
		}
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end-1, len(body)))
		status = 206
	}
	w.Header().Set("Content-Length", strconv.FormatInt(end-start, 10))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(status)
	if o.hang.Load() {
		<-r.Context().Done()
		return
	}
	limit := int64(-1)
	if c := o.cutAt.Swap(0); c > 0 {
		limit = c
	}
	hold := o.holdAt.Swap(0)
	out := body[start:end]
	for written := int64(0); len(out) > 0; {
		n := min(len(out), 64<<10)
		if limit >= 0 && int64(n) > limit {
			n = int(limit)
		}
		if hold > 0 && written+int64(n) > hold {
			n = int(hold - written)
			if n == 0 {
				w.(http.Flusher).Flush()
				o.heldOne.Do(func() { close(o.held) })
				select {
				case <-o.release:
				case <-r.Context().Done():
					return
				}
				hold = 0
				continue
			}
		}
		if n == 0 {
			break
		}
		written += int64(n)
		if _, err := w.Write(out[:n]); err != nil {
			return
		}
		o.fbOnce.Do(func() { close(o.firstByte) })
		o.sent.Add(int64(n))
		out = out[n:]
		if limit >= 0 {
			limit -= int64(n)
			if limit == 0 {
				// Cut the connection mid-body.
				if hj, ok := w.(http.Hijacker); ok {
					if c, _, err := hj.Hijack(); err == nil {
						c.Close()
					}
				}
				return
			}
		}
		if bps := o.bytesPerS.Load(); bps > 0 {
			w.(http.Flusher).Flush()
			time.Sleep(time.Duration(int64(n) * int64(time.Second) / bps))
		}
	}
}

// regionOrigin is the real data client of a glance region as the cache's
// Origin, as federation wires it.
type regionOrigin struct {
	r  *glance.Region
	id string
}

func (o regionOrigin) Fetch(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	return o.r.Fetch(ctx, o.id, off, n)
}

func originFor(t testing.TB, o *origin, readTimeout time.Duration) blob.Origin {
	t.Helper()
	r, err := glance.New(glance.Config{Name: "r1", Endpoint: o.url, ReadTimeout: readTimeout, BreakerOpen: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return regionOrigin{r: r, id: "img"}
}

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
// every reader gets exactly the image.
func TestBlobStormOneOriginTransfer(t *testing.T) {
	o := newOrigin(t, 16<<20)
	o.bytesPerS.Store(64 << 20)
	b := openBlobs(t, t.TempDir(), 1<<30)
	defer b.Close()
	src := originFor(t, o, 5*time.Second)
	const readers = 200
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for i := 0; i < readers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := b.Open(context.Background(), key, o.expect(), src)
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
			if n, err := io.Copy(h, r); err != nil || n != int64(len(o.data)) {
				errs <- fmt.Errorf("reader: %d bytes, %v", n, err)
				return
			}
			if hex.EncodeToString(h.Sum(nil)) != o.expect().Checksum {
				errs <- errors.New("a reader got bytes that are not the image's")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if sent := o.sent.Load(); sent != int64(len(o.data)) {
		t.Fatalf("origin sent %d bytes for a %d-byte image (%.2f×)", sent, len(o.data), float64(sent)/float64(len(o.data)))
	}
	if !isCached(b, key) {
		t.Fatal("the image is not listed as cached after the storm")
	}
	// Warm: no origin bytes.
	d, err := b.Open(context.Background(), key, o.expect(), src)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.(interface{ File() *os.File }); !ok {
		t.Fatal("a complete entry does not offer its file for sendfile")
	}
	got, _ := readAll(t, d)
	d.Close()
	if !bytes.Equal(got, o.data) || o.sent.Load() != int64(len(o.data)) {
		t.Fatal("warm read wrong or went to the origin")
	}
}

// A reader that attaches mid-fill gets bytes while the fill is still
// running: it never waits for the whole image.
func TestBlobWaiterStreamsBeforeFillEnds(t *testing.T) {
	o := newOrigin(t, 8<<20)
	o.bytesPerS.Store(8 << 20) // a 1 s fill
	b := openBlobs(t, t.TempDir(), 1<<30)
	defer b.Close()
	src := originFor(t, o, 5*time.Second)
	first, err := b.Open(context.Background(), key, o.expect(), src)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	<-o.firstByte
	second, err := b.Open(context.Background(), key, o.expect(), src)
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
	if isCached(b, key) || o.sent.Load() == int64(len(o.data)) {
		t.Fatal("the attached reader's first byte came only after the fill ended")
	}
	rest, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(append(buf, rest...), o.data) {
		t.Fatalf("attached reader: %v", err)
	}
}

// The origin cuts the stream at byte N: the fill resumes with a Range from
// where it stopped; readers never notice, the origin sends about one image.
func TestBlobFillResumesAfterCut(t *testing.T) {
	for _, noRange := range []bool{false, true} {
		t.Run(fmt.Sprintf("origin honours Range=%v", !noRange), func(t *testing.T) {
			o := newOrigin(t, 4<<20)
			o.cutAt.Store(1<<20 + 12345)
			o.noRange.Store(noRange)
			b := openBlobs(t, t.TempDir(), 1<<30)
			defer b.Close()
			d, err := b.Open(context.Background(), key, o.expect(), originFor(t, o, 5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(t, d)
			d.Close()
			if err != nil || !bytes.Equal(got, o.data) {
				t.Fatalf("after a cut: %v, %d bytes", err, len(got))
			}
			if o.requests.Load() < 2 {
				t.Fatal("the fill did not resume with a second request")
			}
			limit := int64(len(o.data)) + 1<<20 + 12345
			if noRange { // a resumed fill that ignores Range re-sends the head
				limit += int64(len(o.data))
			}
			if o.sent.Load() > limit {
				t.Fatalf("origin sent %d bytes", o.sent.Load())
			}
		})
	}
}

// The origin sends wrong bytes: readers get an error, never a clean end;
// the entry is discarded and never listed or served.
func TestBlobWrongBytesAreNeverServed(t *testing.T) {
	o := newOrigin(t, 2<<20)
	o.corrupt.Store(true)
	b := openBlobs(t, t.TempDir(), 1<<30)
	defer b.Close()
	src := originFor(t, o, 5*time.Second)
	d, err := b.Open(context.Background(), key, o.expect(), src)
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
	o.corrupt.Store(false)
	d, err = b.Open(context.Background(), key, o.expect(), src)
	if err != nil {
		t.Fatal(err)
	}
	got, err = readAll(t, d)
	d.Close()
	if err != nil || !bytes.Equal(got, o.data) {
		t.Fatalf("after the origin was fixed: %v", err)
	}
}

// The origin hangs: the fill gives up after its stall timeouts and a reader
// whose client went away returns at once.
func TestBlobOriginHangs(t *testing.T) {
	o := newOrigin(t, 1<<20)
	o.hang.Store(true)
	b, err := blob.Open(blob.Config{Dir: t.TempDir(), MaxSize: 1 << 30, Retries: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	d, err := b.Open(context.Background(), key, o.expect(), originFor(t, o, 300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithCancel(context.Background())
	r, _ := d.(interface {
		Section(ctx context.Context, off, n int64) (io.ReadCloser, error)
	}).Section(ctx, 0, d.Size())
	done := make(chan error, 1)
	go func() { _, err := io.ReadAll(r); done <- err }()
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
	o := newOrigin(t, 1<<20)
	exp := o.expect()
	o.srv.Close()
	b, err := blob.Open(blob.Config{Dir: t.TempDir(), MaxSize: 1 << 30, Retries: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	d, err := b.Open(context.Background(), key, exp, originFor(t, o, time.Second))
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
	o := newOrigin(t, 32<<20)
	o.bytesPerS.Store(8 << 20) // the fill would take 4 s to reach the end
	b := openBlobs(t, t.TempDir(), 1<<30)
	defer b.Close()
	src := originFor(t, o, 5*time.Second)
	d, err := b.Open(context.Background(), key, o.expect(), src)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	<-o.firstByte
	off := int64(len(o.data)) - 2<<20
	r, _ := d.(interface {
		Section(ctx context.Context, off, n int64) (io.ReadCloser, error)
	}).Section(context.Background(), off, 1<<20)
	buf := make([]byte, 1<<20-1) // all but the last byte, held back until verified
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatal(err)
	}
	if sent := o.sent.Load(); sent > int64(len(o.data))/2+4<<20 {
		t.Fatalf("the range reader waited for the fill (%d bytes sent)", sent)
	}
	if !bytes.Equal(buf, o.data[off:off+int64(len(buf))]) {
		t.Fatal("range ahead: wrong bytes")
	}
	rest, err := io.ReadAll(r)
	if err != nil || len(rest) != 1 {
		t.Fatalf("last byte: %v %d", err, len(rest))
	}
	got, err := readAll(t, d)
	if err != nil || !bytes.Equal(got, o.data) {
		t.Fatalf("whole image after a fetch ahead: %v", err)
	}
	if sent := o.sent.Load(); sent > int64(len(o.data))+2<<20 {
		t.Fatalf("origin sent %d bytes for %d (the fetched-ahead part was fetched twice?)", sent, len(o.data))
	}
}

// A restart in the middle of a fill: the partial entry is not listed or
// served as complete; the next fill resumes from its last checkpoint.
func TestBlobRestartResumesPartial(t *testing.T) {
	o := newOrigin(t, 8<<20)
	o.bytesPerS.Store(4 << 20)
	dir := t.TempDir()
	b := openBlobs(t, dir, 1<<30)
	src := originFor(t, o, 5*time.Second)
	d, err := b.Open(context.Background(), key, o.expect(), src)
	if err != nil {
		t.Fatal(err)
	}
	for o.sent.Load() < 4<<20 {
		time.Sleep(10 * time.Millisecond)
	}
	d.Close()
	b.Close() // stops the fill mid-way, as a crash would (the files stay)
	before := o.sent.Load()

	o.bytesPerS.Store(0)
	b = openBlobs(t, dir, 1<<30)
	defer b.Close()
	if isCached(b, key) {
		t.Fatal("a partial entry is listed as cached after a restart")
	}
	d, err = b.Open(context.Background(), key, o.expect(), src)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, d)
	d.Close()
	if err != nil || !bytes.Equal(got, o.data) {
		t.Fatalf("after restart: %v", err)
	}
	if again := o.sent.Load() - before; again > int64(len(o.data))-2<<20 {
		t.Fatalf("the resumed fill fetched %d bytes of %d: it did not resume", again, len(o.data))
	}
}

// Eviction keeps the cache between its watermarks, least recently used
// first, and never evicts an entry being filled.
func TestBlobEviction(t *testing.T) {
	dir := t.TempDir()
	b := openBlobs(t, dir, 12<<20) // high 10.8 MiB, low 9.6 MiB
	defer b.Close()
	var origins []*origin
	keys := []blob.Key{}
	for i := 0; i < 3; i++ {
		o := newOrigin(t, 3<<20)
		origins = append(origins, o)
		k := blob.Key{Region: "r1", Image: fmt.Sprintf("img%d", i)}
		keys = append(keys, k)
		d, err := b.Open(context.Background(), k, o.expect(), originFor(t, o, 5*time.Second))
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
	slow := newOrigin(t, 3<<20)
	slow.bytesPerS.Store(2 << 20)
	k := blob.Key{Region: "r1", Image: "img3"}
	d, err := b.Open(context.Background(), k, slow.expect(), originFor(t, slow, 5*time.Second))
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
	o := newOrigin(t, 1<<20)
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o600)
	b, err := blob.Open(blob.Config{Dir: filepath.Join(f, "cache"), MaxSize: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	d, err := b.Open(context.Background(), key, o.expect(), originFor(t, o, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, d)
	d.Close()
	if err != nil || !bytes.Equal(got, o.data) {
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
		o := newOrigin(t, 3<<20)
		k := blob.Key{Region: "r1", Image: fmt.Sprintf("img%d", i)}
		keys = append(keys, k)
		d, err := b.Open(context.Background(), k, o.expect(), originFor(t, o, 5*time.Second))
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
	big := newOrigin(t, 6<<20)
	kb := blob.Key{Region: "r1", Image: "big"}
	if err := b.Prefetch(context.Background(), kb, big.expect(), originFor(t, big, 5*time.Second)); err == nil {
		t.Fatal("prefetch of an image larger than the cache's low watermark succeeded")
	}
	if err := b.SetBounds(100<<20, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := b.Prefetch(context.Background(), kb, big.expect(), originFor(t, big, 5*time.Second)); err != nil {
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
