package admin_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/spyglass-gateway/spyglass/admin"
	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/backends/local"
	"github.com/spyglass-gateway/spyglass/cache/blob"
	"github.com/spyglass-gateway/spyglass/cache/redis"
	"github.com/spyglass-gateway/spyglass/cache/redistest"
	"github.com/spyglass-gateway/spyglass/cache/site"
	"github.com/spyglass-gateway/spyglass/federation"
	"github.com/spyglass-gateway/spyglass/gateway"
)

const testToken = "admin-token-0123456789abcdef"

// image is an image of an embedded store: its bytes, and where the blob
// cache reads them from.
type image struct {
	id   string
	data []byte
	exp  blob.Expect
	src  blob.Origin
}

// storeOrigin reads an embedded store's image data as the blob cache's
// Origin: a real region's bytes, without a remote Glance.
type storeOrigin struct {
	store *local.Store
	id    string
}

func (o storeOrigin) Fetch(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	img, err := o.store.Image(ctx, o.id)
	if err != nil {
		return nil, err
	}
	d, err := o.store.OpenData(ctx, img)
	if err != nil {
		return nil, err
	}
	if n < 0 {
		n = d.Size() - off
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(d, off, n), d}, nil
}

// newImage stores size random bytes as an image of a new embedded store.
func newImage(t *testing.T, size int) image {
	t.Helper()
	store, err := local.Open(t.TempDir(), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ctx := backends.WithCaller(context.Background(), &backends.Caller{Admin: true, Roles: []string{"admin"}})
	raw, bare := "raw", "bare"
	img, err := store.CreateImage(ctx, &backends.Image{ID: uuid.NewString(), DiskFormat: &raw, ContainerFormat: &bare, Visibility: "public"})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, size)
	rand.Read(data)
	if _, err := store.UploadData(ctx, img.ID, bytes.NewReader(data), backends.UploadOptions{ExpectedSize: -1}); err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(data)
	return image{id: img.ID, data: data, exp: blob.Expect{Size: int64(size), Checksum: hex.EncodeToString(sum[:])},
		src: storeOrigin{store: store, id: img.ID}}
}

