package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/spyglass-gateway/spyglass/backends/glance"
	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
	"github.com/spyglass-gateway/spyglass/backends/local"
	"github.com/spyglass-gateway/spyglass/cache/blob"
	"github.com/spyglass-gateway/spyglass/cache/meta"
	"github.com/spyglass-gateway/spyglass/federation"
	"github.com/spyglass-gateway/spyglass/gateway"
	"github.com/spyglass-gateway/spyglass/policy"
)

// The image data paths written as the careless or hostile requests of
// issue 20 (items 3, 7, 8, 11 and 12), on the embedded store and through a
// real Glance region: uploads cut off, ranges that overflow, downloads
// from a failing region, answers given before a large body was read.

// dataServer is Spyglass over one topology, with what the tests look at
// behind it.
type dataServer struct {
	*testServer
	dir    string // the embedded store's directory; "" for a region
	glance string // the Glance region's URL; "" for the embedded store
	// glanceLog is that Glance's API log, where it writes each request
	// once it has answered it ("" when not a real Glance).
	glanceLog string
	metrics   *gateway.RequestMetrics
}

// startData starts Spyglass over a topology with cfg (its Metrics set).
type startData func(t testing.TB, cfg gateway.Config) *dataServer

func startEmbedded(t testing.TB, cfg gateway.Config) *dataServer {
	t.Helper()
	dir := t.TempDir()
	store, err := local.Open(dir, local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ds := serveData(t, cfg, store)
	ds.dir = dir
	return ds
}

// startGlanceRegion serves a Glance region at endpoint as `spyglass serve`
// does (metadata and image data caches); withBlobs false leaves the image
// data cache out; readTimeout is the region's (0: its default).
func startGlanceRegion(endpoint, glanceLog string, withBlobs bool, readTimeout time.Duration) startData {
	return func(t testing.TB, cfg gateway.Config) *dataServer {
		t.Helper()
		region, err := glance.New(glance.Config{Name: "origin", Endpoint: endpoint, ReadTimeout: readTimeout})
		if err != nil {
			t.Fatal(err)
		}
		// A small cache: a default one takes seconds to allocate.
		meta, err := meta.New(meta.Config{TTL: time.Minute, Name: "origin", MaxEntries: 10_000})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(meta.Close)
		fc := federation.Config{Regions: []federation.RegionConfig{{Name: "origin", Region: federation.RegionOf(region), Meta: meta}}}
		if withBlobs {
			blobs, err := blob.Open(blob.Config{Dir: t.TempDir(), MaxSize: 1 << 30, Retries: 1})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { blobs.Close() })
			fc.Blobs = blobs
		}
		cat, err := federation.New(fc)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cat.Close)
		ds := serveData(t, cfg, cat)
		ds.glance, ds.glanceLog = endpoint, glanceLog
		return ds
	}
}

func serveData(t testing.TB, cfg gateway.Config, cat any) *dataServer {
	t.Helper()
	if cfg.Metrics == nil {
		cfg.Metrics = gateway.NewRequestMetrics()
	}
	auth, err := policy.NewAuthenticator("trusted")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := gateway.New(cfg, gateway.CatalogOf(cat), auth)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return &dataServer{testServer: &testServer{url: "http://" + ln.Addr().String(), srv: srv}, metrics: cfg.Metrics}
}

// dataTests run on every topology.
var dataTests = []struct {
	name string
	run  func(t *testing.T, start startData)
}{
	{"3 an upload cut off stays queued", testUploadCutOff},
	{"3 the last chunk with its trailer cut short is complete", testLastChunkComplete},
	{"7 Range and Content-Range answered as Glance", testDownloadRanges},
	{"11 a second concurrent upload gets 409", testSecondUpload},
	{"12 an answer before a large body reaches the client", testEarlyAnswer},
	{"an upload slower than ReadTimeout completes", testSlowUpload},
}

