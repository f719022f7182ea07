// Test helpers shared with package blob's tests (blob_test.go): an origin
// that misbehaves on demand, and a blob cache to fill from it.
package site_test

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
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
