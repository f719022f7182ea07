package site_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/cache/blob"
	"github.com/spyglass-gateway/spyglass/cache/blob/blobtest"
	"github.com/spyglass-gateway/spyglass/cache/redis"
	"github.com/spyglass-gateway/spyglass/cache/redistest"
	"github.com/spyglass-gateway/spyglass/cache/site"
)

const testLeaseTTL = time.Second

// siteInstance is one gateway instance of a site: its blob cache, and its
// peer endpoint on a loopback listener as the admin listener mounts it.
type siteInstance struct {
	b       *blob.Cache
	f       *site.Filler
	url     string
	refused atomic.Int64 // peer requests answered 401 (a wrong or missing token)
}

func newShared(t *testing.T, addr string) *redis.Tier {
	t.Helper()
	s, err := redis.New(redis.Config{Addr: addr, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// startSiteInstance starts an instance whose fill leases last
// testLeaseTTL: short, so that tests of a filler that dies are quick.
func startSiteInstance(t *testing.T, leases site.Leases, serve bool) *siteInstance {
	t.Helper()
	return startSiteInstanceWith(t, instanceConfig{Leases: leases, LeaseTTL: testLeaseTTL}, serve)
}

// startSiteInstanceWithToken is startSiteInstance for a site with an admin
// token: the instance sends token to its peers, and its peer endpoint
// refuses (401) a request without it, as the admin listener does.
func startSiteInstanceWithToken(t *testing.T, leases site.Leases, serve bool, token string) *siteInstance {
	t.Helper()
	return startSiteInstanceWith(t, instanceConfig{Leases: leases, LeaseTTL: testLeaseTTL, PeerToken: token}, serve)
}

// instanceConfig is what a test instance is built from: its Filler's
// configuration, and its blob cache's size and logger.
type instanceConfig struct {
	Leases    site.Leases
	LeaseTTL  time.Duration
	PeerToken string
	MaxSize   int64
	Logger    *slog.Logger
}

// startSiteInstanceWith starts an instance with cfg, in a temporary
// directory (and of 1 GiB unless cfg says).
func startSiteInstanceWith(t *testing.T, cfg instanceConfig, serve bool) *siteInstance {
	t.Helper()
	if cfg.MaxSize == 0 {
		cfg.MaxSize = 1 << 30
	}
	f, err := site.New(site.Config{Leases: cfg.Leases, LeaseTTL: cfg.LeaseTTL, PeerToken: cfg.PeerToken, Logger: cfg.Logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() }) // after the cache's Close, which ends the fills
	b, err := blob.Open(blob.Config{Dir: t.TempDir(), MaxSize: cfg.MaxSize, Logger: cfg.Logger, Site: f})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	si := &siteInstance{b: b, f: f}
	if serve {
		mux := http.NewServeMux()
		peer := f.PeerHandler(b)
		token := cfg.PeerToken
		mux.HandleFunc(site.PeerRoute, func(w http.ResponseWriter, r *http.Request) {
			if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
				si.refused.Add(1)
				http.Error(w, "no admin token", http.StatusUnauthorized)
				return
			}
			peer.ServeHTTP(w, r)
		})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: mux}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		si.url = "http://" + ln.Addr().String()
		f.Advertise(si.url)
	}
	return si
}

// sectioner is the cache's Data as the gateway reads it.
type sectioner interface {
	Section(ctx context.Context, off, n int64) (io.ReadCloser, error)
}

// download reads [off, off+n) of the image through b (n < 0: to the end).
func download(b *blob.Cache, exp blob.Expect, src blob.Origin, off, n int64) ([]byte, error) {
	d, err := b.Open(context.Background(), key, exp, src)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	if n < 0 {
		n = d.Size() - off
	}
	r, err := d.(sectioner).Section(context.Background(), off, n)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// downloadSum reads the whole image through b and returns its MD5 (the
// bytes themselves would be one copy per reader, under -race).
func downloadSum(b *blob.Cache, exp blob.Expect, src blob.Origin) (sum string, n int64, err error) {
	d, err := b.Open(context.Background(), key, exp, src)
	if err != nil {
		return "", 0, err
	}
	defer d.Close()
	r, err := d.(sectioner).Section(context.Background(), 0, d.Size())
	if err != nil {
		return "", 0, err
	}
	defer r.Close()
	h := md5.New()
	n, err = io.Copy(h, r)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

// Three instances, one Redis, readers on each at once: the origin sends the
// image once; the instances that did not fill it got it from the one that
// did; every reader gets exactly the image.
//
// The filler is alive throughout, so the instances run with the product's
// lease time: with the 1 s of the tests where a filler dies, a loaded
// machine (-race, two cores shared with other builds) delayed the filler's
// refreshes past the lease's expiry, and the site rightly took the filler
// for dead — which is not what this test measures.
func TestSiteOneOriginFillAcrossInstances(t *testing.T) {
	r := redistest.StartT(t)
	o := blobtest.NewOrigin(t, 8<<20)
	o.BytesPerS.Store(8 << 20) // a 1 s fill: the others arrive while it runs
	src := o.Region(t, 5*time.Second)
	var site []*siteInstance
	for range 3 {
		site = append(site, startSiteInstanceWith(t, instanceConfig{Leases: newShared(t, r.Addr)}, true))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for i := range 15 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sum, n, err := downloadSum(site[i%3].b, o.Expect(), src)
			if err != nil || sum != o.Expect().Checksum {
				errs <- fmt.Errorf("reader %d on instance %d: %d bytes, %v", i, i%3, n, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if sent := o.Sent.Load(); sent != int64(len(o.Data)) {
		t.Fatalf("origin sent %d bytes for a %d-byte image (%.2f×)", sent, len(o.Data), float64(sent)/float64(len(o.Data)))
	}
	var fromPeers, served int64
	for i, s := range site {
		st := s.b.Stats()
		fromPeers += st.PeerBytes
		served += s.f.Stats().ServedBytes
		if !isCached(s.b, key) {
			t.Errorf("instance %d did not keep the image", i)
		}
	}
	if fromPeers < 2*int64(len(o.Data)) || served != fromPeers {
		t.Fatalf("peers: %d bytes received, %d served; want ≥ %d and equal", fromPeers, served, 2*len(o.Data))
	}

	// Later, on a fourth instance: the image comes from the one that has
	// it whole, not the region.
	late := startSiteInstanceWith(t, instanceConfig{Leases: newShared(t, r.Addr)}, true)
	sum, _, err := downloadSum(late.b, o.Expect(), src)
	if err != nil || sum != o.Expect().Checksum {
		t.Fatalf("late instance: %v", err)
	}
	if sent := o.Sent.Load(); sent != int64(len(o.Data)) {
		t.Fatalf("a late instance went to the origin: %d bytes sent", sent)
	}
}

// Range requests on an instance filling from a peer: a range far ahead of
// the filler's stream is fetched ahead at the filler (through the lease,
// so still one transfer for the site) and does not wait for the stream to
// get there; a near one streams as the bytes land.
func TestSiteRangeWhileFillingFromPeer(t *testing.T) {
	r := redistest.StartT(t)
	o := blobtest.NewOrigin(t, 32<<20)
	o.BytesPerS.Store(8 << 20) // the fill would take 4 s to reach the end
	src := o.Region(t, 5*time.Second)
	filler := startSiteInstance(t, newShared(t, r.Addr), true)
	other := startSiteInstance(t, newShared(t, r.Addr), true)
	d, err := filler.b.Open(context.Background(), key, o.Expect(), src)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	<-o.FirstByte
	near, err := other.b.Open(context.Background(), key, o.Expect(), src)
	if err != nil {
		t.Fatal(err)
	}
	defer near.Close()
	off := int64(len(o.Data)) - 2<<20
	rd, _ := near.(sectioner).Section(context.Background(), off, 1<<20)
	defer rd.Close()
	buf := make([]byte, 1<<20-1) // all but the last byte, held back until verified
	if _, err := io.ReadFull(rd, buf); err != nil {
		t.Fatal(err)
	}
	if sent := o.Sent.Load(); sent > int64(len(o.Data))/2+4<<20 {
		t.Fatalf("the range reader waited for the fill (%d bytes sent)", sent)
	}
	if !bytes.Equal(buf, o.Data[off:off+int64(len(buf))]) {
		t.Fatal("range ahead through a peer: wrong bytes")
	}
	if rest, err := io.ReadAll(rd); err != nil || len(rest) != 1 || rest[0] != o.Data[off+int64(len(buf))] {
		t.Fatalf("last byte: %v %d", err, len(rest))
	}
	got, err := download(other.b, o.Expect(), src, 12345, 1<<20)
	if err != nil || !bytes.Equal(got, o.Data[12345:12345+1<<20]) {
		t.Fatalf("near range: %v", err)
	}
	got, err = download(other.b, o.Expect(), src, 0, -1)
	if err != nil || !bytes.Equal(got, o.Data) {
		t.Fatalf("whole image: %v", err)
	}
	// A stream cut short where a fetch ahead starts has a little more in
	// flight; nothing is fetched twice.
	if sent := o.Sent.Load(); sent > int64(len(o.Data))+2<<20 {
		t.Fatalf("origin sent %d bytes for %d", sent, len(o.Data))
	}
	if other.b.Stats().OriginBytes != 0 {
		t.Fatalf("the instance without the lease read %d bytes from the origin", other.b.Stats().OriginBytes)
	}
}

// fakePeer holds an image's lease in Redis and answers the peer protocol
// the way a real instance cannot be made to: it cuts its stream after cutAt
// bytes (then refuses connections, as a killed process), or sends one
// wrong byte. It never refreshes its lease, so it expires as a dead
// filler's does.
type fakePeer struct {
	data    []byte
	cutAt   int64
	corrupt bool
	sent    atomic.Int64
	ln      net.Listener
	srv     *http.Server
	lease   string // the lease value that names it
}

func startFakePeer(t *testing.T, s *redis.Tier, exp blob.Expect, data []byte, cutAt int64, corrupt bool) *fakePeer {
	t.Helper()
	p := newFakePeer(t, data, cutAt, corrupt)
	if cur, ok := s.SwapLease(context.Background(), leaseKeyFor(exp), "", p.lease, testLeaseTTL); !ok || cur != p.lease {
		t.Fatalf("fake peer could not take the lease: %q %v", cur, ok)
	}
	return p
}

// newFakePeer starts a fake peer that holds no lease yet; p.lease is the
// value that names it.
func newFakePeer(t *testing.T, data []byte, cutAt int64, corrupt bool) *fakePeer {
	t.Helper()
	p := &fakePeer{data: data, cutAt: cutAt, corrupt: corrupt}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.ln = ln
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve)}
	go p.srv.Serve(ln)
	t.Cleanup(func() { p.srv.Close() })
	p.lease = "fill fa4e http://" + ln.Addr().String()
	return p
}

// leaseKeyFor is the Redis key of the test image's fill lease, as the
// cache names it.
func leaseKeyFor(exp blob.Expect) string {
	return "fill:" + key.Region + "/" + key.Image + ":" + strconv.FormatInt(exp.Size, 10) + ":" + exp.HashValue
}

// readLease returns what the lease key holds ("" when free).
func readLease(t *testing.T, s *redis.Tier, exp blob.Expect) string {
	t.Helper()
	cur, ok := s.SwapLease(context.Background(), leaseKeyFor(exp), "", "", 0)
	if !ok {
		t.Fatal("Redis did not answer")
	}
	return cur
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

// signalLogs is a slog handler that closes seen at the first record whose
// message starts with prefix (and logs everything as next does).
type signalLogs struct {
	slog.Handler
	prefix string
	once   sync.Once
	seen   chan struct{}
}

func (h *signalLogs) Handle(ctx context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, h.prefix) {
		h.once.Do(func() { close(h.seen) })
	}
	return h.Handler.Handle(ctx, r)
}

func (p *fakePeer) serve(w http.ResponseWriter, r *http.Request) {
	spec := strings.TrimPrefix(r.Header.Get("Range"), "bytes=")
	a, b, _ := strings.Cut(spec, "-")
	off, _ := strconv.ParseInt(a, 10, 64)
	last, _ := strconv.ParseInt(b, 10, 64)
	body := append([]byte(nil), p.data[off:last+1]...)
	if p.corrupt && len(body) > 0 {
		body[len(body)/2] ^= 0xff
	}
	w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, last, len(p.data)))
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusPartialContent)
	if p.cutAt > 0 && int64(len(body)) > p.cutAt {
		w.Write(body[:p.cutAt])
		p.sent.Add(p.cutAt)
		w.(http.Flusher).Flush()
		// Dies: the connection and the listener go.
		go p.srv.Close()
		panic(http.ErrAbortHandler)
	}
	w.Write(body)
	p.sent.Add(int64(len(body)))
}

// The filler dies mid-fill (its stream cut, its address refusing, its lease
// not refreshed): the instance streaming from it never counts the partial
// stream as the image, waits for the lease to expire, takes it and goes on
// from the region from where the peer stopped.
func TestSiteFillerDiesMidFill(t *testing.T) {
	r := redistest.StartT(t)
	o := blobtest.NewOrigin(t, 4<<20)
	shared := newShared(t, r.Addr)
	peer := startFakePeer(t, shared, o.Expect(), o.Data, 1<<20+777, false)
	si := startSiteInstance(t, shared, true)
	got, err := download(si.b, o.Expect(), o.Region(t, 5*time.Second), 0, -1)
	if err != nil || !bytes.Equal(got, o.Data) {
		t.Fatalf("after the filler died: %d bytes, %v", len(got), err)
	}
	if peer.sent.Load() != 1<<20+777 {
		t.Fatalf("the fake filler sent %d bytes", peer.sent.Load())
	}
	if sent, want := o.Sent.Load(), int64(len(o.Data))-(1<<20+777); sent > want {
		t.Fatalf("origin sent %d bytes; the rest after the peer's part is %d", sent, want)
	}
	if st := si.b.Stats(); st.PeerBytes != 1<<20+777 {
		t.Fatalf("PeerBytes = %d", st.PeerBytes)
	}
}

// The filler's lease expires while its fill runs (its process was too slow
// to refresh it in time) and nobody takes it meanwhile: the filler takes it
// back, so an instance that comes later streams from it rather than read
// the region a second time.
func TestSiteFillerTakesBackItsExpiredLease(t *testing.T) {
	r := redistest.StartT(t)
	o := blobtest.NewOrigin(t, 4<<20)
	o.HoldAt.Store(1 << 20) // the fill runs until the test lets it end
	src := o.Region(t, time.Minute)
	shared := newShared(t, r.Addr)
	filler := startSiteInstance(t, newShared(t, r.Addr), true)
	d, err := filler.b.Open(context.Background(), key, o.Expect(), src)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	<-o.Held
	held := readLease(t, shared, o.Expect())
	if !strings.HasPrefix(held, "fill ") {
		t.Fatalf("lease during the fill = %q", held)
	}
	// What an expiry does to it.
	if cur, ok := shared.SwapLease(context.Background(), leaseKeyFor(o.Expect()), held, "", 0); !ok || cur != "" {
		t.Fatalf("could not expire the lease: %q %v", cur, ok)
	}
	waitUntil(t, "the filler to take its lease back", func() bool { return readLease(t, shared, o.Expect()) == held })

	late := startSiteInstance(t, newShared(t, r.Addr), true)
	done := make(chan error, 1)
	go func() {
		sum, n, err := downloadSum(late.b, o.Expect(), src)
		if err == nil && sum != o.Expect().Checksum {
			err = fmt.Errorf("%d bytes that are not the image", n)
		}
		done <- err
	}()
	waitUntil(t, "the late instance to stream from the filler", func() bool { return filler.f.Stats().ServedBytes > 0 })
	close(o.Release)
	if err := <-done; err != nil {
		t.Fatalf("late instance: %v", err)
	}
	if got, want := o.Sent.Load(), int64(len(o.Data)); got != want {
		t.Fatalf("origin sent %d bytes for a %d-byte image", got, want)
	}
	if got := late.b.Stats().OriginBytes; got != 0 {
		t.Fatalf("the late instance read %d bytes from the region", got)
	}
}

// Another instance took the filler's lease (the filler looked dead to it)
// and reads the region: the filler stops reading the region and goes on
// from that instance, so the site does not pay for the rest twice.
func TestSiteFillerWhoseLeaseIsTakenGoesOnFromTheNewHolder(t *testing.T) {
	r := redistest.StartT(t)
	o := blobtest.NewOrigin(t, 8<<20)
	o.HoldAt.Store(1 << 20)
	o.BytesPerS.Store(4 << 20) // the rest would take 2 s: long after the filler let go
	src := o.Region(t, time.Minute)
	shared := newShared(t, r.Addr)
	logs := &signalLogs{Handler: slog.Default().Handler(), prefix: "lost a fill lease", seen: make(chan struct{})}
	filler := startSiteInstanceWith(t, instanceConfig{Leases: newShared(t, r.Addr), LeaseTTL: testLeaseTTL,
		Logger: slog.New(logs)}, true)
	d, err := filler.b.Open(context.Background(), key, o.Expect(), src)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	<-o.Held
	held := readLease(t, shared, o.Expect())
	holder := newFakePeer(t, o.Data, 0, false)
	if cur, ok := shared.SwapLease(context.Background(), leaseKeyFor(o.Expect()), held, holder.lease, time.Minute); !ok || cur != holder.lease {
		t.Fatalf("could not take the lease over: %q %v", cur, ok)
	}
	<-logs.seen // the filler's refresh found the lease taken
	close(o.Release)
	got, err := readAll(t, d)
	if err != nil || !bytes.Equal(got, o.Data) {
		t.Fatalf("the filler's reader: %d bytes, %v", len(got), err)
	}
	if holder.sent.Load() == 0 {
		t.Fatalf("the filler went on reading the region (%d bytes sent of %d), not from the new holder", o.Sent.Load(), len(o.Data))
	}
	if sent := o.Sent.Load(); sent >= int64(len(o.Data)) {
		t.Fatalf("origin sent %d bytes of %d after the filler lost its lease", sent, len(o.Data))
	}
	if st := filler.b.Stats(); st.PeerBytes == 0 || !isCached(filler.b, key) {
		t.Fatalf("after the handover: %d bytes from the new holder, cached %v", st.PeerBytes, isCached(filler.b, key))
	}
}

// An instance that does not cache an image (too small a cache here; no
// room is the same) streams it from the instance filling it, not from the
// region: the site still reads the region once. It takes no lease.
func TestSiteUncachedReadStreamsFromTheFiller(t *testing.T) {
	r := redistest.StartT(t)
	o := blobtest.NewOrigin(t, 8<<20)
	o.HoldAt.Store(1 << 20) // the fill runs until the test lets it end
	src := o.Region(t, time.Minute)
	filler := startSiteInstance(t, newShared(t, r.Addr), true)
	small := startSiteInstanceWith(t, instanceConfig{Leases: newShared(t, r.Addr), LeaseTTL: testLeaseTTL, MaxSize: 8 << 20}, true)
	d, err := filler.b.Open(context.Background(), key, o.Expect(), src)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	<-o.Held
	done := make(chan error, 1)
	go func() {
		sum, n, err := downloadSum(small.b, o.Expect(), src)
		if err == nil && sum != o.Expect().Checksum {
			err = fmt.Errorf("%d bytes that are not the image", n)
		}
		done <- err
	}()
	waitUntil(t, "the uncached read to stream from the filler", func() bool { return filler.f.Stats().ServedBytes > 0 })
	close(o.Release)
	if err := <-done; err != nil {
		t.Fatalf("uncached read: %v", err)
	}
	if got, want := o.Sent.Load(), int64(len(o.Data)); got != want {
		t.Fatalf("origin sent %d bytes for a %d-byte image", got, want)
	}
	st := small.b.Stats()
	if st.Bypasses.Uncacheable != 1 || st.PeerBytes != int64(len(o.Data)) || st.BypassBytes != 0 || isCached(small.b, key) {
		t.Fatalf("the small instance: %+v", st)
	}
	if got := readLease(t, newShared(t, r.Addr), o.Expect()); !strings.HasPrefix(got, "have ") {
		t.Fatalf("lease after the fill = %q, want the filler's have", got)
	}
}

// A peer that sends one wrong byte: the entry never counts, its reader
// gets an error rather than a clean end, and the next fill does not trust
// that peer again (it takes the lease when it is free, or after waiting out
// its holder, and fills from the region).
func TestSitePeerWithWrongBytesIsNeverAccepted(t *testing.T) {
	r := redistest.StartT(t)
	o := blobtest.NewOrigin(t, 2<<20)
	shared := newShared(t, r.Addr)
	startFakePeer(t, shared, o.Expect(), o.Data, 0, true)
	si := startSiteInstance(t, shared, true)
	src := o.Region(t, 5*time.Second)
	got, err := download(si.b, o.Expect(), src, 0, -1)
	if err == nil {
		t.Fatalf("a reader of a fill from a corrupting peer got a clean end (%d bytes)", len(got))
	}
	if isCached(si.b, key) {
		t.Fatal("bytes from a corrupting peer are listed as cached")
	}
	if o.Sent.Load() != 0 {
		t.Fatalf("origin sent %d bytes while a peer held the lease", o.Sent.Load())
	}
	got, err = download(si.b, o.Expect(), src, 0, -1)
	if err != nil || !bytes.Equal(got, o.Data) {
		t.Fatalf("second download: %d bytes, %v", len(got), err)
	}
	if !isCached(si.b, key) {
		t.Fatal("the image is not cached after a good fill")
	}
}

// Redis down: each instance fills from the region as without a site, and
// no fill waits on Redis beyond its timeout.
func TestSiteRedisDownFillsFromOrigin(t *testing.T) {
	r := redistest.StartT(t)
	shared := newShared(t, r.Addr)
	r.Stop()
	o := blobtest.NewOrigin(t, 1<<20)
	si := startSiteInstance(t, shared, true)
	got, err := download(si.b, o.Expect(), o.Region(t, 5*time.Second), 0, -1)
	if err != nil || !bytes.Equal(got, o.Data) {
		t.Fatalf("Redis down: %d bytes, %v", len(got), err)
	}
	if o.Sent.Load() != int64(len(o.Data)) {
		t.Fatalf("origin sent %d bytes", o.Sent.Load())
	}
}

// An instance that serves no peers (admin listener off) takes no lease but
// streams from the instance that fills.
func TestSiteInstanceWithoutPeerEndpointStreamsFromFiller(t *testing.T) {
	r := redistest.StartT(t)
	o := blobtest.NewOrigin(t, 4<<20)
	o.BytesPerS.Store(4 << 20)
	src := o.Region(t, 5*time.Second)
	filler := startSiteInstance(t, newShared(t, r.Addr), true)
	quiet := startSiteInstance(t, newShared(t, r.Addr), false)
	d, err := filler.b.Open(context.Background(), key, o.Expect(), src)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	<-o.FirstByte
	got, err := download(quiet.b, o.Expect(), src, 0, -1)
	if err != nil || !bytes.Equal(got, o.Data) {
		t.Fatalf("instance without peer endpoint: %v", err)
	}
	if o.Sent.Load() != int64(len(o.Data)) || quiet.b.Stats().PeerBytes != int64(len(o.Data)) {
		t.Fatalf("origin sent %d, peer %d", o.Sent.Load(), quiet.b.Stats().PeerBytes)
	}
}

// A site with an admin token: its instances send it to each other and one
// origin fill serves them all; an instance with another token is refused
// every byte by the peer endpoint and reads the region itself, without
// taking the site's lease (which would point the others at an instance
// that refuses them).
func TestSitePeersSendTheSiteToken(t *testing.T) {
	r := redistest.StartT(t)
	o := blobtest.NewOrigin(t, 4<<20)
	o.BytesPerS.Store(8 << 20)
	src := o.Region(t, 5*time.Second)
	const token = "site-token-0123456789"
	filler := startSiteInstanceWithToken(t, newShared(t, r.Addr), true, token)
	member := startSiteInstanceWithToken(t, newShared(t, r.Addr), true, token)
	stranger := startSiteInstanceWithToken(t, newShared(t, r.Addr), true, "another-token-0123456789")
	d, err := filler.b.Open(context.Background(), key, o.Expect(), src)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	<-o.FirstByte
	got, err := download(member.b, o.Expect(), src, 0, -1)
	if err != nil || !bytes.Equal(got, o.Data) {
		t.Fatalf("instance with the site's token: %d bytes, %v", len(got), err)
	}
	if got, want := member.b.Stats().PeerBytes, int64(len(o.Data)); got != want {
		t.Fatalf("instance with the site's token streamed %d bytes from its peer, want %d", got, want)
	}
	if got, want := o.Sent.Load(), int64(len(o.Data)); got != want {
		t.Fatalf("origin sent %d bytes, want the image once (%d)", got, want)
	}
	got, err = download(stranger.b, o.Expect(), src, 0, -1)
	if err != nil || !bytes.Equal(got, o.Data) {
		t.Fatalf("instance with another token: %d bytes, %v", len(got), err)
	}
	if got := stranger.b.Stats().PeerBytes; got != 0 {
		t.Errorf("instance with another token streamed %d bytes from a peer", got)
	}
	if filler.refused.Load()+member.refused.Load() == 0 {
		t.Error("the instance with another token never asked a peer (nothing refused): the test proves nothing")
	}
	if got := filler.f.Stats().ServedBytes + member.f.Stats().ServedBytes; got != int64(len(o.Data)) {
		t.Errorf("peers served %d bytes in all, want the image once, to the instance with the token", got)
	}
	exp := o.Expect()
	lk := "fill:" + key.Region + "/" + key.Image + ":" + strconv.FormatInt(exp.Size, 10) + ":" + exp.HashValue
	if cur, _ := newShared(t, r.Addr).SwapLease(context.Background(), lk, "", "", 0); !strings.HasSuffix(cur, " "+filler.url) {
		t.Errorf("lease after the instance with another token read the image: %q, want the filler's (%s)", cur, filler.url)
	}
}

// The peer endpoint answers malformed or misdirected requests with a 4xx
// and never starts a fill.
func TestPeerHandlerRefusals(t *testing.T) {
	r := redistest.StartT(t)
	o := blobtest.NewOrigin(t, 1<<20)
	si := startSiteInstance(t, newShared(t, r.Addr), true)
	exp := o.Expect()
	// The instance id, as a lease names it: read from the lease of a fill.
	if _, err := download(si.b, exp, o.Region(t, 5*time.Second), 0, -1); err != nil {
		t.Fatal(err)
	}
	shared := newShared(t, r.Addr)
	cur := readLease(t, shared, exp)
	f := strings.Fields(cur)
	if len(f) != 3 || f[0] != "have" || f[2] != si.url {
		t.Fatalf("lease after a complete fill = %q, want have <id> %s", cur, si.url)
	}
	id := f[1]
	good := map[string]string{"Spyglass-Peer-Instance": id, "Spyglass-Expect-Size": strconv.FormatInt(exp.Size, 10),
		"Spyglass-Expect-Checksum": exp.Checksum, "Spyglass-Expect-Hash-Algo": "sha512", "Spyglass-Expect-Hash-Value": exp.HashValue}
	with := func(k, v string) map[string]string {
		h := map[string]string{}
		for a, b := range good {
			h[a] = b
		}
		if v == "" {
			delete(h, k)
		} else {
			h[k] = v
		}
		return h
	}
	sum := md5.Sum([]byte("other"))
	tests := []struct {
		name  string
		path  string
		hdr   map[string]string
		code  int
		check func([]byte) bool
	}{
		{"whole", "/peer/v1/blobs/r1/img", good, 200, func(b []byte) bool { return bytes.Equal(b, o.Data) }},
		{"range", "/peer/v1/blobs/r1/img", with("Range", "bytes=10-19"), 206, func(b []byte) bool { return bytes.Equal(b, o.Data[10:20]) }},
		{"open range", "/peer/v1/blobs/r1/img", with("Range", "bytes=1048570-"), 206, func(b []byte) bool { return bytes.Equal(b, o.Data[1048570:]) }},
		{"no instance", "/peer/v1/blobs/r1/img", with("Spyglass-Peer-Instance", ""), 400, nil},
		{"another instance", "/peer/v1/blobs/r1/img", with("Spyglass-Peer-Instance", "0123"), 421, nil},
		{"no size", "/peer/v1/blobs/r1/img", with("Spyglass-Expect-Size", ""), 400, nil},
		{"bad size", "/peer/v1/blobs/r1/img", with("Spyglass-Expect-Size", "-1"), 400, nil},
		{"bad checksum", "/peer/v1/blobs/r1/img", with("Spyglass-Expect-Checksum", "xyz"), 400, nil},
		{"unknown algo", "/peer/v1/blobs/r1/img", with("Spyglass-Expect-Hash-Algo", "crc32"), 400, nil},
		{"other checksum", "/peer/v1/blobs/r1/img", with("Spyglass-Expect-Checksum", hex.EncodeToString(sum[:])), 404, nil},
		{"unknown image", "/peer/v1/blobs/r1/nope", good, 404, nil},
		{"range past the end", "/peer/v1/blobs/r1/img", with("Range", "bytes=1048576-"), 416, nil},
		{"bad range", "/peer/v1/blobs/r1/img", with("Range", "bytes=5-1"), 416, nil},
		{"multi range", "/peer/v1/blobs/r1/img", with("Range", "bytes=0-1,5-6"), 416, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", si.url+tc.path, nil)
			for k, v := range tc.hdr {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if got, want := resp.StatusCode, tc.code; got != want {
				t.Fatalf("status %d, want %d: %s", got, want, body)
			}
			if tc.check != nil && !tc.check(body) {
				t.Fatal("wrong bytes")
			}
		})
	}
	if o.Requests.Load() != 1 {
		t.Fatalf("peer requests made the origin answer %d requests, want the 1 of the fill", o.Requests.Load())
	}
}

var _ site.Leases = (*redis.Tier)(nil)
