package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
	"github.com/spyglass-gateway/spyglass/cache/redistest"
	"github.com/spyglass-gateway/spyglass/internal/testproc"
	"github.com/spyglass-gateway/spyglass/policy/keystonetest"
)

// Tempest is Debian's python3-tempest (33.0.0, which still has the v1
// image tests): make tempest installs it.
const tempestBin = "/usr/bin/tempest"

// tempestRegex picks Tempest's image API tests, the ones a cloud's Images
// API is certified with.
const tempestRegex = `^tempest\.api\.image`

// tempestLeaky are the image test classes that leave images behind:
// ImageLocationsTest creates its images with the client itself, not the
// base class's create_image, so nothing deletes them, and so does
// ImportImagesNegativeTest's test_image_web_download_import_with_bad_url
// (a queued image, visibility shared). With pre-provisioned accounts
// their project is handed on to later classes, and Glance (so Spyglass)
// lists a project's own shared images in its
// visibility=shared&member_status=pending listing whatever the member
// status: ListSharedImagesTest, whose alt got that project, counted 9
// images where it shared one after ImageLocationsTest, 2 after
// ImportImagesNegativeTest (CI of 1e076ef). They run last, alone.
const tempestLeaky = `\.v2\.test_images(_negative)?\.(ImageLocationsTest|ImportImagesNegativeTest)\b`

// tempestConcurrency is Tempest's worker count: the tests mostly wait on
// HTTP (and Keystone's bcrypt), so more workers than the 2 cores help.
const tempestConcurrency = 4

// tempestProfile is one thing Tempest is pointed at.
type tempestProfile struct {
	name string
	doc  string
	// apiV1 is [image-feature-enabled] api_v1: Spyglass serves v1,
	// Glance 25 does not.
	apiV1 bool
	// locations is [image-feature-enabled] manage_locations: the API
	// under test has show_multiple_locations and an http store.
	locations bool
	// start serves the Images API under test with Keystone auth and
	// returns its base URL.
	start func(t *testing.T, h *tempestHarness) string
}

var tempestProfiles = []tempestProfile{
	{name: "embedded", doc: "Spyglass in keystone mode on its embedded store (the default region)", apiV1: true, locations: true, start: startTempestEmbedded},
	{name: "regions", doc: "Spyglass in keystone mode in front of two real Glance 25 regions", apiV1: true, locations: true, start: startTempestRegions},
	{name: "glance", doc: "a real Glance 25 behind keystonemiddleware: the reference", apiV1: false, start: startTempestGlance},
}

// TestTempest runs Tempest's image API tests (tempest run --regex
// '^tempest\.api\.image') against each profile named in SPYGLASS_TEMPEST
// (comma-separated, or "all"), with a real Keystone whose catalog has the
// Images API under test as its image endpoint. Tempest's credentials are
// pre-provisioned users (tempestAccounts), or with
// SPYGLASS_TEMPEST_CREDENTIALS=dynamic made per test class by Keystone's
// bootstrap admin. Tempest's failures are compared with the
// profile's testdata/tempest/expected-failures-<profile>.txt: a failure
// not listed fails the test, and so does a listed test that did not fail
// (it passes now, or was skipped: take it off the list). `make tempest`
// runs it; make test does not (it takes minutes). SPYGLASS_TEMPEST_REGEX
// runs only the tests it matches (e.g. '^tempest\.api\.image\.v2\.test_images\.ImportImagesTest').
func TestTempest(t *testing.T) {
	want := os.Getenv("SPYGLASS_TEMPEST")
	if want == "" {
		t.Skip("Tempest's image API tests take minutes: run by `make tempest` (CI runs it), or SPYGLASS_TEMPEST=embedded,regions,glance go test -count=1 -v -run '^TestTempest$' -timeout 60m ./cmd/spyglass/")
	}
	var profiles []tempestProfile
	for _, name := range strings.Split(want, ",") {
		name = strings.TrimSpace(name)
		if name == "all" {
			profiles = tempestProfiles
			break
		}
		i := slices.IndexFunc(tempestProfiles, func(p tempestProfile) bool { return p.name == name })
		if i < 0 {
			t.Fatalf("SPYGLASS_TEMPEST=%s: no profile %q; the profiles are embedded, regions, glance (or all)", want, name)
		}
		profiles = append(profiles, tempestProfiles[i])
	}
	if _, err := os.Stat(tempestBin); err != nil {
		t.Fatalf("Tempest is not installed (%v): `make tempest` installs it (apt-get install -y --no-install-recommends python3-tempest)", err)
	}

	// Tempest's metadefs tests need Glance's stock definitions (the
	// resource types above all), which python3-glance lacks: the real
	// Glances load them with glance-manage, the embedded store with
	// `spyglass metadefs load`, as an operator of either would.
	metadefs := os.Getenv("SPYGLASS_TEMPEST_METADEFS")
	if fi, err := os.Stat(metadefs); metadefs == "" || err != nil || !fi.IsDir() {
		t.Fatalf("SPYGLASS_TEMPEST_METADEFS=%q: Tempest's metadefs tests need glance-common's metadefs directory (usr/share/glance-common/metadefs of the glance-common package); make tempest extracts it", metadefs)
	}
	h := newTempestHarness(t)
	h.metadefs = metadefs
	for _, p := range profiles {
		t.Run(p.name, func(t *testing.T) { h.run(t, p) })
	}
}

