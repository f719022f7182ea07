package transfers_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends/transfers"
)

// origin is a loopback HTTP server whose responses are held open until
// the test lets them go: the transfers it serves run as long as it likes.
type origin struct {
	*httptest.Server
	mu      sync.Mutex
	running map[string]int // by path: requests being answered
	peak    int            // most at once
	arrived chan string    // each request's path as it arrives
	hold    map[string]chan struct{}
}

func newOrigin(t *testing.T) *origin {
	o := &origin{running: map[string]int{}, arrived: make(chan string, 100), hold: map[string]chan struct{}{}}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		release := o.gate(r.URL.Path)
		o.mu.Lock()
		o.running[r.URL.Path]++
		n := 0
		for _, c := range o.running {
			n += c
		}
		o.peak = max(o.peak, n)
		o.mu.Unlock()
		defer func() {
			o.mu.Lock()
			o.running[r.URL.Path]--
			o.mu.Unlock()
		}()
		w.Write([]byte("first bytes;"))
		w.(http.Flusher).Flush()
		o.arrived <- r.URL.Path
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		w.Write([]byte("the rest"))
	}))
	t.Cleanup(func() { // a failed test leaves answers held: cut them
		o.CloseClientConnections()
		o.Close()
	})
	return o
}

func (o *origin) gate(path string) chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := o.hold[path]
	if c == nil {
		c = make(chan struct{})
		o.hold[path] = c
	}
	return c
}

// let ends the transfer of path.
func (o *origin) let(path string) { close(o.gate(path)) }

// waitArrived waits for the transfers of paths to reach the server, in
// any order.
func (o *origin) waitArrived(t *testing.T, paths ...string) {
	t.Helper()
	want := map[string]bool{}
	for _, p := range paths {
		want[p] = true
	}
	for len(want) > 0 {
		select {
		case p := <-o.arrived:
			if !want[p] {
				t.Fatalf("transfer %s started; waiting for %v", p, want)
			}
			delete(want, p)
		case <-time.After(10 * time.Second):
			t.Fatalf("transfers %v never started", want)
		}
	}
}

// noneArrives checks no transfer reaches the server for a while.
func (o *origin) noneArrives(t *testing.T) {
	t.Helper()
	select {
	case p := <-o.arrived:
		t.Fatalf("transfer %s started beyond the limit", p)
	case <-time.After(100 * time.Millisecond):
	}
}

// fetch is a transfer: a GET of path read to its end.
func (o *origin) fetch(path string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, o.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && string(b) != "first bytes;the rest" {
			err = fmt.Errorf("%s: got %q", path, b)
		}
		return err
	}
}

// start runs l.Do in the background; its result arrives on the channel.
func start(ctx context.Context, l *transfers.Limiter, project string, fn func(context.Context) error) <-chan error {
	done := make(chan error, 1)
	go func() { done <- l.Do(ctx, project, fn) }()
	return done
}

func waitErr(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Do never returned")
		return nil
	}
}

// waitStats waits until the limiter counts active and queued.
func waitStats(t *testing.T, l *transfers.Limiter, active, queued int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := l.Stats()
		if s.Active == active && s.Queued == queued {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats: active %d queued %d, want %d and %d", s.Active, s.Queued, active, queued)
		}
		time.Sleep(time.Millisecond)
	}
}