func TestDataPathsEmbedded(t *testing.T) {
	for _, tc := range dataTests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, startEmbedded) })
	}
}

// TestDataPathsGlanceRegion runs them through a real Glance region (one
// for all: it takes seconds to start), then stops it.
func TestDataPathsGlanceRegion(t *testing.T) {
	g := glancetest.StartT(t)
	apiLog := filepath.Join(g.Dir, "api.log")
	start := startGlanceRegion(g.URL, apiLog, true, 0)
	for _, tc := range dataTests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, start) })
	}
	t.Run("an upload slower than the region's read_timeout completes", func(t *testing.T) {
		id := start(t, gateway.Config{}).create(t)
		ts := startGlanceRegion(g.URL, apiLog, true, 2*time.Second)(t, gateway.Config{})
		slowUpload(t, ts, id, 40)
	})
	t.Run("8 a download with the region stopped is a 503", func(t *testing.T) {
		ts := start(t, gateway.Config{})
		data := bytes.Repeat([]byte("spyglass"), 64<<10)
		id := ts.upload(t, data)
		ts.json(t, p1, "GET", "/v2/images/"+id, nil, 200) // the record is cached
		g.Stop()
		c := ts.dial(t)
		c.head(t, "GET", "/v2/images/"+id+"/file")
		resp, body := c.response(t)
		if got, want := resp.StatusCode, 503; got != want {
			t.Fatalf("status %d %q, want %d", got, body, want)
		}
		if got, want := string(body), remoteUnavailable; got != want {
			t.Fatalf("body %q, want Glance's %q", got, want)
		}
	})
}

// remoteUnavailable is Glance's answer when the store holding an image's
// data cannot be reached (glance_store's RemoteServiceUnavailable).
const remoteUnavailable = "503 Service Unavailable\n\nRemote server where the image is present is unavailable.\n\n   "

// testUploadCutOff: a PUT /file or /stage whose body ends before HTTP says
// it ends — the client went away — is no upload: the image stays queued,
// as Glance keeps it, with nothing stored; through a region, the region
// sees the broken upload and keeps its image queued too.
func testUploadCutOff(t *testing.T, start startData) {
	ts := start(t, gateway.Config{})
	half := strings.Repeat("x", 50000)
	for _, target := range []string{"file", "stage"} {
		for _, cut := range []struct {
			name    string
			framing []string
			body    string
		}{
			{"chunked, cut at a chunk boundary", chunked, "5\r\nhello\r\n"},
			{"chunked, cut inside a chunk", chunked, "a\r\nhello"},
			{"chunked, cut inside a chunk size", chunked, "5\r\nhello\r\n5"},
			{"chunked, a large chunk cut at its boundary", chunked, fmt.Sprintf("%x\r\n%s\r\n", len(half), half)},
			{"Content-Length, fewer bytes", []string{"Content-Length", "100000"}, half},
		} {
			t.Run(target+": "+cut.name, func(t *testing.T) {
				id := ts.create(t)
				c := ts.dial(t)
				c.head(t, "PUT", "/v2/images/"+id+"/"+target, append([]string{"Content-Type", "application/octet-stream"}, cut.framing...)...)
				c.send(t, cut.body)
				c.CloseWrite() // gone: nothing more comes
				resp, body := c.response(t)
				if got, want := resp.StatusCode, 400; got != want {
					t.Fatalf("status %d %q, want %d", got, body, want)
				}
				ts.wantQueued(t, id, target)
			})
		}
	}
}

var chunked = []string{"Transfer-Encoding", "chunked"}

