package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
)

// FedWalkOptions shape the federated listing walk.
type FedWalkOptions struct {
	Regions   int // real Glances behind Spyglass
	PerRegion int // images seeded in each
	Limit     int // page size of every walk
	Rounds    int // walks of each kind; medians are reported
}

// FedWalkEnv is N real Glances and one Spyglass with each as a region.
type FedWalkEnv struct {
	Dir     string
	Glances []*glancetest.Glance
	SpyURL  string
	// NoAheadURL is a second Spyglass over the same regions with
	// read-ahead off (cache.metadata_ttl: 0): every page asks the regions.
	NoAheadURL string
	env        *Env
}

// StartFedWalkEnv starts the Glances, seeds them and starts Spyglass over
// them.
func StartFedWalkEnv(ctx context.Context, opts FedWalkOptions) (*FedWalkEnv, error) {
	dir, err := os.MkdirTemp("", "spyglass-fedwalk-")
	if err != nil {
		return nil, err
	}
	fe := &FedWalkEnv{Dir: dir, env: &Env{Dir: dir}, Glances: make([]*glancetest.Glance, opts.Regions)}
	fail := func(err error) (*FedWalkEnv, error) { fe.Close(); return nil, err }
	errs := make([]error, opts.Regions)
	var wg sync.WaitGroup
	for i := range fe.Glances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fe.Glances[i], errs[i] = glancetest.Start(ctx, filepath.Join(dir, fmt.Sprintf("g%d", i)))
			if errs[i] == nil {
				errs[i] = seedMany(fe.Glances[i].URL, opts.PerRegion, fmt.Sprintf("g%d", i))
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fail(err)
	}
	if fe.SpyURL, err = fe.startSpyglass(ctx, "spyglass", "30s"); err != nil {
		return fail(fmt.Errorf("spyglass: %w", err))
	}
	if fe.NoAheadURL, err = fe.startSpyglass(ctx, "spyglass-noahead", "0s"); err != nil {
		return fail(fmt.Errorf("spyglass: %w", err))
	}
	return fe, nil
}