// checkNoLeak fails when goroutines started by the test outlive it.
func checkNoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		http.DefaultClient.CloseIdleConnections()
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Errorf("%d goroutines, %d before the test:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func newLimiter(t *testing.T, o transfers.Options) *transfers.Limiter {
	l, err := transfers.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestGlobalLimit: no more than MaxActive transfers reach the origin at
// once, whatever the projects; the others wait and start as slots free.
func TestGlobalLimit(t *testing.T) {
	checkNoLeak(t)
	o := newOrigin(t)
	l := newLimiter(t, transfers.Options{MaxActive: 3, PerProject: 10, MaxQueued: 10})
	var done []<-chan error
	for i := range 8 {
		done = append(done, start(context.Background(), l, fmt.Sprint("p", i), o.fetch(fmt.Sprint("/", i))))
	}
	waitStats(t, l, 3, 5)
	var running []string
	for range 3 {
		running = append(running, <-o.arrived)
	}
	o.noneArrives(t)
	// Each transfer that ends starts one queued transfer, no more.
	for started := 3; started < 8; started++ {
		o.let(running[0])
		running = running[1:]
		select {
		case p := <-o.arrived:
			running = append(running, p)
		case <-time.After(10 * time.Second):
			t.Fatalf("%d transfers started of 8", started)
		}
		o.noneArrives(t)
	}
	for _, p := range running {
		o.let(p)
	}
	for _, d := range done {
		if err := waitErr(t, d); err != nil {
			t.Fatal(err)
		}
	}
	o.mu.Lock()
	peak := o.peak
	o.mu.Unlock()
	if got, want := peak, 3; got != want {
		t.Errorf("peak transfers at the origin: got %d, want %d", got, want)
	}
	waitStats(t, l, 0, 0)
}

// TestProjectCannotStarve: a project at its limit is refused more, and
// does not delay another project's transfer behind all of its own: freed
// slots go to the waiting projects in turn.
func TestProjectCannotStarve(t *testing.T) {
	checkNoLeak(t)
	o := newOrigin(t)
	l := newLimiter(t, transfers.Options{MaxActive: 1, PerProject: 4, MaxQueued: 10})
	a0 := start(context.Background(), l, "a", o.fetch("/a0"))
	o.waitArrived(t, "/a0")
	var as []<-chan error
	for i := 1; i < 4; i++ {
		as = append(as, start(context.Background(), l, "a", o.fetch(fmt.Sprint("/a", i))))
		waitStats(t, l, 1, int64(i)) // queued in this order
	}
	err := l.Do(context.Background(), "a", o.fetch("/a4"))
	var lim *transfers.LimitError
	if !errors.As(err, &lim) || !errors.Is(err, transfers.ErrProjectLimit) {
		t.Fatalf("a's fifth: got %v, want a LimitError for the project", err)
	}
	if got, want := err.Error(), "Project a is over a limit for [Resource image_count_uploading is over limit of 4 due to current usage 5 and delta 0]"; !strings.HasSuffix(got, want) {
		t.Errorf("message: got %q, want it to end %q", got, want)
	}
	b := start(context.Background(), l, "b", o.fetch("/b0"))
	waitStats(t, l, 1, 4)

	o.let("/a0")
	o.waitArrived(t, "/a1") // a was waiting first
	o.let("/a1")
	o.waitArrived(t, "/b0") // then b's turn, before a's other two
	o.noneArrives(t)
	o.let("/b0")
	o.waitArrived(t, "/a2")
	o.let("/a2")
	o.waitArrived(t, "/a3")
	o.let("/a3")
	for _, d := range append(as, a0, b) {
		if err := waitErr(t, d); err != nil {
			t.Fatal(err)
		}
	}
	waitStats(t, l, 0, 0)
	if got := l.Stats().RefusedProject; got != 1 {
		t.Errorf("refused for the project: got %d, want 1", got)
	}
}

// TestQueueBounds: the queue holds MaxQueued; one more is refused, and a
// waiter whose ctx ends leaves it without running.
func TestQueueBounds(t *testing.T) {
	checkNoLeak(t)
	o := newOrigin(t)
	l := newLimiter(t, transfers.Options{MaxActive: 1, PerProject: 5, MaxQueued: 2})
	run := start(context.Background(), l, "a", o.fetch("/run"))
	o.waitArrived(t, "/run")
	ctx, cancel := context.WithCancel(context.Background())
	q1 := start(ctx, l, "b", o.fetch("/q1"))
	waitStats(t, l, 1, 1)
	q2 := start(context.Background(), l, "c", o.fetch("/q2"))
	waitStats(t, l, 1, 2)
	if err := l.Do(context.Background(), "d", o.fetch("/refused")); !errors.Is(err, transfers.ErrQueueFull) {
		t.Fatalf("beyond the queue: got %v, want ErrQueueFull", err)
	}
	cancel()
	if err := waitErr(t, q1); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled while queued: got %v", err)
	}
	waitStats(t, l, 1, 1)
	o.let("/run")
	o.waitArrived(t, "/q2") // not /q1: it left
	o.let("/q2")
	for _, d := range []<-chan error{run, q2} {
		if err := waitErr(t, d); err != nil {
			t.Fatal(err)
		}
	}
	o.noneArrives(t)
	waitStats(t, l, 0, 0)
}

// TestCloseFailsQueued: Close ends the waiting transfers with ErrClosed,
// unrun, lets the running ones finish, and refuses new ones.
func TestCloseFailsQueued(t *testing.T) {
	checkNoLeak(t)
	o := newOrigin(t)
	l := newLimiter(t, transfers.Options{MaxActive: 2, PerProject: 5, MaxQueued: 5})
	r1 := start(context.Background(), l, "a", o.fetch("/r1"))
	r2 := start(context.Background(), l, "b", o.fetch("/r2"))
	o.waitArrived(t, "/r1", "/r2")
	var queued []<-chan error
	for i := range 3 {
		queued = append(queued, start(context.Background(), l, "a", o.fetch(fmt.Sprint("/q", i))))
	}
	waitStats(t, l, 2, 3)
	l.Close()
	for _, d := range queued {
		if err := waitErr(t, d); !errors.Is(err, transfers.ErrClosed) {
			t.Fatalf("queued at Close: got %v, want ErrClosed", err)
		}
	}
	if err := l.Do(context.Background(), "c", o.fetch("/late")); !errors.Is(err, transfers.ErrClosed) {
		t.Fatalf("after Close: got %v, want ErrClosed", err)
	}
	waitStats(t, l, 2, 0)
	o.let("/r1")
	o.let("/r2")
	for _, d := range []<-chan error{r1, r2} {
		if err := waitErr(t, d); err != nil {
			t.Fatal(err)
		}
	}
	o.noneArrives(t)
	waitStats(t, l, 0, 0)
}

// TestCancelGrantRace: waiters cancelled as slots free never lose or leak
// a slot (run with -race, -count).
func TestCancelGrantRace(t *testing.T) {
	checkNoLeak(t)
	l := newLimiter(t, transfers.Options{MaxActive: 2, PerProject: 100, MaxQueued: 100})
	var wg sync.WaitGroup
	for i := range 200 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%7)*100*time.Microsecond)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cancel()
			l.Do(ctx, fmt.Sprint("p", i%5), func(context.Context) error {
				time.Sleep(50 * time.Microsecond)
				return nil
			})
		}()
	}
	wg.Wait()
	waitStats(t, l, 0, 0)
	// Every slot is back: MaxActive transfers run at once again.
	hold := make(chan struct{})
	var in sync.WaitGroup
	in.Add(2)
	var out sync.WaitGroup
	for range 2 {
		out.Add(1)
		go func() {
			defer out.Done()
			l.Do(context.Background(), "x", func(context.Context) error { in.Done(); <-hold; return nil })
		}()
	}
	in.Wait()
	close(hold)
	out.Wait()
}

func TestNewRefusesNegative(t *testing.T) {
	for _, o := range []transfers.Options{{MaxActive: -1}, {PerProject: -1}, {MaxQueued: -1}} {
		if _, err := transfers.New(o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}