// testLastChunkComplete: the last (zero) chunk arrived and then the client
// closed without the final CRLF: the body is whole, and Glance takes it.
func testLastChunkComplete(t *testing.T, start startData) {
	ts := start(t, gateway.Config{})
	id := ts.create(t)
	c := ts.dial(t)
	c.head(t, "PUT", "/v2/images/"+id+"/file", append([]string{"Content-Type", "application/octet-stream"}, chunked...)...)
	c.send(t, "5\r\nhello\r\n0\r\n")
	c.CloseWrite()
	resp, body := c.response(t)
	if got, want := resp.StatusCode, 204; got != want {
		t.Fatalf("status %d %q, want %d", got, body, want)
	}
	img := ts.json(t, p1, "GET", "/v2/images/"+id, nil, 200)
	if img["status"] != "active" || img["size"] != 5.0 {
		t.Fatalf("image %v %v, want active of 5 bytes", img["status"], img["size"])
	}
}

// testDownloadRanges: every Range and Content-Range of the oracle's table,
// on images of 1000, 0 and 1 bytes: Glance's status, span and message, and
// a Content-Length that is the count of bytes sent (Go's client fails a
// body shorter than it).
func testDownloadRanges(t *testing.T, start startData) {
	ts := start(t, gateway.Config{})
	images := map[int64][]byte{1000: make([]byte, 1000), 0: {}, 1: {'x'}}
	for i := range images[1000] {
		images[1000][i] = byte(i * 7)
	}
	ids := map[int64]string{}
	for size, data := range images {
		ids[size] = ts.upload(t, data)
	}
	for _, tc := range gateway.RangeOracle {
		resp, body := ts.do(t, p1, "GET", "/v2/images/"+ids[tc.Size]+"/file", nil, tc.Header, tc.Value)
		where := fmt.Sprintf("size %d, %s: %q", tc.Size, tc.Header, tc.Value)
		if got, want := resp.StatusCode, tc.Status; got != want {
			t.Errorf("%s: status %d %q, want %d", where, got, body, want)
			continue
		}
		if got, want := resp.ContentLength, int64(len(body)); got != want {
			t.Errorf("%s: Content-Length %d, %d bytes sent", where, got, want)
		}
		switch tc.Status {
		case 206:
			want := fmt.Sprintf("bytes %d-%d/%d", tc.Start, tc.Start+tc.Length-1, tc.Size)
			if got := resp.Header.Get("Content-Range"); got != want {
				t.Errorf("%s: Content-Range %q, want %q", where, got, want)
			}
			if !bytes.Equal(body, images[tc.Size][tc.Start:tc.Start+tc.Length]) {
				t.Errorf("%s: %d bytes, not the image's [%d, +%d)", where, len(body), tc.Start, tc.Length)
			}
		case 416:
			want := "416 Request Range Not Satisfiable\n\nThe Range requested is not available.\n\n " + tc.Message + "  "
			if got := string(body); got != want {
				t.Errorf("%s: body\n got %q\nwant %q", where, got, want)
			}
		default:
			if !strings.Contains(string(body), tc.Message) {
				t.Errorf("%s: body %q, want %q in it", where, body, tc.Message)
			}
		}
	}
}

// testSecondUpload: a second upload while the first streams is Glance's
// 409, and the client reads it even with a large body it is still sending.
func testSecondUpload(t *testing.T, start startData) {
	ts := start(t, gateway.Config{})
	for _, tc := range []struct{ target, status string }{{"file", "saving"}, {"stage", "uploading"}} {
		t.Run(tc.target, func(t *testing.T) {
			id := ts.create(t)
			first := ts.dial(t)
			first.head(t, "PUT", "/v2/images/"+id+"/"+tc.target, append([]string{"Content-Type", "application/octet-stream"}, chunked...)...)
			first.send(t, "5\r\nhello\r\n")
			ts.waitStatus(t, id, tc.status)

			second := ts.dial(t)
			const size = 4 << 20
			second.head(t, "PUT", "/v2/images/"+id+"/"+tc.target, "Content-Type", "application/octet-stream", "Content-Length", strconv.Itoa(size))
			second.sendSlowly(t, size, false)
			resp, body := second.response(t)
			if got, want := resp.StatusCode, 409; got != want {
				t.Fatalf("second upload: status %d %q, want %d", got, body, want)
			}
			want := "409 Conflict\n\nImage status transition from " + tc.status + " to " + tc.status + " is not allowed\n\n   "
			if got := string(body); got != want {
				t.Fatalf("second upload: body %q, want Glance's %q", got, want)
			}

			first.send(t, "0\r\n\r\n")
			if resp, body := first.response(t); resp.StatusCode != 204 {
				t.Fatalf("first upload: status %d %q", resp.StatusCode, body)
			}
			img := ts.json(t, p1, "GET", "/v2/images/"+id, nil, 200)
			if img["size"] != 5.0 {
				t.Fatalf("size %v, want the first upload's 5", img["size"])
			}
		})
	}
}

