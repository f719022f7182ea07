package federation_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
	"github.com/spyglass-gateway/spyglass/backends/local"
	"github.com/spyglass-gateway/spyglass/federation"
)

// storeState is what a client of an import to several stores sees of the
// image: its status, stores and Glance's import bookkeeping.
type storeState struct {
	Status    string `json:"status"`
	Stores    string `json:"stores"`
	Importing string `json:"os_glance_importing_to_stores"`
	Failed    string `json:"os_glance_failed_import"`
}

func (s storeState) String() string {
	return fmt.Sprintf("status=%s stores=%q importing=%q failed=%q", s.Status, s.Stores, s.Importing, s.Failed)
}

func showState(t *testing.T, base, id string) storeState {
	t.Helper()
	code, b := do(t, base, multiAdmin, "GET", "/v2/images/"+id, nil)
	if code != 200 {
		t.Fatalf("show %s: %d %s", id, code, b)
	}
	var s storeState
	json.Unmarshal(b, &s)
	return s
}

var multiAdmin = caller{"adm", "admin,member,reader"}

// multiTarget is one Images API with two stores, a and b, and a way to
// make b refuse the next import of an image.
type multiTarget struct {
	name   string
	base   string
	a, b   string
	failIn func(t *testing.T, id string) // nil: no way
}

// newImage creates a raw/bare image and returns its id.
func newImage(t *testing.T, base string) string {
	t.Helper()
	code, b := do(t, base, multiAdmin, "POST", "/v2/images",
		map[string]any{"name": "multi", "disk_format": "raw", "container_format": "bare"})
	if code != 201 {
		t.Fatalf("create: %d %s", code, b)
	}
	var img struct{ ID string }
	json.Unmarshal(b, &img)
	return img.ID
}

// putData sends data to the image's /file (path "file") or /stage.
func putData(t *testing.T, base, id, path string, data []byte) {
	t.Helper()
	resp, b := send(t, base, multiAdmin, "PUT", "/v2/images/"+id+"/"+path, strings.NewReader(string(data)),
		map[string]string{"Content-Type": "application/octet-stream"})
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PUT %s: %d %s", path, resp.StatusCode, b)
	}
}