// newInstance is a gateway instance's parts as the admin listener sees
// them: a region "r1" whose data goes through a blob cache (coordinated
// through leases when given), behind the federation catalog. The region
// is an embedded store: the peer route and the token need no remote
// Glance (TestCacheControlsOverGlance has one).
func newInstance(t *testing.T, leases site.Leases, token string) *admin.Instance {
	t.Helper()
	bc := blob.Config{Dir: t.TempDir(), MaxSize: 1 << 30}
	var filler *site.Filler
	if leases != nil {
		var err error
		filler, err = site.New(site.Config{Leases: leases, PeerToken: token, LeaseTTL: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { filler.Close() }) // after the cache's Close, which ends the fills
		bc.Site = filler
	}
	blobs, err := blob.Open(bc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	store, err := local.Open(t.TempDir(), local.Options{StoreName: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	inst := instanceOver(t, federation.RegionConfig{Name: "r1", Region: federation.RegionOf(store)}, blobs)
	inst.Site = filler
	return inst
}

// instanceOver is the Instance of a federation catalog over one region
// whose data blobs caches.
func instanceOver(t *testing.T, region federation.RegionConfig, blobs *blob.Cache) *admin.Instance {
	t.Helper()
	cat, err := federation.New(federation.Config{Regions: []federation.RegionConfig{region}, Default: region.Name, Blobs: blobs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cat.Close)
	inst := &admin.Instance{Regions: []admin.Region{{Name: region.Name, Kind: "glance", Cached: true}}, DefaultRegion: region.Name,
		Images: cat, Blobs: blobs}
	if ic := cat.ImageCache(); ic != nil {
		inst.Prefetch = ic
	}
	return inst
}

// startAdmin serves cfg on a loopback port until the test ends and returns
// its base URL.
func startAdmin(t *testing.T, cfg admin.Config) string {
	t.Helper()
	srv, err := admin.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Serve()
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return "http://" + addr
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func send(t *testing.T, method, url string, header map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, body}
}

// glanceError is the JSON error body Glance (webob) answers.
type glanceError struct {
	Message, Code, Title string
}

// TestTokenGuardsEveryRouteButHealthAndReady: each hostile request — no
// token, another token, the token in another header or scheme — gets 401
// with Glance's error shape and a Bearer challenge, on every route but
// /healthcheck and /ready (an unknown path included); the token opens them.
func TestTokenGuardsEveryRouteButHealthAndReady(t *testing.T) {
	inst := newInstance(t, nil, "")
	base := startAdmin(t, admin.Config{Token: testToken, Instance: inst, Requests: gateway.NewRequestMetrics()})
	guarded := []struct{ method, path string }{
		{"GET", "/cache"},
		{"PUT", "/cache/r1/0a1b2c3d-0000-4000-8000-000000000000"},
		{"DELETE", "/cache/r1/0a1b2c3d-0000-4000-8000-000000000000"},
		{"GET", "/metrics"},
		{"GET", "/peer/v1/blobs/r1/0a1b2c3d-0000-4000-8000-000000000000"},
		{"GET", "/no/such/route"},
	}
	hostile := []struct {
		name   string
		header map[string]string
		why    string
	}{
		{"no token", nil, "missing"},
		{"another token", map[string]string{"Authorization": "Bearer " + strings.ToUpper(testToken)}, "wrong"},
		{"the token with a byte more", map[string]string{"Authorization": "Bearer " + testToken + "0"}, "wrong"},
		{"a prefix of the token", map[string]string{"Authorization": "Bearer " + testToken[:len(testToken)-1]}, "wrong"},
		{"the token as X-Auth-Token", map[string]string{"X-Auth-Token": testToken}, "missing"},
		{"the token as Basic", map[string]string{"Authorization": "Basic " + testToken}, "missing"},
		{"the token without a scheme", map[string]string{"Authorization": testToken}, "missing"},
		{"an empty bearer", map[string]string{"Authorization": "Bearer "}, "missing"},
	}
	for _, r := range guarded {
		for _, h := range hostile {
			t.Run(r.method+" "+r.path+" "+h.name, func(t *testing.T) {
				a := send(t, r.method, base+r.path, h.header)
				if got, want := a.status, http.StatusUnauthorized; got != want {
					t.Fatalf("status %d, want %d; body %s", got, want, a.body)
				}
				if got, want := a.header.Get("WWW-Authenticate"), `Bearer realm="spyglass admin"`; got != want {
					t.Errorf("WWW-Authenticate %q, want %q", got, want)
				}
				var e glanceError
				if err := json.Unmarshal(a.body, &e); err != nil || a.header.Get("Content-Type") != "application/json" {
					t.Fatalf("body not Glance's JSON error (%v): %s", err, a.body)
				}
				wantMsg := "This server could not verify that you are authorized to access the document you requested. Either you supplied the wrong credentials (e.g., bad password), or your browser does not understand how to supply the credentials required.<br /><br />\nThe admin token is " + h.why
				if e.Code != "401 Unauthorized" || e.Title != "Unauthorized" || !strings.HasPrefix(e.Message, wantMsg) {
					t.Errorf("body %+v, want code 401 Unauthorized and a message starting %q", e, wantMsg)
				}
				if strings.Contains(string(a.body), testToken) {
					t.Error("the answer repeats the token")
				}
			})
		}
		t.Run(r.method+" "+r.path+" with the token", func(t *testing.T) {
			for _, scheme := range []string{"Bearer", "bearer"} {
				if a := send(t, r.method, base+r.path, map[string]string{"Authorization": scheme + " " + testToken}); a.status == http.StatusUnauthorized {
					t.Errorf("%s token: 401 %s", scheme, a.body)
				}
			}
		})
	}
	for _, path := range []string{"/healthcheck", "/ready"} {
		if a := send(t, "GET", base+path, nil); a.status != http.StatusOK {
			t.Errorf("GET %s without the token: %d %s, want 200", path, a.status, a.body)
		}
	}
}

// TestMetricsWithoutToken: the operator may open /metrics to a scraper
// without the token; the cache controls stay closed.
func TestMetricsWithoutToken(t *testing.T) {
	base := startAdmin(t, admin.Config{Token: testToken, MetricsWithoutToken: true, Instance: newInstance(t, nil, ""), Requests: gateway.NewRequestMetrics()})
	if a := send(t, "GET", base+"/metrics", nil); a.status != http.StatusOK || !bytes.Contains(a.body, []byte("spyglass_image_cache_prefetches_failed_total")) {
		t.Errorf("GET /metrics without the token: %d, want 200 with the image cache's metrics", a.status)
	}
	if a := send(t, "GET", base+"/cache", nil); a.status != http.StatusUnauthorized {
		t.Errorf("GET /cache without the token: %d, want 401", a.status)
	}
}

// TestNoTokenOnLoopback: without a token, on loopback, everything answers
// as before (the default: only this host reaches it).
func TestNoTokenOnLoopback(t *testing.T) {
	base := startAdmin(t, admin.Config{Instance: newInstance(t, nil, ""), Requests: gateway.NewRequestMetrics()})
	for _, path := range []string{"/healthcheck", "/ready", "/metrics", "/cache"} {
		if a := send(t, "GET", base+path, nil); a.status != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, a.status, a.body)
		}
	}
}

// TestListenRefusesNetworkAddressWithoutToken: the hostile start-up — the
// admin listener on every address with no token — is refused; with a
// token it listens.
func TestListenRefusesNetworkAddressWithoutToken(t *testing.T) {
	srv, err := admin.New(admin.Config{Instance: newInstance(t, nil, "")})
	if err != nil {
		t.Fatal(err)
	}
	if addr, err := srv.Listen("0.0.0.0:0"); err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("Listen(0.0.0.0:0) without a token = %q, %v; want a refusal", addr, err)
	}
	withToken, err := admin.New(admin.Config{Token: testToken, Instance: newInstance(t, nil, "")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := withToken.Listen("0.0.0.0:0"); err != nil {
		t.Fatalf("Listen(0.0.0.0:0) with a token: %v", err)
	}
	withToken.Shutdown(context.Background())
}

// peerHeaders are a valid peer request for img at the instance id in the
// image's lease.
func peerHeaders(t *testing.T, shared *redis.Tier, img image) map[string]string {
	t.Helper()
	lk := "fill:r1/" + img.id + ":" + itoa(img.exp.Size) + ":" + img.exp.Checksum
	cur, _ := shared.SwapLease(context.Background(), lk, "", "", 0)
	f := strings.Fields(cur)
	if len(f) != 3 || (f[0] != "have" && f[0] != "fill") {
		t.Fatalf("lease after a fill = %q, want have (or, until the fill records its end, fill) <id> <url>", cur)
	}
	return map[string]string{"Spyglass-Peer-Instance": f[1], "Spyglass-Expect-Size": itoa(img.exp.Size), "Spyglass-Expect-Checksum": img.exp.Checksum}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func newShared(t *testing.T, addr string) *redis.Tier {
	t.Helper()
	s, err := redis.New(redis.Config{Addr: addr, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fill reads the whole image through b.
func fill(t *testing.T, b *blob.Cache, img image) []byte {
	t.Helper()
	d, err := b.Open(context.Background(), blob.Key{Region: "r1", Image: img.id}, img.exp, img.src)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r, err := d.(backends.Sectioner).Section(context.Background(), 0, d.Size())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestPeerRouteWithoutTokenStreamsNothing: whoever names an image on the
// peer route, with every header a peer sends but without the site's token,
// gets 401 and not one byte of it; the site's token streams it.
func TestPeerRouteWithoutTokenStreamsNothing(t *testing.T) {
	r := redistest.StartT(t)
	img := newImage(t, 256<<10)
	shared := newShared(t, r.Addr)
	inst := newInstance(t, shared, testToken)
	base := startAdmin(t, admin.Config{Token: testToken, Instance: inst, Peers: true})
	if got := fill(t, inst.Blobs, img); !bytes.Equal(got, img.data) {
		t.Fatal("fill: wrong bytes")
	}
	url := base + "/peer/v1/blobs/r1/" + img.id
	h := peerHeaders(t, shared, img)
	for _, hostile := range []string{"", "Bearer not-the-site-token-0123", "Basic " + testToken} {
		h["Authorization"] = hostile
		a := send(t, "GET", url, h)
		if a.status != http.StatusUnauthorized || bytes.Contains(a.body, img.data[:64]) {
			t.Errorf("peer route with Authorization %q: %d, %d bytes; want 401 and none of the image", hostile, a.status, len(a.body))
		}
	}
	if got := inst.Site.Stats().ServedBytes; got != 0 {
		t.Fatalf("served %d bytes to requests without the token", got)
	}
	h["Authorization"] = "Bearer " + testToken
	if a := send(t, "GET", url, h); a.status != http.StatusOK || !bytes.Equal(a.body, img.data) {
		t.Fatalf("peer route with the token: %d, %d bytes; want 200 and the image", a.status, len(a.body))
	}
}

// TestSiteStreamsAcrossInstancesWithTheToken: two instances of a site, each
// behind its admin listener with the site's token, fill an image once
// between them (the second streams it from the first's peer route); an
// instance with another token is refused and reads the region itself.
func TestSiteStreamsAcrossInstancesWithTheToken(t *testing.T) {
	r := redistest.StartT(t)
	img := newImage(t, 1<<20)
	var insts []*admin.Instance
	for _, token := range []string{testToken, testToken, "another-token-0123456789"} {
		inst := newInstance(t, newShared(t, r.Addr), token)
		startAdmin(t, admin.Config{Token: token, Instance: inst, Peers: true})
		insts = append(insts, inst)
	}
	for i, inst := range insts {
		if got := fill(t, inst.Blobs, img); !bytes.Equal(got, img.data) {
			t.Fatalf("instance %d: wrong bytes", i)
		}
	}
	size := int64(len(img.data))
	s := []blob.Stats{insts[0].Blobs.Stats(), insts[1].Blobs.Stats(), insts[2].Blobs.Stats()}
	if s[0].OriginBytes != size || s[1].OriginBytes != 0 || s[1].PeerBytes != size || insts[0].Site.Stats().ServedBytes != size {
		t.Errorf("first two instances: origin %d and %d bytes, peer %d received, %d served; want the image once from the origin and once between them",
			s[0].OriginBytes, s[1].OriginBytes, s[1].PeerBytes, insts[0].Site.Stats().ServedBytes)
	}
	if s[2].PeerBytes != 0 || s[2].OriginBytes != size {
		t.Errorf("instance with another token: %d bytes from peers, %d from the origin; want none and the image", s[2].PeerBytes, s[2].OriginBytes)
	}
}