// testEarlyAnswer: requests Spyglass answers before reading their large
// bodies; the client sends the whole body, slowly, and then reads the
// answer, as python-glanceclient does: no connection reset on the way.
func testEarlyAnswer(t *testing.T, start startData) {
	ts := start(t, gateway.Config{})
	const size = 8 << 20
	for _, tc := range []struct {
		name, method, path, ctype string
		chunked                   bool
		status                    int
	}{
		{"PUT /file to a missing image", "PUT", "/v2/images/8d3e3c52-6d4e-4b5f-9c0a-1f2e3d4c5b6a/file", "application/octet-stream", false, 404},
		{"PUT /file to a missing image, chunked", "PUT", "/v2/images/8d3e3c52-6d4e-4b5f-9c0a-1f2e3d4c5b6a/file", "application/octet-stream", true, 404},
		{"PUT /file as text", "PUT", "/v2/images/8d3e3c52-6d4e-4b5f-9c0a-1f2e3d4c5b6a/file", "text/plain", false, 415},
		{"POST /v2/images with a body past the bound", "POST", "/v2/images", "application/json", false, 413},
		{"POST /v2/images with a body past the bound, chunked", "POST", "/v2/images", "application/json", true, 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ts.dial(t)
			framing := []string{"Content-Length", strconv.Itoa(size)}
			if tc.chunked {
				framing = chunked
			}
			c.head(t, tc.method, tc.path, append([]string{"Content-Type", tc.ctype}, framing...)...)
			c.sendSlowly(t, size, tc.chunked)
			resp, body := c.response(t)
			if got, want := resp.StatusCode, tc.status; got != want {
				t.Fatalf("status %d %q, want %d", got, body, want)
			}
		})
	}
}

// testSlowUpload: an upload that takes longer than ReadTimeout, with every
// wait for the client's bytes shorter than it, completes: ReadTimeout
// bounds a stall, not an image's transfer.
func testSlowUpload(t *testing.T, start startData) {
	ts := start(t, gateway.Config{ReadTimeout: 2 * time.Second})
	slowUpload(t, ts, ts.create(t), 40)
}

// slowUpload uploads n bytes, one every 100 ms.
func slowUpload(t *testing.T, ts *dataServer, id string, n int) {
	t.Helper()
	c := ts.dial(t)
	c.head(t, "PUT", "/v2/images/"+id+"/file", append([]string{"Content-Type", "application/octet-stream"}, chunked...)...)
	for i := 0; i < n; i++ {
		c.send(t, "1\r\nx\r\n")
		time.Sleep(100 * time.Millisecond)
	}
	c.send(t, "0\r\n\r\n")
	if resp, body := c.response(t); resp.StatusCode != 204 {
		t.Fatalf("status %d %q, want 204", resp.StatusCode, body)
	}
	if img := ts.json(t, p1, "GET", "/v2/images/"+id, nil, 200); img["size"] != float64(n) {
		t.Fatalf("size %v, want %d", img["size"], n)
	}
}