// tempestHarness is what the profiles share: one Keystone with the
// service users, the spyglass binary, the web server web-download imports
// fetch from, where results go.
type tempestHarness struct {
	ks  *keystonetest.Keystone
	bin string
	// httpImage is Tempest's [image] http_image: a server of the test's
	// own (the machine may have no way out), on a non-loopback address
	// of this machine when it has one.
	httpImage string
	// metadefs is glance-common's metadefs directory
	// (SPYGLASS_TEMPEST_METADEFS), loaded into every Glance as a stock
	// install has them; empty when no profile starts a Glance.
	metadefs string
	// accounts is Tempest's accounts.yaml (pre-provisioned credentials);
	// empty: dynamic credentials, made by Keystone's bootstrap admin.
	accounts string
	// importFilterHosts is import_filtering.allowed_hosts (YAML) when the
	// web server had to listen on loopback; empty: any host.
	importFilterHosts string
	// out keeps each profile's results (SPYGLASS_TEMPEST_OUT, else a
	// temporary directory).
	out string
	// outDir is out/<the profile being run>: the servers leave their
	// logs there when the profile ends.
	outDir string
	// remote is the base URL of a second instance of the Images API under
	// test, set by a profile's start that runs one: registered in the
	// catalog as tempestRemoteService, Tempest's alternate_image_endpoint
	// (its test_remote_import and test_remote_delete stage on one
	// instance and import or delete on the other); empty: they skip.
	remote string
}

// tempestRemoteService is the catalog's service type of the second
// instance (Tempest's [image] alternate_image_endpoint).
const tempestRemoteService = "image_remote"

// The service users, each with the admin role on project service (they
// validate other users' tokens).
const (
	tempestServiceProject = "service"
	tempestSpyglassUser   = "spyglass"
	tempestGlanceUser     = "glance"
	tempestServicePass    = "service-pw"
)

