package glance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
)

// faultRegion is a small loopback server standing in for a region whose
// faults a real Glance cannot produce on demand: it answers, fails with a
// 500, hangs, or resets the connection, as told, and counts the requests
// that reach it.
type faultRegion struct {
	url     string
	mode    atomic.Int32
	hits    atomic.Int64
	release chan struct{} // closed at the end: hung handlers return

	mu      sync.Mutex
	uploads []upload // what each PUT delivered
}

// upload is what the region saw of one PUT: the Content-Length it was
// promised (-1: chunked), the bytes that arrived, and whether the body
// arrived whole as HTTP framed it.
type upload struct {
	declared, got int64
	whole         bool
}

const (
	answer = iota
	fail500
	hang
	reset
	notFound
	failTwoInThree // a 500 for two requests in three
	failOneInFour  // a 500 for every fourth request
)

const imageDoc = `{"id": "x", "status": "active", "size": 10, "visibility": "private", "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}`

func newFaultRegion(t *testing.T) *faultRegion {
	t.Helper()
	f := &faultRegion{release: make(chan struct{})}
	f.url = fake(t, func(w http.ResponseWriter, r *http.Request) {
		n := f.hits.Add(1)
		fail := false
		switch f.mode.Load() {
		case fail500:
			fail = true
		case failTwoInThree:
			fail = n%3 != 0
		case failOneInFour:
			fail = n%4 == 0
		case hang:
			select {
			case <-f.release:
			case <-r.Context().Done():
			}
			return
		case reset:
			c, _, _ := w.(http.Hijacker).Hijack()
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
			return
		case notFound:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(404)
			io.WriteString(w, `{"message": "No image found with ID x<br /><br />\n\n\n", "code": "404 Not Found", "title": "Not Found"}`)
			return
		}
		if fail {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(500)
			io.WriteString(w, `{"message": "The server has either erred or is incapable of performing the requested operation.<br /><br />\n\n\n", "code": "500 Internal Server Error", "title": "Internal Server Error"}`)
			return
		}
		if r.Method == "PUT" {
			got, err := io.Copy(io.Discard, r.Body)
			f.mu.Lock()
			f.uploads = append(f.uploads, upload{declared: r.ContentLength, got: got, whole: err == nil})
			f.mu.Unlock()
			if err != nil {
				w.WriteHeader(500) // Glance's DisconnectionError; nobody reads it
				return
			}
			w.WriteHeader(204)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, imageDoc)
	})
	t.Cleanup(func() { close(f.release) })
	return f
}

// refusedURL is an endpoint where nothing listens.
func refusedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	return url
}

func newRegion(t *testing.T, url string, breakerOpen time.Duration) *Region {
	t.Helper()
	r, err := New(Config{Name: "r", Endpoint: url, ConnectTimeout: time.Second, ReadTimeout: 300 * time.Millisecond, BreakerOpen: breakerOpen})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// asProject is a context calling as a member of project p<i mod 3>: the
// calls of a test come from several projects, as a region's do.
func asProject(i int) context.Context {
	return backends.WithCaller(context.Background(), &backends.Caller{Project: fmt.Sprintf("p%d", i%3), Roles: []string{"member", "reader"}})
}

// metadataOrData is call i, of either kind (both go through the breaker),
// from one of several projects.
func metadataOrData(r *Region, i int) error {
	if i%2 == 0 {
		_, err := r.Image(asProject(i), "x")
		return err
	}
	rc, err := r.Fetch(asProject(i), "x", 0, -1)
	if err == nil {
		rc.Close()
	}
	return err
}

// A region that is really dead (failing, hanging, resetting, refusing)
// still fails fast: breakerConsecutive calls fail (each at worst one
// timeout; a 5xx counts once another project got one too), the breaker is
// then open, and from there no call reaches the region, however many
// callers there are.
func TestDeadRegionFailsFast(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode int32
	}{{"500", fail500}, {"hang", hang}, {"reset", reset}, {"refused", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			var f *faultRegion
			url := refusedURL(t)
			if tc.mode >= 0 {
				f = newFaultRegion(t)
				f.mode.Store(tc.mode)
				url = f.url
			}
			r := newRegion(t, url, time.Hour)
			start := time.Now()
			for i := 1; i <= breakerConsecutive+1; i++ {
				if err := metadataOrData(r, i); !errors.Is(err, backends.ErrUnavailable) {
					t.Fatalf("call %d to a dead region: %v, want ErrUnavailable", i, err)
				}
				if got := r.BreakerState(); i < breakerConsecutive && got != "closed" {
					t.Fatalf("breaker after %d failures: %s, want closed", i, got)
				}
			}
			if got, want := r.BreakerState(), "open"; got != want {
				t.Fatalf("breaker after %d failures: %s, want %s", breakerConsecutive+1, got, want)
			}
			var before int64
			if f != nil {
				before = f.hits.Load()
			}
			if tc.mode == hang && before > breakerConsecutive+1 {
				t.Errorf("%d calls to a hung region made %d requests: a call must cost one timeout, not one per retry", breakerConsecutive+1, before)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 200)
			for i := range 200 {
				wg.Add(1)
				go func() { defer wg.Done(); errs <- metadataOrData(r, i) }()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if !errors.Is(err, backends.ErrUnavailable) || !strings.Contains(err.Error(), "circuit open") {
					t.Fatalf("a call while the breaker is open: %v, want the breaker's 503", err)
				}
			}
			if f != nil {
				if got := f.hits.Load() - before; got != 0 {
					t.Errorf("%d calls reached a region whose breaker is open", got)
				}
			}
			// Generous: the failures cost at most one timeout each.
			if d := time.Since(start); d > breakerConsecutive*(300*time.Millisecond+time.Second)+30*time.Second {
				t.Errorf("a dead region took %v to fail fast", d)
			}
		})
	}
}