// TestDownloadFromFailingRegion: a region that refuses, hangs or fails
// before it answers is Glance's 503 for a store that cannot be reached;
// one that answered 200 with its headers (so did the download, at once)
// and then sends nothing, or cuts the stream, leaves nothing but cutting
// the client's stream short, which the metrics count. A real Glance
// cannot be made to fail so: a small fake region on loopback.
func TestDownloadFromFailingRegion(t *testing.T) {
	for _, blobs := range []bool{true, false} {
		for _, mode := range []faultMode{refuse, hang, answer500, noBytes, cutAtByte} {
			t.Run(fmt.Sprintf("%s, image data cache %v", mode, blobs), func(t *testing.T) {
				t.Parallel() // most of it is waiting for a timeout
				fr := startFaultyRegion(t, 256<<10)
				ts := startGlanceRegion(fr.url, "", blobs, 2*time.Second)(t, gateway.Config{})
				ts.json(t, p1, "GET", "/v2/images/"+fr.id, nil, 200) // the record is cached
				fr.fail(mode)
				c := ts.dial(t)
				c.head(t, "GET", "/v2/images/"+fr.id+"/file")
				resp, err := http.ReadResponse(c.br, nil)
				if err != nil {
					t.Fatalf("no answer: %v", err)
				}
				body, err := io.ReadAll(resp.Body)
				if answered := mode == noBytes || mode == cutAtByte; !answered {
					if got, want := resp.StatusCode, 503; got != want {
						t.Fatalf("status %d %q, want %d", got, body, want)
					}
					if got, want := string(body), remoteUnavailable; got != want {
						t.Fatalf("body %q, want Glance's %q", got, want)
					}
					if got := cuts(t, ts.metrics); got != 0 {
						t.Fatalf("%d downloads counted as cut, none was", got)
					}
					// One try, and the image data cache's one retry: a
					// region that hangs costs a download that many stalls.
					if got := fr.asked.Load(); got > 2 {
						t.Fatalf("the region was asked %d times", got)
					}
					return
				}
				if resp.StatusCode != 200 || resp.ContentLength != int64(len(fr.data)) {
					t.Fatalf("status %d, Content-Length %d: want 200 and the image's %d", resp.StatusCode, resp.ContentLength, len(fr.data))
				}
				most := cutAt // a reader may also hear of the failure before it sent them
				if mode == noBytes {
					most = 0
				}
				if !errors.Is(err, io.ErrUnexpectedEOF) || len(body) > most || !bytes.Equal(body, fr.data[:len(body)]) {
					t.Fatalf("read %d bytes (%v): want at most the image's first %d, then the stream cut", len(body), err, most)
				}
				if got, want := cuts(t, ts.metrics), int64(1); got != want {
					t.Fatalf("%d downloads counted as cut, want %d", got, want)
				}
			})
		}
	}
}