func newTempestHarness(t *testing.T) *tempestHarness {
	ctx := context.Background()
	h := &tempestHarness{ks: keystonetest.StartT(t), bin: buildBinary(t)}
	project, err := h.ks.CreateProject(ctx, tempestServiceProject)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{tempestSpyglassUser, tempestGlanceUser} {
		u, err := h.ks.CreateUser(ctx, name, tempestServicePass)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.ks.Grant(ctx, u.ID, project, "admin"); err != nil {
			t.Fatal(err)
		}
	}
	image := bytes.Repeat([]byte("tempest http_image\n"), 1024)
	web := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "cirros.img", time.Time{}, bytes.NewReader(image))
	}))
	// Not on loopback: Spyglass refuses loopback URLs unless listed in
	// import_filtering.allowed_hosts, and listing a host refuses every
	// other, which turns Tempest's bad-URL import test (an unknown host:
	// 202, then a failed import) into a 400.
	if ip := nonLoopbackIPv4(); ip != "" {
		l, err := net.Listen("tcp", ip+":0")
		if err != nil {
			t.Fatal(err)
		}
		web.Listener.Close()
		web.Listener = l
	} else {
		// Loopback it is, listed along with the bad-URL test's host.
		h.importFilterHosts = "[127.0.0.1, " + tempestBadURLHost + "]"
	}
	web.Start()
	t.Cleanup(web.Close)
	h.httpImage = web.URL + "/cirros.img"
	switch mode := os.Getenv("SPYGLASS_TEMPEST_CREDENTIALS"); mode {
	case "", "preprovisioned":
		if h.accounts, err = tempestAccounts(ctx, h.ks); err != nil {
			t.Fatal(err)
		}
	case "dynamic":
	default:
		t.Fatalf("SPYGLASS_TEMPEST_CREDENTIALS=%s: want preprovisioned (the default) or dynamic", mode)
	}
	if h.out = os.Getenv("SPYGLASS_TEMPEST_OUT"); h.out == "" {
		h.out = t.TempDir()
	} else if err := os.MkdirAll(h.out, 0o755); err != nil {
		t.Fatal(err)
	}
	return h
}

// tempestBadURLHost is the host of the URL Tempest's
// test_image_web_download_import_with_bad_url imports from.
const tempestBadURLHost = "does-not.exist"

// Pre-provisioned accounts: enough for tempestConcurrency workers whose
// test classes each hold two (primary and alt, or admin and primary).
const (
	tempestMembers = 2 * tempestConcurrency
	tempestAdmins  = tempestConcurrency
)

// tempestAccounts makes the users and projects of Tempest's
// pre-provisioned credentials (each user the member, or admin, of a
// project of its own) and returns accounts.yaml. Dynamic credentials make
// and delete a project and users per test class: with Keystone on a busy
// 2-core machine they cost most of the run (a Keystone call took 2-10 s).
func tempestAccounts(ctx context.Context, ks *keystonetest.Keystone) (string, error) {
	var b strings.Builder
	for i := 0; i < tempestMembers+tempestAdmins; i++ {
		role, name := "member", fmt.Sprintf("tempest-member-%d", i)
		if i >= tempestMembers {
			role, name = "admin", fmt.Sprintf("tempest-admin-%d", i-tempestMembers)
		}
		project, err := ks.CreateProject(ctx, name)
		if err != nil {
			return "", err
		}
		u, err := ks.CreateUser(ctx, name, name+"-pw")
		if err != nil {
			return "", err
		}
		if err := ks.Grant(ctx, u.ID, project, role); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "- username: %s\n  password: %s\n  project_name: %s\n  user_domain_name: Default\n  project_domain_name: Default\n  roles: [%s]\n", u.Name, u.Password, name, role)
	}
	return b.String(), nil
}

// tempestPolicy is the one rule the Spyglass profiles change from the
// current defaults, as an operator who lets members manage their images'
// locations would: ImageLocationsTest.test_delete_locations removes a
// location as a member, and delete_image_location is role:admin in Glance
// 25's current defaults. Tempest's own gate runs Glance with
// enforce_new_defaults off, where the deprecated rule:default ("")
// allows it; so do the stock Glance 25 regions here.
const tempestPolicy = `"delete_image_location": "role:admin or (role:member and project_id:%(owner)s)"
`

