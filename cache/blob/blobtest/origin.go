package blobtest

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

	"github.com/spyglass-gateway/spyglass/backends/glance"
	"github.com/spyglass-gateway/spyglass/cache/blob"
)

// Origin is a small real HTTP server that serves one image's data the way
// Glance's GET /v2/images/{id}/file does (Range → 206), and misbehaves on
// demand in the ways a real Glance cannot be made to: it cuts a stream at a
// byte, sends wrong bytes, ignores Range, hangs, or goes slowly.
type Origin struct {
	Data []byte // the image; tests read it, never write it
	URL  string
	srv  *http.Server

	Sent     atomic.Int64 // body bytes written
	Requests atomic.Int64
	CutAt    atomic.Int64 // >0: the next response stops after this many body bytes
	Corrupt  atomic.Bool  // flip one byte in the middle
	NoRange  atomic.Bool  // answer 200 with the whole body
	Hang     atomic.Bool  // send headers, then nothing
	// HoldBody: send the headers (flushed), then no body byte until
	// Release is closed.
	HoldBody  atomic.Bool
	BytesPerS atomic.Int64  // >0: rate limit
	FirstByte chan struct{} // closed when the first body byte is written
	fbOnce    sync.Once
	// HoldAt > 0: a response stops after this many body bytes until
	// Release is closed, then goes on.
	HoldAt  atomic.Int64
	Held    chan struct{} // closed when a response reaches HoldAt
	heldOne sync.Once
	Release chan struct{}
}

// NewOrigin serves size random bytes.
func NewOrigin(t testing.TB, size int) *Origin {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	return NewOriginOf(t, data)
}

// NewOriginOf serves data (which it does not modify).
func NewOriginOf(t testing.TB, data []byte) *Origin {
	t.Helper()
	o := &Origin{Data: data, FirstByte: make(chan struct{}), Held: make(chan struct{}), Release: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.URL = "http://" + ln.Addr().String()
	o.srv = &http.Server{Handler: http.HandlerFunc(o.serve)}
	go o.srv.Serve(ln)
	t.Cleanup(func() { o.srv.Close() })
	return o
}

// Expect is what the cache must verify the image's bytes against.
func (o *Origin) Expect() blob.Expect {
	m := md5.Sum(o.Data)
	s := sha512.Sum512(o.Data)
	return blob.Expect{Size: int64(len(o.Data)), Checksum: hex.EncodeToString(m[:]), HashAlgo: "sha512", HashValue: hex.EncodeToString(s[:])}
}

func (o *Origin) serve(w http.ResponseWriter, r *http.Request) {
	o.Requests.Add(1)
	if !strings.HasSuffix(r.URL.Path, "/file") {
		http.NotFound(w, r)
		return
	}
	body := o.Data
	if o.Corrupt.Load() {
		body = append([]byte(nil), o.Data...)
		body[len(body)/2] ^= 0xff
	}
	start, end := int64(0), int64(len(body))
	status := 200
	if rng := r.Header.Get("Range"); rng != "" && !o.NoRange.Load() {
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
	if o.Hang.Load() {
		<-r.Context().Done()
		return
	}
	if o.HoldBody.Load() {
		w.(http.Flusher).Flush()
		select {
		case <-o.Release:
		case <-r.Context().Done():
			return
		}
	}
	limit := int64(-1)
	if c := o.CutAt.Swap(0); c > 0 {
		limit = c
	}
	hold := o.HoldAt.Swap(0)
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
				o.heldOne.Do(func() { close(o.Held) })
				select {
				case <-o.Release:
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
		o.fbOnce.Do(func() { close(o.FirstByte) })
		o.Sent.Add(int64(n))
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
		if bps := o.BytesPerS.Load(); bps > 0 {
			w.(http.Flusher).Flush()
			time.Sleep(time.Duration(int64(n) * int64(time.Second) / bps))
		}
	}
}

// Close stops the server: the origin is down from now on.
func (o *Origin) Close() { o.srv.Close() }

// regionOrigin is the real data client of a glance region as the cache's
// Origin, as federation wires it.
type regionOrigin struct {
	r  *glance.Region
	id string
}

func (o regionOrigin) Fetch(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	return o.r.Fetch(ctx, o.id, off, n)
}

// Region is the origin as the blob cache reads it: through a real glance
// region's data client (readTimeout bounds each read), as federation
// wires it, for image "img" of region "r1".
func (o *Origin) Region(t testing.TB, readTimeout time.Duration) blob.Origin {
	t.Helper()
	r, err := glance.New(glance.Config{Name: "r1", Endpoint: o.URL, ReadTimeout: readTimeout, BreakerOpen: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return regionOrigin{r: r, id: "img"}
}