// settle polls the image until its import is over (nothing importing, and
// the image active or back to queued with a failure) and returns the
// distinct states it went through and the last.
func settle(t *testing.T, base, id string) (seen []storeState, last storeState) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		s := showState(t, base, id)
		if len(seen) == 0 || seen[len(seen)-1] != s {
			seen = append(seen, s)
		}
		over := s.Importing == "" && (s.Status == "active" || s.Failed != "")
		if over {
			// A moment more: nothing may change after.
			time.Sleep(300 * time.Millisecond)
			if again := showState(t, base, id); again != s {
				seen = append(seen, again)
				s = again
				continue
			}
			return seen, s
		}
		if time.Now().After(deadline) {
			t.Fatalf("image %s: no settled state in 60s; went through %v", id, seen)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func importBody(method string, extra map[string]any) map[string]any {
	body := map[string]any{"method": map[string]string{"name": method}}
	for k, v := range extra {
		body[k] = v
	}
	return body
}

type multiCase struct {
	name  string
	setup func(t *testing.T, mt multiTarget, id string) // the data, before the import
	body  func(mt multiTarget) map[string]any
	fail  bool // b refuses the image
	want  storeState
	// wantIn is the settled state where a target differs (a target's
	// name: its reason in the case).
	wantIn map[string]storeState
	status int // the import's answer
}

func multiCases() []multiCase {
	data := []byte(strings.Repeat("spyglass", 4096))
	stage := func(t *testing.T, mt multiTarget, id string) { putData(t, mt.base, id, "stage", data) }
	upload := func(t *testing.T, mt multiTarget, id string) { putData(t, mt.base, id, "file", data) }
	return []multiCase{
		{name: "glance-direct to both stores", setup: stage,
			body: func(mt multiTarget) map[string]any {
				return importBody("glance-direct", map[string]any{"stores": []string{mt.a, mt.b}})
			},
			status: 202, want: storeState{Status: "active", Stores: "a,b"}},
		{name: "glance-direct to all stores", setup: stage,
			body: func(mt multiTarget) map[string]any {
				return importBody("glance-direct", map[string]any{"all_stores": true})
			},
			status: 202, want: storeState{Status: "active", Stores: "a,b"}},
		{name: "copy-image to the other store", setup: upload,
			body: func(mt multiTarget) map[string]any {
				return importBody("copy-image", map[string]any{"stores": []string{mt.b}})
			},
			status: 202, want: storeState{Status: "active", Stores: "a,b"}},
		{name: "glance-direct, b fails, must not all succeed", setup: stage, fail: true,
			body: func(mt multiTarget) map[string]any {
				return importBody("glance-direct", map[string]any{"stores": []string{mt.a, mt.b}, "all_stores_must_succeed": false})
			},
			status: 202, want: storeState{Status: "active", Stores: "a", Failed: "b"}},
		{name: "glance-direct, b fails, all must succeed", setup: stage, fail: true,
			body: func(mt multiTarget) map[string]any {
				return importBody("glance-direct", map[string]any{"stores": []string{mt.a, mt.b}})
			},
			// Glance 25 leaves the image importing, without data, for
			// good (its revert never reaches _VerifyImageState); the
			// embedded region takes it back to queued, so that it can be
			// imported again; a Glance region cannot be, and the image
			// stays active there.
			status: 202, want: storeState{Status: "queued", Failed: "b"},
			wantIn: map[string]storeState{
				"glance":         {Status: "importing", Failed: "b"},
				"glance regions": {Status: "active", Stores: "a", Failed: "b"},
			}},
		{name: "copy-image, b fails", setup: upload, fail: true,
			body: func(mt multiTarget) map[string]any {
				return importBody("copy-image", map[string]any{"stores": []string{mt.b}})
			},
			status: 202, want: storeState{Status: "active", Stores: "a", Failed: "b"}},
	}
}

// runMulti runs the cases against mt and returns each case's states.
func runMulti(t *testing.T, mt multiTarget) map[string][]storeState {
	out := map[string][]storeState{}
	t.Run(mt.name+"/an unknown store among several", func(t *testing.T) {
		id := newImage(t, mt.base)
		putData(t, mt.base, id, "stage", []byte("x"))
		code, b := do(t, mt.base, multiAdmin, "POST", "/v2/images/"+id+"/import",
			importBody("glance-direct", map[string]any{"stores": []string{mt.a, "nope"}}))
		if code != 409 || !strings.Contains(string(b), "Store for identifier nope not found") {
			t.Errorf("import: %d %s; want 409, Store for identifier nope not found", code, b)
		}
		if s := showState(t, mt.base, id); s.Status != "uploading" || s.Importing != "" {
			t.Errorf("after a refused import: %v, want uploading and nothing importing", s)
		}
	})
	for _, tc := range multiCases() {
		t.Run(mt.name+"/"+tc.name, func(t *testing.T) {
			if tc.fail && mt.failIn == nil {
				t.Skip("no way to make store b fail here")
			}
			id := newImage(t, mt.base)
			tc.setup(t, mt, id)
			if tc.fail {
				mt.failIn(t, id)
			}
			code, b := do(t, mt.base, multiAdmin, "POST", "/v2/images/"+id+"/import", tc.body(mt))
			if code != tc.status {
				t.Fatalf("import: %d %s", code, b)
			}
			seen, last := settle(t, mt.base, id)
			t.Logf("%s went through %v", mt.name, seen)
			// One task, as Glance shows an import to several stores.
			var tasks struct {
				Tasks []struct{ Status, Message string }
			}
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				_, tb := do(t, mt.base, multiAdmin, "GET", "/v2/images/"+id+"/tasks", nil)
				json.Unmarshal(tb, &tasks)
				if len(tasks.Tasks) != 1 || tasks.Tasks[0].Status != "processing" || time.Now().After(deadline) {
					break
				}
			}
			t.Logf("%s tasks: %+v", mt.name, tasks.Tasks)
			wantTask := "success"
			if tc.fail && tc.body(mt)["all_stores_must_succeed"] != false {
				wantTask = "failure"
			}
			if len(tasks.Tasks) != 1 || tasks.Tasks[0].Status != wantTask {
				t.Errorf("tasks %+v, want one, %s", tasks.Tasks, wantTask)
			}
			want := tc.want
			if w, ok := tc.wantIn[mt.name]; ok {
				want = w
			}
			want.Stores = strings.NewReplacer("a", mt.a, "b", mt.b).Replace(want.Stores)
			want.Failed = strings.NewReplacer("a", mt.a, "b", mt.b).Replace(want.Failed)
			if last != want {
				t.Errorf("settled as %v, want %v", last, want)
			}
			out[tc.name] = seen
		})
	}
	return out
}