// Many callers at once on a hanging region: each first caller waits one
// timeout at most, then the breaker is open and later callers never reach
// the region.
func TestHangingRegionUnderLoad(t *testing.T) {
	f := newFaultRegion(t)
	f.mode.Store(hang)
	r := newRegion(t, f.url, time.Hour)
	wave := func() []error {
		var wg sync.WaitGroup
		errs := make([]error, 64)
		for i := range errs {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = metadataOrData(r, i) }()
		}
		wg.Wait()
		return errs
	}
	for i, err := range wave() {
		if !errors.Is(err, backends.ErrUnavailable) {
			t.Fatalf("caller %d of a hanging region: %v", i, err)
		}
	}
	if got, want := r.BreakerState(), "open"; got != want {
		t.Fatalf("breaker after a wave of timeouts: %s, want %s", got, want)
	}
	before := f.hits.Load()
	for i, err := range wave() {
		if !errors.Is(err, backends.ErrUnavailable) {
			t.Fatalf("caller %d while open: %v", i, err)
		}
	}
	if got := f.hits.Load() - before; got != 0 {
		t.Errorf("%d calls reached a hanging region whose breaker is open", got)
	}
}

// What the client did wrong is never the region failing: 4xx answers,
// callers that give up, a client's upload that breaks or does not hold the
// size it declared. None of it moves the breaker, however much of it.
func TestClientErrorsNeverTripTheBreaker(t *testing.T) {
	t.Run("4xx", func(t *testing.T) {
		f := newFaultRegion(t)
		f.mode.Store(notFound)
		r := newRegion(t, f.url, time.Hour)
		for range 500 {
			if _, err := r.Image(context.Background(), "x"); !errors.Is(err, backends.ErrNotFound) {
				t.Fatalf("404: %v", err)
			}
		}
		if got, want := r.BreakerState(), "closed"; got != want {
			t.Fatalf("breaker after 500 404s: %s, want %s", got, want)
		}
	})
	t.Run("caller gone", func(t *testing.T) {
		f := newFaultRegion(t)
		f.mode.Store(hang)
		r := newRegion(t, f.url, time.Hour)
		for range 100 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
			_, err := r.Image(ctx, "x")
			cancel()
			if err == nil {
				t.Fatal("a call whose caller gave up succeeded")
			}
		}
		if c := r.breaker.Counts(); r.BreakerState() != "closed" || c.TotalFailures != 0 {
			t.Fatalf("breaker after 100 callers gave up: %s, %+v", r.BreakerState(), c)
		}
	})
	t.Run("broken upload", func(t *testing.T) {
		f := newFaultRegion(t)
		r := newRegion(t, f.url, time.Hour)
		for i := range 50 {
			body := io.MultiReader(bytes.NewReader(make([]byte, 1000)), failingReader{})
			want := int64(-1)
			if i%2 == 0 {
				want = 4000 // Content-Length framed, as a client that went away
			}
			_, err := r.UploadData(context.Background(), "x", body, backends.UploadOptions{ExpectedSize: want})
			if !errors.Is(err, backends.ErrBadRequest) {
				t.Fatalf("upload whose client body broke: %v, want ErrBadRequest", err)
			}
		}
		if c := r.breaker.Counts(); r.BreakerState() != "closed" || c.TotalFailures != 0 {
			t.Fatalf("breaker after 50 broken uploads: %s, %+v", r.BreakerState(), c)
		}
		for _, u := range f.uploadsSeen() {
			if u.whole && u.declared < 0 {
				t.Errorf("the region received a broken chunked upload as complete (%d bytes)", u.got)
			}
		}
	})
	t.Run("declared size", func(t *testing.T) {
		f := newFaultRegion(t)
		r := newRegion(t, f.url, time.Hour)
		for _, want := range []int64{5, 9, 11, 20, 0, 10} {
			_, err := r.UploadData(context.Background(), "x", strings.NewReader("0123456789"), backends.UploadOptions{ExpectedSize: want})
			if want == 10 {
				if err != nil {
					t.Fatalf("upload of the declared size: %v", err)
				}
				continue
			}
			var be *backends.Error
			if !errors.As(err, &be) || !errors.Is(err, backends.ErrBadRequest) || be.Explanation != backends.SizeMismatch(want, 10).Error() {
				t.Fatalf("x-openstack-image-size %d for 10 bytes: %v, want %q", want, err, backends.SizeMismatch(want, 10))
			}
		}
		if c := r.breaker.Counts(); r.BreakerState() != "closed" || c.TotalFailures != 0 {
			t.Fatalf("breaker after size mismatches: %s, %+v", r.BreakerState(), c)
		}
		// The region saw no complete upload but the right one: a wrong
		// size is an aborted request there, never a short or long image.
		for _, u := range f.uploadsSeen() {
			if u.whole && u.got != 10 {
				t.Errorf("the region received a complete upload of %d bytes (declared %d) for a body of 10", u.got, u.declared)
			}
		}
	})
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("client went away") }