// TestDownloadHeadersAtTheRegionsAnswer: a download's status and headers
// go out as soon as the region has answered with its headers, before any
// byte of the image — with the image data cache, for the download that
// started the fill and for one that attached to it (one region transfer
// for both) — as a caching proxy's do, so that a storm's first bytes are
// not queued behind the data. The region holds its body until both have
// their headers: a gateway that waited for bytes would never give them.
func TestDownloadHeadersAtTheRegionsAnswer(t *testing.T) {
	for _, blobs := range []bool{true, false} {
		t.Run(fmt.Sprintf("image data cache %v", blobs), func(t *testing.T) {
			fr := startFaultyRegion(t, 256<<10)
			ts := startGlanceRegion(fr.url, "", blobs, 30*time.Second)(t, gateway.Config{})
			ts.json(t, p1, "GET", "/v2/images/"+fr.id, nil, 200) // the record is cached
			fr.fail(holdBody)
			var resps []*http.Response
			for i := range 2 {
				c := ts.dial(t)
				c.head(t, "GET", "/v2/images/"+fr.id+"/file")
				// Not a measure, a bound on a failure: without it a
				// gateway that waits for bytes hangs the test.
				c.SetReadDeadline(time.Now().Add(20 * time.Second))
				resp, err := http.ReadResponse(c.br, nil)
				if err != nil {
					t.Fatalf("download %d: no status while the region holds its body: %v", i, err)
				}
				c.SetReadDeadline(time.Time{})
				if resp.StatusCode != 200 || resp.ContentLength != int64(len(fr.data)) {
					t.Fatalf("download %d: status %d, Content-Length %d, want 200 and %d", i, resp.StatusCode, resp.ContentLength, len(fr.data))
				}
				if got, want := resp.Header.Get("Content-MD5"), fr.md5(); got != want {
					t.Fatalf("download %d: Content-MD5 %q, want %q", i, got, want)
				}
				resps = append(resps, resp)
			}
			close(fr.release)
			for i, resp := range resps {
				body, err := io.ReadAll(resp.Body)
				if err != nil || !bytes.Equal(body, fr.data) {
					t.Fatalf("download %d: %v, %d bytes: not the image", i, err, len(body))
				}
			}
			want := int32(2) // each download its own region request
			if blobs {
				want = 1
			}
			if got := fr.asked.Load(); got != want {
				t.Fatalf("the region was asked for the data %d times, want %d", got, want)
			}
		})
	}
}

// cuts is the count of downloads cut after their status was sent.
func cuts(t *testing.T, m *gateway.RequestMetrics) int64 {
	t.Helper()
	sms, err := m.Produce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	found := false
	for _, sm := range sms {
		for _, mt := range sm.Metrics {
			if mt.Name != gateway.MetricDownloadsCut {
				continue
			}
			found = true
			for _, dp := range sumPoints(mt.Data) {
				n += dp
			}
		}
	}
	if !found {
		t.Fatalf("no %s metric", gateway.MetricDownloadsCut)
	}
	return n
}

func sumPoints(a metricdata.Aggregation) []int64 {
	s, _ := a.(metricdata.Sum[int64])
	var v []int64
	for _, dp := range s.DataPoints {
		v = append(v, dp.Value)
	}
	return v
}

// --- the faulty region ---------------------------------------------------

type faultMode int32

const (
	serve     faultMode = iota
	refuse              // the connection is closed before any answer
	hang                // no answer at all
	answer500           // Glance's answer when its store fails
	noBytes             // 200 and its headers, then the connection closes
	cutAtByte           // 200, cutAt bytes, then the connection closes
	holdBody            // 200 and its headers, then the body once release is closed
)

const cutAt = 1000

func (m faultMode) String() string {
	return [...]string{"serve", "refuse", "hang", "answer 500", "no bytes", "cut at byte 1000", "hold the body"}[m]
}

// faultyRegion answers a Glance show of one active image, and serves its
// data or fails as told.
type faultyRegion struct {
	url, id string
	data    []byte
	mode    atomic.Int32
	asked   atomic.Int32 // data requests
	ln      net.Listener
	done    chan struct{}
	release chan struct{} // holdBody's bodies go once it is closed
}

func startFaultyRegion(t *testing.T, size int) *faultyRegion {
	t.Helper()
	fr := &faultyRegion{id: "6f0ad6d4-4c6a-4d0e-9d7c-1b0d0c1c5e2a", data: bytes.Repeat([]byte("0123456789abcdef"), size/16), done: make(chan struct{}),
		release: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fr.ln, fr.url = ln, "http://"+ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(fr.serveHTTP)}
	go srv.Serve(ln)
	t.Cleanup(func() {
		close(fr.done)
		srv.Close()
	})
	return fr
}

func (fr *faultyRegion) fail(m faultMode) {
	fr.mode.Store(int32(m))
	if m == refuse {
		fr.ln.Close() // and new connections are refused
	}
}

func (fr *faultyRegion) md5() string {
	md := md5.Sum(fr.data)
	return hex.EncodeToString(md[:])
}

