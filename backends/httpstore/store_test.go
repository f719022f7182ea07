package httpstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/backends/outbound"
)

// image is what the test servers serve.
var image = bytes.Repeat([]byte("0123456789abcdef"), 4096)

// serve is a loopback server with the bytes at /image.img (HEAD and Range
// by http.ServeContent), a 404 elsewhere, a server that ignores Range at
// /norange.img, one that cuts its stream at /cut.img, one without a
// Content-Length at /chunked.img and a redirect to /image.img at /moved.
func serve(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/image.img":
			http.ServeContent(w, r, "image.img", time.Time{}, bytes.NewReader(image))
		case "/norange.img":
			w.Header().Set("Content-Length", strconv.Itoa(len(image)))
			w.Write(image)
		case "/cut.img":
			w.Header().Set("Content-Length", strconv.Itoa(len(image)))
			w.Write(image[:1000])
			// The handler returns with the body short: net/http closes the
			// connection.
		case "/chunked.img":
			if r.Method == http.MethodHead {
				return
			}
			w.Write(image[:10])
			w.(http.Flusher).Flush()
		case "/moved":
			http.Redirect(w, r, "/image.img", http.StatusFound)
		case "/forbidden":
			http.Error(w, "no", http.StatusForbidden)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// loopbackFetcher allows the test servers' loopback address.
func loopbackFetcher(t *testing.T) *outbound.Fetcher {
	t.Helper()
	f, err := outbound.New(outbound.Options{Filter: outbound.Filter{AllowedHosts: []string{"127.0.0.1"}}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestSize(t *testing.T) {
	srv := serve(t)
	closed := closedURL(t)
	hs := New(loopbackFetcher(t))
	refusing := New(outbound.Default()) // loopback and port refused
	for _, tc := range []struct {
		name string
		hs   *Store
		url  string
		size int64
		kind error
		msg  string
	}{
		{"content length", hs, srv.URL + "/image.img", int64(len(image)), nil, ""},
		{"redirect followed", hs, srv.URL + "/moved", int64(len(image)), nil, ""},
		{"no content length is 0", hs, srv.URL + "/chunked.img", 0, nil, ""},
		{"404", hs, srv.URL + "/nothing", 0, backends.ErrNotFound, msgNotFound},
		{"403", hs, srv.URL + "/forbidden", 0, backends.ErrBadRequest, "HTTP URL /forbidden returned a 403 status code."},
		{"unreachable", hs, closed, 0, backends.ErrBadRequest, "The HTTP URL is invalid: "},
		{"refused by the filter", refusing, srv.URL + "/image.img", 0, backends.ErrBadRequest, "does not pass filtering"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			size, err := tc.hs.Size(context.Background(), tc.url)
			if tc.kind == nil {
				if err != nil {
					t.Fatal(err)
				}
				if got, want := size, tc.size; got != want {
					t.Fatalf("size %d, want %d", got, want)
				}
				return
			}
			if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err %v, want %v containing %q", err, tc.kind, tc.msg)
			}
		})
	}
}

// closedURL is a URL on a port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/image.img"
}

func TestSection(t *testing.T) {
	srv := serve(t)
	hs := New(loopbackFetcher(t))
	size := int64(len(image))
	for _, tc := range []struct {
		name   string
		path   string
		off, n int64
	}{
		{"whole", "/image.img", 0, size},
		{"range", "/image.img", 100, 5000},
		{"tail", "/image.img", size - 7, 7},
		{"empty", "/image.img", 10, 0},
		{"range ignored by the server", "/norange.img", 4097, 300},
		{"redirected range", "/moved", 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := hs.Open(srv.URL+tc.path, size)
			rc, err := d.(backends.Sectioner).Section(context.Background(), tc.off, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			if want := image[tc.off : tc.off+tc.n]; !bytes.Equal(got, want) {
				t.Fatalf("got %d bytes, want %d (the section's)", len(got), len(want))
			}
		})
	}
	t.Run("ReadAt", func(t *testing.T) {
		d := hs.Open(srv.URL+"/image.img", size)
		p := make([]byte, 64)
		if n, err := d.ReadAt(p, 33); err != nil || n != 64 || !bytes.Equal(p, image[33:97]) {
			t.Fatalf("ReadAt: %d, %v", n, err)
		}
	})
}

func TestSectionFaults(t *testing.T) {
	srv := serve(t)
	hs := New(loopbackFetcher(t))
	size := int64(len(image))
	t.Run("cut stream", func(t *testing.T) {
		rc, err := hs.Open(srv.URL+"/cut.img", size).(backends.Sectioner).Section(context.Background(), 0, size)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if _, err := io.ReadAll(rc); err == nil {
			t.Fatal("a stream cut short read as complete")
		}
	})
	for _, tc := range []struct {
		name string
		url  string
		kind error
	}{
		{"gone", srv.URL + "/nothing", backends.ErrNotFound},
		{"unreachable", closedURL(t), backends.ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := hs.Open(tc.url, size).(backends.Sectioner).Section(context.Background(), 0, 10)
			if !errors.Is(err, tc.kind) {
				t.Fatalf("err %v, want %v", err, tc.kind)
			}
		})
	}
	t.Run("refused by the filter", func(t *testing.T) {
		_, err := New(outbound.Default()).Open(srv.URL+"/image.img", size).(backends.Sectioner).Section(context.Background(), 0, 10)
		if !errors.Is(err, outbound.ErrRefused) {
			t.Fatalf("err %v, want a refusal", err)
		}
	})
}

func TestParseContentRange(t *testing.T) {
	for _, tc := range []struct {
		in                 string
		first, last, total int64
		ok                 bool
	}{
		{"bytes 0-9/10", 0, 9, 10, true},
		{"bytes 5-5/*", 5, 5, -1, true},
		{"bytes 5-4/10", 0, 0, 0, false},
		{"bytes 0-10/10", 0, 0, 0, false},
		{"bytes -1-3/10", 0, 0, 0, false},
		{"bytes 0-3", 0, 0, 0, false},
		{"items 0-3/4", 0, 0, 0, false},
		{"bytes 0-99999999999999999999/*", 0, 0, 0, false},
		{"", 0, 0, 0, false},
	} {
		f, l, tot, ok := ParseContentRange(tc.in)
		if ok != tc.ok || ok && (f != tc.first || l != tc.last || tot != tc.total) {
			t.Errorf("%q: %d %d %d %v, want %d %d %d %v", tc.in, f, l, tot, ok, tc.first, tc.last, tc.total, tc.ok)
		}
	}
}

func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-9/10", "bytes 5-5/*", "bytes 0-3", "bytes 1-0/2", "bytes 00-01/0002"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		first, last, total, ok := ParseContentRange(s)
		if !ok {
			return
		}
		if first < 0 || last < first || total != -1 && last >= total {
			t.Fatalf("%q: %d-%d/%d accepted", s, first, last, total)
		}
	})
}