func (f *faultRegion) uploadsSeen() []upload {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]upload(nil), f.uploads...)
}

// The breaker opens on a failure rate as well as on failures in a row: a
// region failing two calls in three never fails breakerConsecutive times
// in a row, yet is open after breakerMinCalls calls or so; a region
// failing one call in four stays closed.
func TestBreakerOpensOnAFailureRate(t *testing.T) {
	f := newFaultRegion(t)
	f.mode.Store(failTwoInThree)
	r := newRegion(t, f.url, time.Hour)
	calls := 0
	for ; r.BreakerState() == "closed" && calls < 10*breakerMinCalls; calls++ {
		r.Image(asProject(calls), "x")
	}
	if got, want := r.BreakerState(), "open"; got != want || calls > breakerMinCalls+3 {
		t.Fatalf("two calls in three failing: breaker %s after %d calls, want %s after about %d", got, calls, want, breakerMinCalls)
	}

	f2 := newFaultRegion(t)
	f2.mode.Store(failOneInFour)
	r2 := newRegion(t, f2.url, time.Hour)
	for i := range 200 {
		r2.Image(asProject(i), "x")
	}
	if got, want := r2.BreakerState(), "closed"; got != want {
		t.Fatalf("a quarter of the calls failing: breaker %s, want %s", got, want)
	}
}

// After BreakerOpen, one probe decides: a region that answers — a 4xx is
// an answer — closes it again.
func TestBreakerProbeCloses(t *testing.T) {
	f := newFaultRegion(t)
	r := newRegion(t, f.url, 100*time.Millisecond)
	for _, probe := range []int32{answer, notFound} {
		f.mode.Store(fail500)
		for i := range breakerConsecutive + 1 {
			r.Image(asProject(i), "x")
		}
		if got, want := r.BreakerState(), "open"; got != want {
			t.Fatalf("breaker after %d 500s: %s, want %s", breakerConsecutive+1, got, want)
		}
		f.mode.Store(probe)
		for deadline := time.Now().Add(30 * time.Second); r.BreakerState() != "half-open"; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("breaker still %s long after BreakerOpen", r.BreakerState())
			}
		}
		r.Image(asProject(0), "x")
		if got, want := r.BreakerState(), "closed"; got != want {
			t.Fatalf("breaker after a probe answered (mode %d): %s, want %s", probe, got, want)
		}
	}
}