func (fr *faultyRegion) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v2/images/"+fr.id {
		md := md5.Sum(fr.data)
		sh := sha512.Sum512(fr.data)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"id": fr.id, "name": "faulty", "status": "active", "visibility": "public", "owner": "p1",
			"disk_format": "raw", "container_format": "bare", "size": len(fr.data), "virtual_size": len(fr.data),
			"checksum": hex.EncodeToString(md[:]), "os_hash_algo": "sha512", "os_hash_value": hex.EncodeToString(sh[:]),
			"protected": false, "os_hidden": false, "min_ram": 0, "min_disk": 0, "tags": []string{},
			"created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
			"self": "/v2/images/" + fr.id, "file": "/v2/images/" + fr.id + "/file", "schema": "/v2/schemas/image",
		})
		return
	}
	if r.URL.Path != "/v2/images/"+fr.id+"/file" {
		http.NotFound(w, r)
		return
	}
	fr.asked.Add(1)
	switch faultMode(fr.mode.Load()) {
	case serve:
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(fr.data))
	case holdBody:
		w.Header().Set("Content-Length", strconv.Itoa(len(fr.data)))
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		select {
		case <-fr.release:
		case <-r.Context().Done():
			return
		case <-fr.done:
			return
		}
		w.Write(fr.data)
	case hang:
		select {
		case <-r.Context().Done():
		case <-fr.done:
		}
	case answer500:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(500)
		io.WriteString(w, `{"message": "The server has either erred or is incapable of performing the requested operation.<br /><br />\n\n\n", "code": "500 Internal Server Error", "title": "Internal Server Error"}`)
	case refuse:
		fr.hangUp(w)
	case noBytes, cutAtByte:
		n := 0
		if faultMode(fr.mode.Load()) == cutAtByte {
			n = cutAt
			// A resumption finds the region gone.
			fr.mode.Store(int32(refuse))
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(fr.data)))
		w.WriteHeader(200)
		w.Write(fr.data[:n])
		w.(http.Flusher).Flush()
		fr.hangUp(w)
	}
}

// hangUp closes the connection at once.
func (fr *faultyRegion) hangUp(w http.ResponseWriter) {
	c, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		c.Close()
	}
}

// --- a client socket written by hand -------------------------------------

// rawClient is a client connection for the requests net/http will not
// send: a body cut off, a body still being sent when the answer comes.
type rawClient struct {
	*net.TCPConn
	br *bufio.Reader
}

func (ts *dataServer) dial(t *testing.T) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(ts.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawClient{TCPConn: c.(*net.TCPConn), br: bufio.NewReader(c)}
}

// head writes the request line and headers, as p1.
func (c *rawClient) head(t *testing.T, method, path string, hdr ...string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: spyglass\r\nX-Identity-Status: Confirmed\r\nX-Project-Id: p1\r\nX-User-Id: u-p1\r\nX-Roles: member\r\n", method, path)
	for i := 0; i+1 < len(hdr); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", hdr[i], hdr[i+1])
	}
	b.WriteString("\r\n")
	c.send(t, b.String())
}

func (c *rawClient) send(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatalf("writing the request: %v", err)
	}
}

// sendSlowly sends a body of size bytes in 64 KiB pieces with a pause
// between them, as a client on a slow link would: all of it, whatever the
// server answered meanwhile.
func (c *rawClient) sendSlowly(t *testing.T, size int, chunked bool) {
	t.Helper()
	piece := bytes.Repeat([]byte("x"), 64<<10)
	for sent := 0; sent < size; sent += len(piece) {
		var err error
		if chunked {
			_, err = fmt.Fprintf(c, "%x\r\n%s\r\n", len(piece), piece)
		} else {
			_, err = c.Write(piece)
		}
		if err != nil {
			t.Fatalf("writing the body after %d of %d bytes: %v (the server reset the connection)", sent, size, err)
		}
		time.Sleep(time.Millisecond)
	}
	if chunked {
		c.send(t, "0\r\n\r\n")
	}
}