// seedMany creates n images in a Glance, four at a time: colliding names,
// the sort keys a walk orders by (created_at, id) colliding within seconds.
func seedMany(base string, n int, tag string) error {
	work := make(chan int)
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				resp, b, err := call("POST", base+"/v2/images", map[string]any{
					"name": fmt.Sprintf("img-%03d", i%300), "disk_format": "qcow2", "container_format": "bare",
					"hw_disk_bus": "virtio", "tags": []string{"fedwalk", tag},
				})
				if err == nil && resp.StatusCode != 201 {
					err = fmt.Errorf("create: %d %s", resp.StatusCode, b)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var err error
feed:
	for i := 0; i < n; i++ {
		select {
		case work <- i:
		case err = <-errs:
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err == nil && len(errs) > 0 {
		err = <-errs
	}
	return err
}

func (fe *FedWalkEnv) startSpyglass(ctx context.Context, name, metadataTTL string) (string, error) {
	dir := filepath.Join(fe.Dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	bin, addr, err := buildSpyglass(ctx, dir)
	if err != nil {
		return "", err
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "listen: %s\nauth: {mode: trusted}\ndefault_region: g0\ncache: {dir: %q, metadata_ttl: %s}\nregions:\n",
		addr, filepath.Join(fe.Dir, name+"-cache"), metadataTTL)
	for i, g := range fe.Glances {
		fmt.Fprintf(&cfg, "  - {name: g%d, kind: glance, endpoint: %q}\n", i, g.URL)
	}
	path := filepath.Join(fe.Dir, name+".yaml")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o644); err != nil {
		return "", err
	}
	cmd := exec.Command(bin, "serve", "--config", path, "--admin-listen", "127.0.0.1:0")
	if err := fe.env.start(name, cmd); err != nil {
		return "", err
	}
	return "http://" + addr, waitHTTP(cmd, "http://"+addr+"/versions", 20*time.Second)
}

// Close stops everything and removes the directory.
func (fe *FedWalkEnv) Close() {
	for _, g := range fe.Glances {
		if g != nil {
			g.Stop()
		}
	}
	fe.env.Close()
}

// walked is one walk: every page's latency and the images in order.
type walked struct {
	total time.Duration
	pages []time.Duration
	imgs  []walkedImage
}

type walkedImage struct {
	ID        string `json:"id"`
	CreatedAt string `json:"created_at"`
}

// walkAll follows next links from /v2/images?limit=N to the end.
func walkAll(client *http.Client, base string, limit int) (walked, error) {
	var w walked
	path := fmt.Sprintf("/v2/images?limit=%d", limit)
	start := time.Now()
	for path != "" {
		req, _ := http.NewRequest("GET", base+path, nil)
		for k, v := range adminIdentity {
			req.Header.Set(k, v)
		}
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return w, err
		}
		var page struct {
			Images []walkedImage `json:"images"`
			Next   string        `json:"next"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			return w, fmt.Errorf("GET %s: %d %v", path, resp.StatusCode, err)
		}
		if h := resp.Header.Get("X-Spyglass-Missing-Regions"); h != "" {
			return w, fmt.Errorf("GET %s: regions missing: %s", path, h)
		}
		w.pages = append(w.pages, time.Since(t0))
		w.imgs = append(w.imgs, page.Images...)
		path = page.Next
		if len(w.pages) > 1000 {
			return w, errors.New("more than 1000 pages: next links loop")
		}
	}
	w.total = time.Since(start)
	return w, nil
}

// FedWalkResult is one scenario run: medians over the rounds.
type FedWalkResult struct {
	Images int `json:"images"`
	Limit  int `json:"limit"`
	// Spyglass's merged walk, every page; and with read-ahead off.
	SpyglassWalk        time.Duration `json:"spyglass_walk"`
	SpyglassWalkNoAhead time.Duration `json:"spyglass_walk_no_read_ahead"`
	// Each region walked directly, alone (sequential) and all at once
	// (parallel), and the parallel run's wall time.
	RegionWalks         []time.Duration `json:"region_walks_sequential"`
	RegionWalksParallel []time.Duration `json:"region_walks_parallel"`
	ParallelWall        time.Duration   `json:"parallel_wall"`
	// Page latencies, p50: Spyglass's pages after the first (their
	// positions come from the cursor store) and the slowest region's.
	SpyglassCursorPageP50        time.Duration `json:"spyglass_cursor_page_p50"`
	SpyglassCursorPageP50NoAhead time.Duration `json:"spyglass_cursor_page_p50_no_read_ahead"`
	SlowestRegionPageP50         time.Duration `json:"slowest_region_page_p50"`
}

// RunFedWalk walks the whole catalog through Spyglass and each region
// directly, Rounds times each, interleaved so drift on the shared machine
// hits every kind alike, and checks Spyglass's walk is the regions' union in
// Glance's order (created_at desc, id desc), each image once.
func RunFedWalk(fe *FedWalkEnv, opts FedWalkOptions) (FedWalkResult, error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	n := len(fe.Glances)
	var spy, wall []time.Duration
	var spyPages, noAhead, noAheadPages []time.Duration
	seq := make([][]time.Duration, n)
	par := make([][]time.Duration, n)
	regionPages := make([][]time.Duration, n)
	res := FedWalkResult{Limit: opts.Limit}
	for round := 0; round < opts.Rounds; round++ {
		s, err := walkAll(client, fe.SpyURL, opts.Limit)
		if err != nil {
			return res, fmt.Errorf("spyglass: %w", err)
		}
		spy = append(spy, s.total)
		spyPages = append(spyPages, s.pages[1:]...)
		na, err := walkAll(client, fe.NoAheadURL, opts.Limit)
		if err != nil {
			return res, fmt.Errorf("spyglass without read-ahead: %w", err)
		}
		noAhead = append(noAhead, na.total)
		noAheadPages = append(noAheadPages, na.pages[1:]...)

		var union []walkedImage
		for i, g := range fe.Glances {
			w, err := walkAll(client, g.URL, opts.Limit)
			if err != nil {
				return res, fmt.Errorf("g%d: %w", i, err)
			}
			seq[i] = append(seq[i], w.total)
			regionPages[i] = append(regionPages[i], w.pages...)
			union = append(union, w.imgs...)
		}
		if err := sameWalk(s.imgs, union); err != nil {
			return res, err
		}
		if err := sameWalk(na.imgs, union); err != nil {
			return res, fmt.Errorf("without read-ahead: %w", err)
		}
		res.Images = len(union)

		var wg sync.WaitGroup
		errs := make([]error, n)
		t0 := time.Now()
		for i, g := range fe.Glances {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w, err := walkAll(client, g.URL, opts.Limit)
				errs[i] = err
				par[i] = append(par[i], w.total)
			}()
		}
		wg.Wait()
		wall = append(wall, time.Since(t0))
		if err := errors.Join(errs...); err != nil {
			return res, err
		}
	}
	res.SpyglassWalk = median(spy)
	res.SpyglassWalkNoAhead = median(noAhead)
	res.SpyglassCursorPageP50NoAhead = median(noAheadPages)
	res.ParallelWall = median(wall)
	slowest := 0
	for i := range fe.Glances {
		res.RegionWalks = append(res.RegionWalks, median(seq[i]))
		res.RegionWalksParallel = append(res.RegionWalksParallel, median(par[i]))
		if median(seq[i]) > median(seq[slowest]) {
			slowest = i
		}
	}
	res.SpyglassCursorPageP50 = median(spyPages)
	for i := range fe.Glances {
		res.SlowestRegionPageP50 = max(res.SlowestRegionPageP50, median(regionPages[i]))
	}
	return res, nil
}

// sameWalk checks got is the regions' images (want: each region's walk in
// its order, region after region) in Glance's default order, once each:
// created_at descending as rendered (to the second), the regions' images
// within one second region by region, each region's in its own order
// (Glance orders by microseconds it does not render).
func sameWalk(got, want []walkedImage) error {
	sort.SliceStable(want, func(i, j int) bool { return want[i].CreatedAt > want[j].CreatedAt })
	if len(got) != len(want) {
		return fmt.Errorf("spyglass walked %d images, the regions hold %d", len(got), len(want))
	}
	for i := range got {
		if got[i].ID != want[i].ID {
			return fmt.Errorf("spyglass's walk differs from the regions' union at %d: %s, want %s", i, got[i].ID, want[i].ID)
		}
	}
	return nil
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// FedWalkRatios are the numbers the issue sets targets for.
func FedWalkRatios(r FedWalkResult) map[string]float64 {
	slowest := slices.Max(r.RegionWalks)
	slowestPar := slices.Max(r.RegionWalksParallel)
	return map[string]float64{
		"merged walk / slowest region walk (each alone)":                       Ratio(float64(r.SpyglassWalk), float64(slowest)),
		"merged walk / slowest region walk (all three at once)":                Ratio(float64(r.SpyglassWalk), float64(slowestPar)),
		"merged walk / sum of region walks":                                    Ratio(float64(r.SpyglassWalk), float64(sum(r.RegionWalks))),
		"cursor page p50 / slowest region page p50":                            Ratio(float64(r.SpyglassCursorPageP50), float64(r.SlowestRegionPageP50)),
		"no read-ahead: merged walk / slowest region walk (each alone)":        Ratio(float64(r.SpyglassWalkNoAhead), float64(slowest)),
		"no read-ahead: merged walk / slowest region walk (all three at once)": Ratio(float64(r.SpyglassWalkNoAhead), float64(slowestPar)),
		"no read-ahead: cursor page p50 / slowest region page p50":             Ratio(float64(r.SpyglassCursorPageP50NoAhead), float64(r.SlowestRegionPageP50)),
	}
}

func sum(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t
}

func printFedWalk(r FedWalkResult) {
	fmt.Printf("\n== fedwalk: %d images, limit=%d (medians, same run) ==\n", r.Images, r.Limit)
	fmt.Printf("spyglass merged walk     %v (cursor page p50 %v)\n", r.SpyglassWalk.Round(time.Millisecond), r.SpyglassCursorPageP50.Round(time.Millisecond))
	fmt.Printf("  without read-ahead     %v (cursor page p50 %v)\n", r.SpyglassWalkNoAhead.Round(time.Millisecond), r.SpyglassCursorPageP50NoAhead.Round(time.Millisecond))
	for i := range r.RegionWalks {
		fmt.Printf("g%d alone / in parallel   %v / %v\n", i, r.RegionWalks[i].Round(time.Millisecond), r.RegionWalksParallel[i].Round(time.Millisecond))
	}
	fmt.Printf("regions in parallel wall %v; slowest region page p50 %v\n", r.ParallelWall.Round(time.Millisecond), r.SlowestRegionPageP50.Round(time.Millisecond))
	printRatios(FedWalkRatios(r))
}