// spyglassConfig is a keystone-mode configuration; regions are YAML lines
// for the regions key ("" : the embedded default).
func (h *tempestHarness) spyglassConfig(t *testing.T, regions string) string {
	dir := t.TempDir()
	hostsKey := ""
	if h.importFilterHosts != "" {
		hostsKey = ", allowed_hosts: " + h.importFilterHosts
	}
	policyFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(tempestPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
auth:
  mode: keystone
  keystone: {auth_url: %q, username: %s, password: %s, project_name: %s, timeout: 1m}
policy: {file: %q}
cache: {dir: %q, max_size: 1GiB}
import_filtering: {allowed_ports: []%s}
`, h.ks.AuthURL(), tempestSpyglassUser, tempestServicePass, tempestServiceProject, policyFile, filepath.Join(dir, "cache"), hostsKey) + regions
	path := filepath.Join(dir, "spyglass.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startTempestEmbedded serves the embedded default with a second embedded
// region beside it: two stores, so Tempest's copy-image and multi-store
// import tests run. It starts two instances on the same data directories,
// sharing one real Redis as a site's instances do: Tempest's remote tests
// stage through the first and import or delete through the second
// (h.remote), as through two Glance API workers on one database and one
// file store.
func startTempestEmbedded(t *testing.T, h *tempestHarness) string {
	data, second := t.TempDir(), t.TempDir()
	regions := fmt.Sprintf(`api: {show_multiple_locations: true}
regions:
  - {name: local, kind: local, data_dir: %q}
  - {name: second, kind: local, data_dir: %q}
default_region: local
redis: {addr: %q, timeout: 2s}
`, data, second, redistest.StartT(t).Addr)
	cfg := h.spyglassConfig(t, regions)
	if out, err := exec.Command(h.bin, "metadefs", "load", h.metadefs, "--config", cfg, "--data-dir", data).CombinedOutput(); err != nil {
		t.Fatalf("spyglass metadefs load %s: %v\n%s", h.metadefs, err, out)
	}
	p := startArgs(t, h.bin, "serve", "--config", cfg)
	h.keepSpyglassLog(t, p)
	// Its own configuration: its own image data cache (cache.dir).
	remote := startArgs(t, h.bin, "serve", "--config", h.spyglassConfig(t, regions))
	out := h.outDir
	t.Cleanup(func() { os.WriteFile(filepath.Join(out, "spyglass-remote.log"), []byte(remote.log()), 0o644) })
	h.remote = "http://" + remote.addr
	return "http://" + p.addr
}

// keepSpyglassLog writes what spyglass logged to spyglass.log in the
// profile's results when the profile ends.
func (h *tempestHarness) keepSpyglassLog(t *testing.T, p *process) {
	out := h.outDir
	t.Cleanup(func() { os.WriteFile(filepath.Join(out, "spyglass.log"), []byte(p.log()), 0o644) })
}

// tempestGlanceLocations makes a Glance region hold http locations
// (show_multiple_locations and a read-only http store beside the file
// one): Spyglass then keeps v1 location images, and v2's location
// patches, in the region.
const tempestGlanceLocations = "\n[DEFAULT]\nenabled_backends = local:file, web:http\nshow_multiple_locations = true\n"

// startTempestRegions starts two Spyglass instances in front of the same
// two Glance regions, sharing one real Redis as a site's instances do:
// Tempest's remote tests stage through the first and import or delete
// through the second (h.remote), as through two Glance workers.
func startTempestRegions(t *testing.T, h *tempestHarness) string {
	one, two := h.startGlance(t, tempestGlanceLocations), h.startGlance(t, tempestGlanceLocations)
	regions := fmt.Sprintf(`api: {show_multiple_locations: true}
regions:
  - {name: one, kind: glance, endpoint: %q}
  - {name: two, kind: glance, endpoint: %q}
default_region: one
redis: {addr: %q, timeout: 2s}
`, one, two, redistest.StartT(t).Addr)
	p := startArgs(t, h.bin, "serve", "--config", h.spyglassConfig(t, regions))
	h.keepSpyglassLog(t, p)
	remote := startArgs(t, h.bin, "serve", "--config", h.spyglassConfig(t, regions))
	out := h.outDir
	t.Cleanup(func() { os.WriteFile(filepath.Join(out, "spyglass-remote.log"), []byte(remote.log()), 0o644) })
	h.remote = "http://" + remote.addr
	return "http://" + p.addr
}

// startTempestGlance starts the reference: a Glance with two file stores,
// as a multi-store install (devstack's) has, so Tempest's copy-image and
// multi-store import tests run.
func startTempestGlance(t *testing.T, h *tempestHarness) string {
	return h.startGlance(t, fmt.Sprintf("\n[DEFAULT]\nenabled_backends = local:file, second:file\n\n[second]\nfilesystem_store_datadir = %s\n", t.TempDir()))
}

// startGlance starts a real Glance 25 that validates tokens with the
// harness's Keystone, and fetches web-download imports from any port
// (from loopback too when the web server is there).
func (h *tempestHarness) startGlance(t *testing.T, conf string) string {
	extra := conf + "\n[import_filtering_opts]\nallowed_ports = []\n"
	if h.importFilterHosts != "" {
		extra += "allowed_hosts = [127.0.0.1," + tempestBadURLHost + "]\n"
	}
	g := glancetest.StartTWith(t, glancetest.Options{
		Keystone: &glancetest.KeystoneAuth{
			AuthURL: h.ks.AuthURL(), Username: tempestGlanceUser, Password: tempestServicePass, Project: tempestServiceProject,
		},
		ExtraConfig: extra,
		Metadefs:    h.metadefs,
	})
	out := h.outDir
	t.Cleanup(func() {
		copyFile(filepath.Join(g.Dir, "api.log"), filepath.Join(out, "glance-"+filepath.Base(g.Dir)+".log"))
	})
	return g.URL
}

// tempestResult is one test's outcome as stestr recorded it.
type tempestResult struct {
	id     string // the test (or, for a setUpClass failure, the class) id without its [tags]
	status string // success, fail, skip
}

func (h *tempestHarness) run(t *testing.T, p tempestProfile) {
	ctx := context.Background()
	start := time.Now()
	outDir := filepath.Join(h.out, p.name)
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	h.outDir, h.remote = outDir, ""
	endpoint := p.start(t, h)
	// A catalog region of the profile's own: the image endpoints of
	// profiles run before stay in the catalog.
	region := "tempest-" + p.name
	if err := h.ks.RegisterEndpoint(ctx, "image", "glance", region, "public", endpoint); err != nil {
		t.Fatal(err)
	}
	if h.remote != "" {
		if err := h.ks.RegisterEndpoint(ctx, tempestRemoteService, "glance-remote", region, "public", h.remote); err != nil {
			t.Fatal(err)
		}
	}

	work := t.TempDir()
	home := filepath.Join(work, "home")
	ws := filepath.Join(work, "workspace")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=/usr/bin:/bin:/usr/sbin:/sbin", "HOME=" + home, "LANG=C.UTF-8"}
	tempest := func(stdout io.Writer, args ...string) error {
		cmd := exec.Command(tempestBin, args...)
		cmd.Env, cmd.Dir = env, work
		if args[0] != "init" {
			cmd.Dir = ws
		}
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = stdout, &stderr
		if err := testproc.Run(cmd); err != nil {
			return fmt.Errorf("tempest %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return nil
	}
	if err := tempest(io.Discard, "init", ws); err != nil {
		t.Fatal(err)
	}
	conf := tempestConf(h.ks.AuthURL(), region, h.httpImage, filepath.Join(ws, "logs"), p.apiV1)
	if p.locations {
		conf = strings.Replace(conf, "manage_locations = false\n", "manage_locations = true\n", 1)
	}
	if h.accounts != "" {
		path := filepath.Join(ws, "etc", "accounts.yaml")
		if err := os.WriteFile(path, []byte(h.accounts), 0o600); err != nil {
			t.Fatal(err)
		}
		conf = strings.Replace(conf, "use_dynamic_credentials = true\n", "use_dynamic_credentials = false\ntest_accounts_file = "+path+"\n", 1)
	}
	if h.remote != "" {
		conf = strings.Replace(conf, "[image]\n", "[image]\nalternate_image_endpoint = "+tempestRemoteService+"\nalternate_image_endpoint_type = public\n", 1)
	}
	if err := os.WriteFile(filepath.Join(ws, "etc", "tempest.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(outDir, "tempest.conf"), []byte(conf), 0o644)

	fmt.Printf("== tempest (%s: %s) against %s\n", p.name, p.doc, endpoint)
	trace, err := os.Create(filepath.Join(outDir, "run.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer trace.Close()
	// tempest run exits 1 when a test fails: the results say which.
	// SPYGLASS_TEMPEST_REGEX narrows the run to some tests while working
	// on them; the expected-failures list is then checked only for the
	// tests that ran.
	// Without it, the classes that leave images behind (tempestLeaky)
	// run after the others, in a run of their own.
	regex, narrowed := tempestRegex+`(?!`+tempestLeaky+`)`, os.Getenv("SPYGLASS_TEMPEST_REGEX")
	if narrowed != "" {
		regex = narrowed
	}
	runErr := tempest(io.MultiWriter(os.Stdout, trace), "run", "--regex", regex, "--concurrency", fmt.Sprint(tempestConcurrency))
	var csvOut bytes.Buffer
	last := func() []tempestResult {
		csvOut.Reset()
		cmd := exec.Command("/bin/sh", "-c", "stestr last --subunit | subunit2csv")
		cmd.Env, cmd.Dir, cmd.Stdout = env, ws, &csvOut
		// Both exit 1 when a test failed: an empty output is the error.
		csvErr := testproc.Run(cmd)
		if csvOut.Len() == 0 {
			t.Fatalf("reading the results (stestr last --subunit | subunit2csv): %v; tempest run: %v", csvErr, runErr)
		}
		results, err := parseTempestCSV(csvOut.Bytes())
		if err != nil {
			t.Fatalf("%v; tempest run: %v", err, runErr)
		}
		return results
	}
	results := last()
	allCSV := slices.Clone(csvOut.Bytes())
	if narrowed == "" {
		leakyErr := tempest(io.MultiWriter(os.Stdout, trace), "run", "--regex", tempestRegex+tempestLeaky, "--concurrency", "1")
		results = append(results, last()...)
		second := csvOut.Bytes()
		if i := bytes.IndexByte(second, '\n'); i >= 0 {
			second = second[i+1:] // its header is the first run's
		}
		allCSV = append(allCSV, second...)
		if runErr == nil {
			runErr = leakyErr
		}
	}
	os.WriteFile(filepath.Join(outDir, "results.csv"), allCSV, 0o644)
	if len(results) == 0 {
		t.Fatalf("tempest ran no test: %v (see %s and %s)", runErr, filepath.Join(outDir, "run.log"), filepath.Join(ws, "logs"))
	}
	copyFile(filepath.Join(ws, "logs", "tempest.log"), filepath.Join(outDir, "tempest.log"))

	listPath := filepath.Join("testdata", "tempest", "expected-failures-"+p.name+".txt")
	expected, err := readExpectedFailures(listPath)
	if err != nil {
		t.Fatal(err)
	}
	// A test that failed unexpectedly runs once more, alone: Tempest's
	// classes share pre-provisioned projects and a loaded 2-core machine,
	// and a failure that does not come back is reported as flaky (in the
	// summary and flaky.txt), not hidden; one that comes back fails the
	// profile.
	var again []string
	for _, r := range results {
		if _, ok := expected[r.id]; r.status == "fail" && !ok && !strings.Contains(r.id, "setUpClass") {
			again = append(again, regexp.QuoteMeta(r.id))
		}
	}
	var flaky []string
	if len(again) > 0 {
		fmt.Printf("== tempest (%s): %d unexpected failure(s), run once more alone\n", p.name, len(again))
		retryErr := tempest(io.MultiWriter(os.Stdout, trace), "run", "--regex", `^(`+strings.Join(again, "|")+`)(\[.*)?$`, "--concurrency", "1")
		retried := map[string]string{}
		for _, r := range last() {
			retried[r.id] = r.status
		}
		os.WriteFile(filepath.Join(outDir, "retry.csv"), csvOut.Bytes(), 0o644)
		if len(retried) == 0 {
			t.Fatalf("the retry ran no test: %v", retryErr)
		}
		for i, r := range results {
			if s, ok := retried[r.id]; ok && r.status == "fail" && s == "success" {
				results[i].status = "success"
				flaky = append(flaky, r.id)
			}
		}
		sort.Strings(flaky)
		os.WriteFile(filepath.Join(outDir, "flaky.txt"), []byte(strings.Join(flaky, "\n")+"\n"), 0o644)
		for _, id := range flaky {
			t.Logf("FLAKY: %s failed in the full run and passed alone (details of the failure in %s)", id, filepath.Join(outDir, "run.log"))
		}
	}

	var failed []string
	counts := map[string]map[string]int{} // api (v1, v2, all) → status → count
	for _, r := range results {
		api := "v2"
		if strings.HasPrefix(r.id, "tempest.api.image.v1.") {
			api = "v1"
		}
		for _, k := range []string{api, "all"} {
			if counts[k] == nil {
				counts[k] = map[string]int{}
			}
			counts[k][r.status]++
		}
		if r.status == "fail" {
			failed = append(failed, r.id)
		}
	}
	sort.Strings(failed)
	summary := fmt.Sprintf("tempest %s: %d passed, %d failed, %d skipped (v2: %d/%d/%d, v1: %d/%d/%d) in %s",
		p.name, counts["all"]["success"], counts["all"]["fail"], counts["all"]["skip"],
		counts["v2"]["success"], counts["v2"]["fail"], counts["v2"]["skip"],
		counts["v1"]["success"], counts["v1"]["fail"], counts["v1"]["skip"],
		time.Since(start).Round(time.Second))
	fmt.Println(summary)
	t.Log(summary)
	os.WriteFile(filepath.Join(outDir, "summary.txt"), []byte(summary+"\n"), 0o644)
	os.WriteFile(filepath.Join(outDir, "failing.txt"), []byte(strings.Join(failed, "\n")+"\n"), 0o644)

	if len(flaky) > 0 {
		summary += fmt.Sprintf("; %d flaky (failed, then passed alone: flaky.txt)", len(flaky))
		os.WriteFile(filepath.Join(outDir, "summary.txt"), []byte(summary+"\n"), 0o644)
		fmt.Println(summary)
	}
	status := map[string]string{}
	for _, r := range results {
		status[r.id] = r.status
	}
	for _, id := range failed {
		if _, ok := expected[id]; !ok {
			t.Errorf("new failure: %s (not in %s; details in %s)", id, listPath, filepath.Join(outDir, "run.log"))
		}
	}
	ids := make([]string, 0, len(expected))
	for id := range expected {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		switch s := status[id]; s {
		case "fail":
		case "success":
			t.Errorf("%s passes now: take it off %s (it was listed for: %s)", id, listPath, expected[id])
		case "":
			if narrowed != "" {
				continue // not picked by SPYGLASS_TEMPEST_REGEX
			}
			t.Errorf("%s is listed in %s but did not run (a class listed for its setUpClass whose tests now run? then take it off)", id, listPath)
		default:
			t.Errorf("%s is listed in %s but did not fail (%s): take it off or find why", id, listPath, s)
		}
	}
	t.Logf("results in %s (failing.txt: the failing ids; run.log: Tempest's output)", outDir)
}

// tempestConf is the tempest.conf for an Images API in the catalog's
// region, with Keystone v3 at authURL: dynamic credentials made by the
// bootstrap admin, every service but the image service off, and the image
// features Glance 25 (Zed) has, as a stock install enables them.
func tempestConf(authURL, region, httpImage, logDir string, apiV1 bool) string {
	return fmt.Sprintf(`[DEFAULT]
log_dir = %[5]s
log_file = tempest.log

[oslo_concurrency]
lock_path = %[5]s/lock

[auth]
use_dynamic_credentials = true
create_isolated_networks = false
admin_username = %[6]s
admin_password = %[7]s
admin_project_name = %[8]s
admin_domain_name = Default
default_credentials_domain_name = Default

[identity]
uri_v3 = %[1]s
auth_version = v3
region = %[9]s
v3_endpoint_type = public

[identity-feature-enabled]
api_v2 = false
api_v3 = true

[service_available]
glance = true
nova = false
cinder = false
neutron = false
swift = false
heat = false
horizon = false
ceilometer = false
aodh = false
ironic = false
sahara = false
trove = false
zaqar = false
designate = false
manila = false
octavia = false
barbican = false

[validation]
run_validation = false

[image]
region = %[2]s
endpoint_type = public
http_image = %[3]s
# A stock Glance 25 sets image_cache_dir (Debian's and devstack's
# glance-api.conf do), so it serves the cache API.
image_caching_enabled = true
# Seconds Tempest waits for an image to become active: the images are
# tiny, a failing import needs no 300 s to show.
build_timeout = 60

[image-feature-enabled]
api_v2 = true
api_v1 = %[4]t
import_image = true
os_glance_reserved = true
# Glance's show_multiple_locations is off by default (and the tests need
# an http store).
manage_locations = false
`, authURL, region, httpImage, apiV1, logDir, keystonetest.AdminUser, keystonetest.AdminPassword, keystonetest.AdminProject, keystonetest.Region)
}

// parseTempestCSV reads subunit2csv's output (test,status,start_time,
// stop_time): each test's id without its [tags], a setUpClass or
// tearDownClass error as its class's id.
func parseTempestCSV(b []byte) ([]tempestResult, error) {
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("subunit2csv output: %w", err)
	}
	var out []tempestResult
	for i, row := range rows {
		if i == 0 && len(row) > 0 && row[0] == "test" {
			continue
		}
		if len(row) < 2 {
			return nil, fmt.Errorf("subunit2csv row %d: %q", i, row)
		}
		id, st := row[0], row[1]
		if j := strings.IndexByte(id, '['); j > 0 {
			id = id[:j]
		}
		for _, fixture := range []string{"setUpClass (", "tearDownClass ("} {
			if rest, ok := strings.CutPrefix(id, fixture); ok {
				id = strings.TrimSuffix(rest, ")")
			}
		}
		switch st {
		case "success", "skip":
		case "fail", "failure", "xfail", "uxsuccess":
			st = "fail"
		case "exists", "inprogress":
			continue // not an outcome
		default:
			return nil, fmt.Errorf("subunit2csv row %d: unknown status %q", i, st)
		}
		out = append(out, tempestResult{id: id, status: st})
	}
	return out, nil
}

// readExpectedFailures reads a list of test (or class) ids Tempest is
// known to fail, "id  # reason" a line; blank lines and lines starting
// with # are comments. Every id needs its reason.
func readExpectedFailures(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("the expected failures: %w (an empty file means none)", err)
	}
	out := map[string]string{}
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, reason, ok := strings.Cut(line, "#")
		id, reason = strings.TrimSpace(id), strings.TrimSpace(reason)
		if !ok || reason == "" || strings.ContainsAny(id, " \t") {
			return nil, fmt.Errorf("%s:%d: want \"<test id>  # <why it fails>\", got %q", path, n+1, line)
		}
		if _, dup := out[id]; dup {
			return nil, fmt.Errorf("%s:%d: %s listed twice", path, n+1, id)
		}
		out[id] = reason
	}
	return out, nil
}

// nonLoopbackIPv4 is an IPv4 address of this machine other than
// loopback and link-local, "" when it has none.
func nonLoopbackIPv4() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
			return n.IP.String()
		}
	}
	return ""
}

func copyFile(from, to string) {
	if b, err := os.ReadFile(from); err == nil {
		os.WriteFile(to, b, 0o644)
	}
}
