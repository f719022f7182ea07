package federation_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends/glance"
	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
	"github.com/spyglass-gateway/spyglass/backends/local"
	"github.com/spyglass-gateway/spyglass/cache/blob"
	"github.com/spyglass-gateway/spyglass/cache/meta"
	"github.com/spyglass-gateway/spyglass/federation"
)

// topology is Spyglass over one region, wired as cmd/spyglass wires it:
// the embedded store straight behind the gateway, or a real Glance behind
// the federation catalog with the metadata and image data caches.
type topology struct {
	name   string
	base   string
	region *glance.Region // nil for the embedded store
}

func embeddedTopology(t *testing.T) topology {
	t.Helper()
	store, err := local.Open(t.TempDir(), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return topology{name: "embedded", base: serve(t, store)}
}

func glanceTopology(t *testing.T, g *glancetest.Glance) topology {
	t.Helper()
	region, err := glance.New(glance.Config{Name: "r1", Endpoint: g.URL})
	if err != nil {
		t.Fatal(err)
	}
	meta, err := meta.New(meta.Config{TTL: 30 * time.Second, Name: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(meta.Close)
	blobs, err := blob.Open(blob.Config{Dir: t.TempDir(), MaxSize: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	cat, err := federation.New(federation.Config{Regions: []federation.RegionConfig{{Region: federation.RegionOf(region), Meta: meta}}, Blobs: blobs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cat.Close)
	return topology{name: "glance region", base: serve(t, cat), region: region}
}

var (
	hostileProject = caller{"evil", "member,reader"}
	healthyProject = caller{"good", "member,reader"}
)

// hostileRequest is one request a tenant can make to have Glance answer
// 500 (asked of Glance 25; each is in the comment) or to break its own
// upload; {img} is an image of the tenant's own, queued.
type hostileRequest struct {
	name, method, path, contentType, body string
	header                                []string
}

func (h hostileRequest) send(t *testing.T, base, img string) (*http.Response, []byte) {
	t.Helper()
	hdr := map[string]string{}
	if h.contentType != "" {
		hdr["Content-Type"] = h.contentType
	}
	for i := 0; i+1 < len(h.header); i += 2 {
		hdr[h.header[i]] = h.header[i+1]
	}
	var body io.Reader
	if h.body != "" {
		body = strings.NewReader(h.body)
	}
	return send(t, base, hostileProject, h.method, strings.ReplaceAll(h.path, "{img}", img), body, hdr)
}

const (
	ctJSON  = "application/json"
	ctPatch = "application/openstack-images-v2.1-json-patch"
	ctData  = "application/octet-stream"
)

func hostileRequests() []hostileRequest {
	nested := strings.Repeat("[", 1000) + strings.Repeat("]", 1000)
	return []hostileRequest{
		// A path that is not UTF-8 once decoded: Glance's healthcheck
		// filter fails on it (500), whatever the route.
		{name: "tag %ff", method: "PUT", path: "/v2/images/{img}/tags/a%ff"},
		{name: "tag delete %ff", method: "DELETE", path: "/v2/images/{img}/tags/a%ff"},
		{name: "member show %ff", method: "GET", path: "/v2/images/{img}/members/a%ff"},
		{name: "member update %ff", method: "PUT", path: "/v2/images/{img}/members/a%ff", contentType: ctJSON, body: `{"status": "accepted"}`},
		{name: "member delete %ff", method: "DELETE", path: "/v2/images/{img}/members/a%ff"},
		{name: "image %ff", method: "GET", path: "/v2/images/a%ff"},
		{name: "image data %ff", method: "GET", path: "/v2/images/a%ff/file"},
		{name: "image patch %ff", method: "PATCH", path: "/v2/images/a%ff", contentType: ctPatch, body: `[]`},
		{name: "action %ff", method: "POST", path: "/v2/images/{img}/actions/%ed%a0%80"},
		{name: "task %ff", method: "GET", path: "/v2/tasks/%c0%af"},
		// A listing's query that is not UTF-8: Glance's own 400.
		{name: "list name %ff", method: "GET", path: "/v2/images?name=a%ff"},
		{name: "list marker %ff", method: "GET", path: "/v2/images?marker=%ff"},
		{name: "list tag %ff", method: "GET", path: "/v2/images?tag=%ff"},
		{name: "list property key %ff", method: "GET", path: "/v2/images?hw_%ff=x"},
		// A JSON string with a lone surrogate escape: Python decodes it and
		// Glance's database layer fails on it (500).
		{name: "member id surrogate", method: "POST", path: "/v2/images/{img}/members", contentType: ctJSON, body: `{"member": "a\udcff"}`},
		{name: "name surrogate", method: "POST", path: "/v2/images", contentType: ctJSON, body: `{"name": "\udcff"}`},
		{name: "tag surrogate", method: "POST", path: "/v2/images", contentType: ctJSON, body: `{"tags": ["\ud800"]}`},
		{name: "property value surrogate", method: "POST", path: "/v2/images", contentType: ctJSON, body: `{"hw_x": "\udcff"}`},
		{name: "property name surrogate", method: "POST", path: "/v2/images", contentType: ctJSON, body: `{"hw_\udcff": "x"}`},
		{name: "patch name surrogate", method: "PATCH", path: "/v2/images/{img}", contentType: ctPatch, body: `[{"op": "replace", "path": "/name", "value": "\udcff"}]`},
		{name: "patch property surrogate", method: "PATCH", path: "/v2/images/{img}", contentType: ctPatch, body: `[{"op": "add", "path": "/hw_y", "value": "\ud83d"}]`},
		{name: "patch property name surrogate", method: "PATCH", path: "/v2/images/{img}", contentType: ctPatch, body: `[{"op": "add", "path": "/hw_\udcff", "value": "x"}]`},
		{name: "patch tags surrogate", method: "PATCH", path: "/v2/images/{img}", contentType: ctPatch, body: `[{"op": "replace", "path": "/tags", "value": ["\udcff"]}]`},
		// A body nested deeper than Python's recursion limit (500).
		{name: "member nested", method: "POST", path: "/v2/images/{img}/members", contentType: ctJSON, body: `{"member": ` + nested + `}`},
		{name: "patch nested", method: "PATCH", path: "/v2/images/{img}", contentType: ctPatch, body: `[{"op": "add", "path": "/tags", "value": ` + nested + `}]`},
		// Bytes that are not UTF-8 in a JSON body: Glance's own 400.
		{name: "member id not UTF-8", method: "POST", path: "/v2/images/{img}/members", contentType: ctJSON, body: "{\"member\": \"a\xff\"}"},
		// An upload whose declared size is not its size: forwarded, the
		// region saw a short or a long complete request (a 500 from the
		// transport, or an image of the wrong size).
		{name: "upload longer than declared", method: "PUT", path: "/v2/images/{img}/file", contentType: ctData, body: "0123456789", header: []string{"x-openstack-image-size", "5"}},
		{name: "upload shorter than declared", method: "PUT", path: "/v2/images/{img}/file", contentType: ctData, body: "0123456789", header: []string{"x-openstack-image-size", "20"}},
		{name: "upload declared empty", method: "PUT", path: "/v2/images/{img}/file", contentType: ctData, body: "0123456789", header: []string{"x-openstack-image-size", "0"}},
	}
}

// createImage creates a queued image as who and returns its id.
func createImage(t *testing.T, base string, who caller, name string) string {
	t.Helper()
	code, b := do(t, base, who, "POST", "/v2/images", map[string]any{"name": name, "disk_format": "raw", "container_format": "bare", "visibility": "shared"})
	if code != 201 {
		t.Fatalf("create as %s: %d %s", who.project, code, b)
	}
	var img struct{ ID string }
	json.Unmarshal(b, &img)
	return img.ID
}

// abortUpload starts an upload to img and hangs up halfway through its
// body, as a client that went away: with a Content-Length, or chunked.
func abortUpload(t *testing.T, base, img string, chunked bool) {
	t.Helper()
	u, _ := url.Parse(base)
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Error(err)
		return
	}
	defer c.Close()
	var req bytes.Buffer
	fmt.Fprintf(&req, "PUT /v2/images/%s/file HTTP/1.1\r\nHost: %s\r\nX-Identity-Status: Confirmed\r\nX-Project-Id: %s\r\nX-User-Id: u-%s\r\nX-Roles: %s\r\nContent-Type: %s\r\n",
		img, u.Host, hostileProject.project, hostileProject.project, hostileProject.roles, ctData)
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	if chunked {
		fmt.Fprintf(&req, "Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n", len(chunk), chunk)
	} else {
		fmt.Fprintf(&req, "Content-Length: %d\r\n\r\n%s", 1<<20, chunk)
	}
	c.Write(req.Bytes())
	time.Sleep(20 * time.Millisecond)
}

// memberBurst adds one member to a new image of the hostile project's n
// times at once, then deletes the image; it returns the adds' statuses,
// sorted, and the delete's. Glance, asked directly, creates the member
// several times over, and the image then may not delete (a 500).
func memberBurst(t *testing.T, base string, n int) ([]int, int) {
	t.Helper()
	img := createImage(t, base, hostileProject, "burst")
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _ = do(t, base, hostileProject, "POST", "/v2/images/"+img+"/members", map[string]string{"member": "victim"})
		}()
	}
	wg.Wait()
	slices.Sort(codes)
	code, _ := do(t, base, hostileProject, "DELETE", "/v2/images/"+img, nil)
	return codes, code
}

// errorText is a Glance-shaped error body on one line, ids masked.
func errorText(body []byte, img string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(string(body), img, "{img}")), " ")
}

// TestHostileTenant: a tenant who sends what makes a real Glance 25 answer
// 500 gets Glance's 4xx for it from Spyglass, the same on the embedded
// store and in front of a real Glance region; and a thousand such requests
// from one project, with uploads it breaks off, cost a project working at
// the same time nothing: not one failed request, the region's breaker
// closed throughout.
func TestHostileTenant(t *testing.T) {
	g := glancetest.StartT(t)
	tops := []topology{embeddedTopology(t), glanceTopology(t, g)}

	t.Run("each request answers alike on both topologies", func(t *testing.T) {
		// One image each: every request is refused and leaves it queued.
		var imgs []string
		for _, top := range tops {
			imgs = append(imgs, createImage(t, top.base, hostileProject, "mine"))
		}
		direct := createImage(t, g.URL, hostileProject, "mine")
		for _, h := range hostileRequests() {
			var answers []string
			for i, top := range tops {
				img := imgs[i]
				resp, body := h.send(t, top.base, img)
				if resp.StatusCode < 400 || resp.StatusCode >= 500 {
					t.Errorf("%s on the %s: %d %s, want a 4xx", h.name, top.name, resp.StatusCode, body)
				}
				answers = append(answers, fmt.Sprintf("%d %s", resp.StatusCode, errorText(body, img)))
				if top.region != nil && top.region.BreakerState() != "closed" {
					t.Errorf("%s opened the region's breaker", h.name)
				}
			}
			if answers[0] != answers[1] {
				t.Errorf("%s: the embedded store answers %q, the Glance region %q", h.name, answers[0], answers[1])
			}
			// Glance's own answer, for the record (it is the reason).
			resp, _ := h.send(t, g.URL, direct)
			t.Logf("%-32s spyglass %s; glance itself %d", h.name, answers[1], resp.StatusCode)
		}
	})

	t.Run("a burst of adds of one member", func(t *testing.T) {
		want := append([]int{200}, slices.Repeat([]int{409}, 9)...)
		for _, top := range tops {
			for range 3 {
				adds, del := memberBurst(t, top.base, 10)
				if !slices.Equal(adds, want) || del != 204 {
					t.Errorf("on the %s: adds %v, delete %d; want %v, 204", top.name, adds, del, want)
				}
			}
		}
	})

	for _, top := range tops {
		t.Run("hostile requests cost the others nothing/"+top.name, func(t *testing.T) {
			hostileCostsOthersNothing(t, top)
		})
	}
}

func hostileCostsOthersNothing(t *testing.T, top topology) {
	// A thousand requests; under -race (make test), where they took most
	// of a minute a topology, a quarter: make bench-quick runs them all.
	hostileTotal, hostileWorkers := storm(1000), 8
	shown := createImage(t, top.base, healthyProject, "shown")
	data := bytes.Repeat([]byte("spyglass"), 4096)
	if code, b := do(t, top.base, healthyProject, "PUT", "/v2/images/"+shown+"/tags/ok", nil); code != 204 {
		t.Fatalf("tag: %d %s", code, b)
	}
	reqs := hostileRequests()
	imgs := make([]string, hostileWorkers)
	for i := range imgs {
		imgs[i] = createImage(t, top.base, hostileProject, fmt.Sprintf("mine-%d", i))
	}

	var next atomic.Int64
	var hostile5xx atomic.Int64
	done := make(chan struct{})
	var hw sync.WaitGroup
	for w := range hostileWorkers {
		hw.Add(1)
		go func() {
			defer hw.Done()
			for {
				n := next.Add(1)
				if n > int64(hostileTotal) {
					return
				}
				switch k := int(n) % (len(reqs) + 3); k {
				case len(reqs):
					abortUpload(t, top.base, imgs[w], false)
				case len(reqs) + 1:
					abortUpload(t, top.base, imgs[w], true)
				case len(reqs) + 2:
					if adds, del := memberBurst(t, top.base, 5); adds[len(adds)-1] >= 500 || del >= 500 {
						hostile5xx.Add(1)
						t.Errorf("hostile member burst: adds %v, delete %d", adds, del)
					}
				default:
					if resp, body := reqs[k].send(t, top.base, imgs[w]); resp.StatusCode >= 500 {
						hostile5xx.Add(1)
						t.Errorf("hostile %s: %d %s", reqs[k].name, resp.StatusCode, body)
					}
				}
			}
		}()
	}
	go func() { hw.Wait(); close(done) }()

	// The healthy project works while the storm lasts (and at least a few
	// rounds): every one of its requests must get what it would alone.
	type outcome struct{ ok, failed int }
	var mu sync.Mutex
	var total outcome
	var failures []string
	check := func(what string, code, want int, body []byte) bool {
		mu.Lock()
		defer mu.Unlock()
		if code != want {
			total.failed++
			if len(failures) < 10 {
				failures = append(failures, fmt.Sprintf("%s: %d (want %d) %.200s", what, code, want, body))
			}
			return false
		}
		total.ok++
		return true
	}
	var gw sync.WaitGroup
	for range 2 {
		gw.Add(1)
		go func() {
			defer gw.Done()
			for round := 0; ; round++ {
				select {
				case <-done:
					if round >= 3 {
						return
					}
				default:
				}
				code, b := do(t, top.base, healthyProject, "GET", "/v2/images/"+shown, nil)
				check("show", code, 200, b)
				code, b = do(t, top.base, healthyProject, "GET", "/v2/images?limit=5", nil)
				check("list", code, 200, b)
				code, b = do(t, top.base, healthyProject, "GET", "/v2/images/"+shown+"/members", nil)
				check("members", code, 200, b)
				code, b = do(t, top.base, healthyProject, "POST", "/v2/images", map[string]any{"name": "work", "disk_format": "raw", "container_format": "bare"})
				if !check("create", code, 201, b) {
					continue
				}
				var img struct{ ID string }
				json.Unmarshal(b, &img)
				resp, b := send(t, top.base, healthyProject, "PUT", "/v2/images/"+img.ID+"/file", bytes.NewReader(data), map[string]string{"Content-Type": ctData})
				if check("upload", resp.StatusCode, 204, b) {
					resp, b = send(t, top.base, healthyProject, "GET", "/v2/images/"+img.ID+"/file", nil, nil)
					if check("download", resp.StatusCode, 200, b) && !bytes.Equal(b, data) {
						check("download bytes", 0, 200, nil)
					}
				}
				code, b = do(t, top.base, healthyProject, "PUT", "/v2/images/"+img.ID+"/tags/work", nil)
				check("tag", code, 204, b)
				code, b = do(t, top.base, healthyProject, "DELETE", "/v2/images/"+img.ID, nil)
				check("delete", code, 204, b)
			}
		}()
	}
	gw.Wait()
	t.Logf("%s: %d hostile requests (%d answered 5xx); the healthy project made %d requests, %d failed",
		top.name, hostileTotal, hostile5xx.Load(), total.ok+total.failed, total.failed)
	if total.failed > 0 {
		t.Errorf("the healthy project lost %d of %d requests to the hostile one:\n  %s", total.failed, total.ok+total.failed, strings.Join(failures, "\n  "))
	}
	if top.region != nil {
		if got, want := top.region.BreakerState(), "closed"; got != want {
			t.Errorf("the region's breaker after the storm: %s, want %s", got, want)
		}
	}
}

// A region that refuses a listing with a 4xx (a filter it will not take)
// has answered the client's request, not failed: with
// federation.on_region_failure fail as with answer, the client gets that
// 4xx, and the region is neither reported missing nor counted against.
func TestListingRegion4xxIsTheClientsAnswer(t *testing.T) {
	refusing := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		io.WriteString(w, `{"message": "Invalid filter value x.<br /><br />\n\n\n", "code": "400 Bad Request", "title": "Bad Request"}`)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go refusing.Serve(ln)
	t.Cleanup(func() { refusing.Close() })
	for _, fail := range []bool{false, true} {
		store, err := local.Open(t.TempDir(), local.Options{StoreName: "local"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		region, err := glance.New(glance.Config{Name: "remote", Endpoint: "http://" + ln.Addr().String()})
		if err != nil {
			t.Fatal(err)
		}
		cat, err := federation.New(federation.Config{Regions: []federation.RegionConfig{{Region: federation.RegionOf(store)}, {Region: federation.RegionOf(region)}}, FailListings: fail})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cat.Close)
		base := serve(t, cat)
		for range 10 {
			resp, body := send(t, base, healthyProject, "GET", "/v2/images", nil, nil)
			if got, want := resp.StatusCode, 400; got != want || !strings.Contains(string(body), "Invalid filter value x.") || resp.Header.Get("X-Spyglass-Missing-Regions") != "" {
				t.Fatalf("on_region_failure fail=%v: %d %q (missing %q), want the region's 400", fail, got, body, resp.Header.Get("X-Spyglass-Missing-Regions"))
			}
		}
		if got, want := region.BreakerState(), "closed"; got != want {
			t.Errorf("breaker after 10 refused listings: %s, want %s", got, want)
		}
	}
}