// response reads the answer to the request sent.
func (c *rawClient) response(t *testing.T) (*http.Response, []byte) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer's body: %v", err)
	}
	return resp, body
}

// --- images ---------------------------------------------------------------

func (ts *dataServer) create(t *testing.T) string {
	t.Helper()
	img := ts.json(t, p1, "POST", "/v2/images", map[string]any{"name": "data", "disk_format": "raw", "container_format": "bare"}, 201)
	return img["id"].(string)
}

func (ts *dataServer) upload(t *testing.T, data []byte) string {
	t.Helper()
	id := ts.create(t)
	resp, body := ts.do(t, p1, "PUT", "/v2/images/"+id+"/file", bytes.NewReader(data), "Content-Type", "application/octet-stream")
	if resp.StatusCode != 204 {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	return id
}

// wantQueued checks an image is queued with no data after an upload to
// target was cut off, in Spyglass and behind it: no file in the embedded
// store; a region that saw a broken upload, not a complete one, and kept
// its image queued.
func (ts *dataServer) wantQueued(t *testing.T, id, target string) {
	t.Helper()
	if ts.glanceLog != "" {
		// The region may get to the upload after Spyglass answered.
		if status := glanceAnswered(t, ts.glanceLog, "PUT /v2/images/"+id+"/"+target); status < 400 {
			t.Fatalf("the region answered the upload %d: it took it for a whole one", status)
		}
		if got := glanceStatus(t, ts.glance, id); got != "queued" {
			t.Fatalf("the region's image is %s, want queued", got)
		}
	}
	img := ts.json(t, p1, "GET", "/v2/images/"+id, nil, 200)
	if img["status"] != "queued" || img["size"] != nil {
		t.Fatalf("image %v of size %v, want queued with no size", img["status"], img["size"])
	}
	if resp, body := ts.do(t, p1, "GET", "/v2/images/"+id+"/file", nil); resp.StatusCode != 204 {
		t.Fatalf("download: %d %q, want 204 (no data)", resp.StatusCode, body)
	}
	if ts.dir != "" {
		for _, sub := range []string{"images", "staging"} {
			files, _ := os.ReadDir(filepath.Join(ts.dir, sub))
			for _, f := range files {
				if strings.Contains(f.Name(), id) {
					t.Fatalf("%s/%s left in the store", sub, f.Name())
				}
			}
		}
	}
}

// waitStatus waits until the image reaches status (in the region itself,
// when there is one: Spyglass's record may be a cached one).
func (ts *dataServer) waitStatus(t *testing.T, id, status string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var got string
		if ts.glance != "" {
			got = glanceStatus(t, ts.glance, id)
		} else {
			got, _ = ts.json(t, p1, "GET", "/v2/images/"+id, nil, 200)["status"].(string)
		}
		if got == status {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("image %s, still not %s", got, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// glanceAnswered waits for Glance's log line of a request (method and
// path) and returns the status Glance answered.
func glanceAnswered(t *testing.T, apiLog, request string) int {
	t.Helper()
	mark := `"` + request + ` HTTP/1.1" `
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, _ := os.ReadFile(apiLog)
		if i := bytes.LastIndex(b, []byte(mark)); i >= 0 {
			rest := b[i+len(mark):]
			if j := bytes.IndexByte(rest, ' '); j > 0 {
				if status, err := strconv.Atoi(string(rest[:j])); err == nil {
					return status
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Glance did not log %s", request)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// glanceStatus asks the region itself.
func glanceStatus(t *testing.T, base, id string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/v2/images/"+id, nil)
	glancetest.SetCaller(req.Header, "p1", "u-p1", "member")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var img struct{ Status string }
	if err := json.NewDecoder(resp.Body).Decode(&img); err != nil {
		t.Fatalf("the region's show: %d: %v", resp.StatusCode, err)
	}
	return img.Status
}