// TestImportToSeveralStoresAsGlance: glance-direct to several stores (and
// all stores), copy-image, and a store that fails, against a real Glance
// 25 with two file stores and Spyglass over two embedded regions and over
// two Glance regions: the same settled states and bookkeeping.
func TestImportToSeveralStoresAsGlance(t *testing.T) {
	// The oracle: one Glance, stores "local" and "second". A store fails
	// an image's import when a directory already has its id as name in
	// the store's directory (the file store's Duplicate).
	g := glancetest.StartTWith(t, glancetest.Options{FileStores: []string{"second"}})
	oracle := multiTarget{name: "glance", base: g.URL, a: "local", b: "second",
		failIn: func(t *testing.T, id string) {
			if err := os.MkdirAll(filepath.Join(g.Dir, "images-second", id), 0o755); err != nil {
				t.Fatal(err)
			}
		}}
	runMulti(t, oracle)

	// Spyglass over two embedded regions and over two Glance regions: a
	// region fails its copy of an image when it has an image of that id
	// already (made in the region, behind the gateway).
	occupy := func(regionURL string) func(t *testing.T, id string) {
		return func(t *testing.T, id string) {
			code, b := do(t, regionURL, multiAdmin, "POST", "/v2/images", map[string]any{"id": id, "name": "squatter"})
			if code != 201 {
				t.Fatalf("create %s in the region: %d %s", id, code, b)
			}
		}
	}
	var rcs []federation.RegionConfig
	var urls []string
	for i := range 2 {
		store, err := local.Open(t.TempDir(), local.Options{StoreName: fmt.Sprintf("e%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		urls = append(urls, serve(t, store))
		rcs = append(rcs, federation.RegionConfig{Region: federation.RegionOf(store)})
	}
	cat, err := federation.New(federation.Config{Regions: rcs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cat.Close)
	runMulti(t, multiTarget{name: "embedded regions", base: serve(t, cat), a: "e0", b: "e1", failIn: occupy(urls[1])})

	f, _ := newGlanceFederation(t, 2)
	runMulti(t, multiTarget{name: "glance regions", base: f.spy[0], a: "g0", b: "g1", failIn: occupy(f.urls[1])})
}

// TestImportToSeveralStoresRevertsWhenOneMustSucceed: three embedded
// regions, an import to all three whose every store must succeed, the
// last refusing the image: the copy that landed in the second is deleted,
// the image is back to queued without data in the first, the failed store
// listed, the task failed; imported again without the failing store, it
// completes.
func TestImportToSeveralStoresRevertsWhenOneMustSucceed(t *testing.T) {
	var rcs []federation.RegionConfig
	var urls []string
	var stores []*local.Store
	for i := range 3 {
		store, err := local.Open(t.TempDir(), local.Options{StoreName: fmt.Sprintf("e%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		stores = append(stores, store)
		urls = append(urls, serve(t, store))
		rcs = append(rcs, federation.RegionConfig{Region: federation.RegionOf(store)})
	}
	cat, err := federation.New(federation.Config{Regions: rcs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cat.Close)
	base := serve(t, cat)

	id := newImage(t, base)
	putData(t, base, id, "stage", []byte("spyglass"))
	if code, b := do(t, urls[2], multiAdmin, "POST", "/v2/images", map[string]any{"id": id}); code != 201 {
		t.Fatalf("squatter in e2: %d %s", code, b)
	}
	if code, b := do(t, base, multiAdmin, "POST", "/v2/images/"+id+"/import",
		importBody("glance-direct", map[string]any{"stores": []string{"e0", "e1", "e2"}})); code != 202 {
		t.Fatalf("import: %d %s", code, b)
	}
	_, last := settle(t, base, id)
	if want := (storeState{Status: "queued", Failed: "e2"}); last != want {
		t.Fatalf("settled as %v, want %v", last, want)
	}
	if code, _ := do(t, urls[1], multiAdmin, "GET", "/v2/images/"+id, nil); code != 404 {
		t.Errorf("the copy that landed in e1 is still there (%d)", code)
	}
	if resp, _ := send(t, base, multiAdmin, "GET", "/v2/images/"+id+"/file", nil, nil); resp.StatusCode != 204 {
		t.Errorf("download of the reverted image: %d, want 204 (no data)", resp.StatusCode)
	}

	// Again, to the two stores that can take it.
	putData(t, base, id, "stage", []byte("spyglass"))
	if code, b := do(t, base, multiAdmin, "POST", "/v2/images/"+id+"/import",
		importBody("glance-direct", map[string]any{"stores": []string{"e0", "e1"}})); code != 202 {
		t.Fatalf("import again: %d %s", code, b)
	}
	if _, last := settle(t, base, id); last != (storeState{Status: "active", Stores: "e0,e1", Failed: "e2"}) {
		t.Fatalf("imported again: %v, want active in e0,e1 (e2's failure still listed, as Glance keeps other stores' failures)", last)
	}
}