// Glance answers 500 to some well-formed requests a tenant can repeat at
// will (deleting an image whose members a burst of concurrent adds
// duplicated): 5xx answers that one project alone gets never trip the
// breaker, however many; once a second project gets them too, the region
// is failing and they count.
func TestOneProjectsServerErrorsDoNotTrip(t *testing.T) {
	f := newFaultRegion(t)
	f.mode.Store(fail500)
	r := newRegion(t, f.url, time.Hour)
	evil := backends.WithCaller(context.Background(), &backends.Caller{Project: "evil", Roles: []string{"member"}})
	for range 1000 {
		if _, err := r.Image(evil, "x"); !errors.Is(err, backends.ErrUnavailable) {
			t.Fatalf("500: %v", err)
		}
	}
	if c := r.breaker.Counts(); r.BreakerState() != "closed" || c.TotalFailures != 0 {
		t.Fatalf("breaker after one project's 1000 500s: %s, %+v", r.BreakerState(), c)
	}
	for i := 1; i <= breakerConsecutive; i++ {
		r.Image(asProject(i), "x")
	}
	if got, want := r.BreakerState(), "open"; got != want {
		t.Fatalf("breaker after %d 500s of other projects too: %s, want %s", breakerConsecutive, got, want)
	}

	// Without projects (noauth) there is no one to tell apart.
	r2 := newRegion(t, f.url, time.Hour)
	for range breakerConsecutive {
		r2.Image(context.Background(), "x")
	}
	if got, want := r2.BreakerState(), "open"; got != want {
		t.Fatalf("breaker after %d 500s without projects: %s, want %s", breakerConsecutive, got, want)
	}
}

// FuzzClientBody: whatever the client's body and its pieces, and whatever
// size it declared, the region is handed a complete body (as the transport
// reads it: the declared bytes, then nothing more) exactly when the body
// holds the declared size; otherwise it gets fewer bytes than declared and
// an error, and the answer is the size mismatch.
func FuzzClientBody(f *testing.F) {
	f.Add([]byte("0123456789"), int64(10), uint8(3))
	f.Add([]byte("0123456789"), int64(5), uint8(10))
	f.Add([]byte("0123456789"), int64(20), uint8(1))
	f.Add([]byte(""), int64(0), uint8(1))
	f.Add([]byte("x"), int64(0), uint8(7))
	f.Add([]byte("abc"), int64(-1), uint8(2))
	f.Fuzz(func(t *testing.T, body []byte, want int64, piece uint8) {
		want = max(want, -1)
		cb := &clientBody{r: &pieces{b: body, n: int(piece%16) + 1}, want: want}
		if want < 0 {
			got, err := io.ReadAll(cb)
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("no declared size: %q, %v; want the body", got, err)
			}
			return
		}
		var sent bytes.Buffer
		_, err := io.Copy(&sent, io.LimitReader(cb, want))
		if err == nil {
			var extra int64
			extra, err = io.Copy(io.Discard, cb)
			if err == nil && extra > 0 {
				t.Fatalf("the transport read %d bytes past the declared size without an error", extra)
			}
		}
		whole := err == nil && int64(sent.Len()) == want
		if whole != (int64(len(body)) == want) {
			t.Fatalf("body of %d bytes declared %d: handed over whole = %v (%d bytes, %v)", len(body), want, whole, sent.Len(), err)
		}
		if whole {
			if !bytes.Equal(sent.Bytes(), body) {
				t.Fatalf("handed over %q, want %q", sent.Bytes(), body)
			}
			return
		}
		if int64(sent.Len()) >= want && want > 0 {
			t.Fatalf("a body of %d bytes declared %d: all %d declared bytes were handed over", len(body), want, sent.Len())
		}
		if got, wantErr := cb.answer(0), backends.SizeMismatch(want, int64(len(body))); got == nil || got.Error() != wantErr.Error() {
			t.Fatalf("answer %v, want %v", got, wantErr)
		}
	})
}

// pieces reads b n bytes at a time, as a client's body arrives.
type pieces struct {
	b []byte
	n int
}

func (p *pieces) Read(buf []byte) (int, error) {
	if len(p.b) == 0 {
		return 0, io.EOF
	}
	n := copy(buf[:min(len(buf), p.n)], p.b)
	p.b = p.b[n:]
	return n, nil
}
