// Command bench runs Spyglass's whole-system scenarios: it starts real peers
// (a real Glance 25, nginx proxy_cache in front of it, and Spyglass itself)
// on loopback, loads each with the same wrk command in the same run, and
// reports throughput ratios. Absolute numbers drift on a shared machine;
// the ratios measured in one run are what to read.
//
//	go run ./bench -scenario all -duration 10s
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Scenario is one whole-system measurement over the running peers.
type Scenario interface {
	Name() string
	Run(ctx context.Context, env *Env) ([]Result, error)
}

// Result is one load run against one target.
type Result struct {
	Scenario string  `json:"scenario"`
	Target   string  `json:"target"`
	RPS      float64 `json:"requests_per_sec"`
	P50      string  `json:"latency_p50"`
	P99      string  `json:"latency_p99"`
	Errors   int     `json:"non_2xx_or_errors"`
	Requests int64   `json:"requests,omitempty"`
}

func main() {
	scenario := flag.String("scenario", "all", "show, list, all, bootstorm, fedwalk or sharedtier")
	duration := flag.Duration("duration", 10*time.Second, "wrk duration per target")
	images := flag.Int("images", 200, "images seeded on each peer")
	conns := flag.Int("conns", 16, "wrk connections")
	threads := flag.Int("threads", 2, "wrk threads")
	out := flag.String("out", "bench/results/latest.json", "where to write the JSON results")
	keep := flag.Bool("keep", false, "leave the peers running until Ctrl-C (debugging)")
	imageMiB := flag.Int64("image-mib", 512, "bootstorm: image size, MiB")
	ns := flag.String("n", "1,20,100,500", "bootstorm: concurrent downloads, comma-separated")
	directMax := flag.Int("direct-max-n", 100, "bootstorm: largest N also run straight against Glance")
	originRate := flag.Int64("origin-rate-mib", 0, "bootstorm: per-connection origin rate limit, MiB/s (0: none)")
	quick := flag.Bool("quick", false, "bootstorm: 64 MiB, N=1,20,100")
	perfDir := flag.String("perf", "", "bootstorm: record each storm with perf record -a -g into this directory")
	cachesFlag := flag.String("caches", "nginx,varnish,spyglass", "bootstorm: the caches stormed, in the order they run")
	stormClient := flag.String("client", ClientGlance, "bootstorm: what each client asks: glanceclient (the record, then the data, as Nova's download does) or file (the data alone)")
	siteN := flag.Int("site-instances", 3, "bootstorm: Spyglass instances sharing a Redis behind a round-robin front (0: no site variant)")
	fedImages := flag.Int("fed-images", 5000, "fedwalk: images seeded in each region")
	fedRegions := flag.Int("fed-regions", 3, "fedwalk: Glance regions")
	fedLimit := flag.Int("fed-limit", 1000, "fedwalk: page size")
	fedRounds := flag.Int("fed-rounds", 5, "fedwalk: walks of each kind (medians reported)")
	sharedPairs := flag.Int("shared-pairs", 2, "sharedtier: wrk runs of each of on and off (alternating on, off, off, on)")
	sharedRounds := flag.Int("shared-rounds", 300, "sharedtier: writes the invalidation latency is measured over")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *scenario == "bootstorm" {
		opts := StormOptions{ImageSize: *imageMiB << 20, DirectMaxN: *directMax, OriginRate: *originRate << 20, SiteInstances: *siteN, PerfDir: *perfDir, Client: *stormClient}
		for _, c := range strings.Split(*cachesFlag, ",") {
			switch c = strings.TrimSpace(c); c {
			case "nginx", "varnish", "spyglass":
				opts.Caches = append(opts.Caches, c)
			default:
				log.Fatalf("bench: -caches: unknown cache %q (nginx, varnish, spyglass)", c)
			}
		}
		if *quick {
			opts.ImageSize, *ns = 64<<20, "1,20,100"
		}
		for _, f := range strings.Split(*ns, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				log.Fatalf("bench: -n %q: want positive integers", *ns)
			}
			opts.Ns = append(opts.Ns, n)
		}
		se, err := StartStormEnv(ctx, opts)
		if err != nil {
			log.Fatalf("bench: %v", err)
		}
		res, err := RunStorm(se, opts)
		se.Close()
		if err != nil {
			log.Fatalf("bench: bootstorm: %v", err)
		}
		printStorm(res)
		writeResults(*out, map[string]any{"bootstorm": res, "ratios": StormRatios(res)})
		return
	}
	if *scenario == "fedwalk" {
		opts := FedWalkOptions{Regions: *fedRegions, PerRegion: *fedImages, Limit: *fedLimit, Rounds: *fedRounds}
		start := time.Now()
		fe, err := StartFedWalkEnv(ctx, opts)
		if err != nil {
			log.Fatalf("bench: %v", err)
		}
		log.Printf("fedwalk: %d regions seeded with %d images each in %v", opts.Regions, opts.PerRegion, time.Since(start).Round(time.Second))
		res, err := RunFedWalk(fe, opts)
		fe.Close()
		if err != nil {
			log.Fatalf("bench: fedwalk: %v", err)
		}
		printFedWalk(res)
		writeResults(*out, map[string]any{"fedwalk": res, "ratios": FedWalkRatios(res)})
		return
	}
	if *scenario == "sharedtier" {
		opts := SharedTierOptions{Images: *images, Load: WrkOptions{Duration: *duration, Conns: *conns, Threads: *threads},
			LoadPairs: *sharedPairs, Rounds: *sharedRounds}
		st, err := StartSharedTierEnv(ctx, opts)
		if err != nil {
			log.Fatalf("bench: %v", err)
		}
		res, err := RunSharedTier(ctx, st, opts)
		st.Close()
		if err != nil {
			log.Fatalf("bench: sharedtier: %v", err)
		}
		printSharedTier(res)
		writeResults(*out, map[string]any{"sharedtier": res, "ratios": SharedTierRatios(res)})
		return
	}
	env, err := StartEnv(ctx, *images)
	if err != nil {
		log.Fatalf("bench: %v", err)
	}
	defer env.Close()
	env.Load = WrkOptions{Duration: *duration, Conns: *conns, Threads: *threads}

	var scenarios []Scenario
	switch *scenario {
	case "show":
		scenarios = []Scenario{showScenario{}}
	case "list":
		scenarios = []Scenario{listScenario{}}
	case "all":
		scenarios = []Scenario{showScenario{}, listScenario{}}
	default:
		env.Close() // log.Fatalf skips the deferred Close: the peers would outlive the run
		log.Fatalf("bench: unknown scenario %q (show, list, all, bootstorm, fedwalk, sharedtier)", *scenario)
	}
	var all []Result
	for _, s := range scenarios {
		res, err := s.Run(ctx, env)
		if err != nil {
			env.Close()
			log.Fatalf("bench: %s: %v", s.Name(), err)
		}
		all = append(all, res...)
		printTable(s.Name(), res)
	}
	writeResults(*out, Report{Results: all, Ratios: Ratios(all)})
	if *keep {
		fmt.Println("peers kept running; Ctrl-C to stop:", env.Describe())
		<-ctx.Done()
	}
}

func printTable(name string, res []Result) {
	fmt.Printf("\n== %s (wrk, same run) ==\n", name)
	fmt.Printf("%-10s %12s %10s %10s %8s\n", "target", "req/s", "p50", "p99", "errors")
	byTarget := map[string]Result{}
	for _, r := range res {
		byTarget[r.Target] = r
		fmt.Printf("%-10s %12.0f %10s %10s %8d\n", r.Target, r.RPS, r.P50, r.P99, r.Errors)
	}
	sp := byTarget["spyglass"]
	for _, other := range []string{"glance", "nginx", "varnish"} {
		if p, ok := byTarget[other]; ok && p.RPS > 0 {
			fmt.Printf("ratio spyglass/%s: %.2fx\n", other, Ratio(sp.RPS, p.RPS))
		}
	}
}

// Report is what -out holds: every load run and the Spyglass/peer ratios.
type Report struct {
	Results []Result `json:"results"`
	// Ratios maps "scenario spyglass/peer" to Spyglass's req/s over the peer's.
	Ratios map[string]float64 `json:"ratios"`
}

// Ratios computes Spyglass's throughput over each peer's, per scenario;
// pairs with a missing or zero-throughput side are left out.
func Ratios(res []Result) map[string]float64 {
	sp := map[string]float64{}
	for _, r := range res {
		if r.Target == "spyglass" {
			sp[r.Scenario] = r.RPS
		}
	}
	out := map[string]float64{}
	for _, r := range res {
		if s, ok := sp[r.Scenario]; ok && r.Target != "spyglass" && r.RPS > 0 {
			out[r.Scenario+" spyglass/"+r.Target] = Ratio(s, r.RPS)
		}
	}
	return out
}

// Ratio is a/b, 0 when b is 0.
func Ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// writeResults writes a run's results as JSON to path (bench/results/…),
// making its directory; a failure is logged, never fatal: the results are
// printed already.
func writeResults(path string, results any) {
	b, _ := json.MarshalIndent(results, "", "  ")
	err := os.MkdirAll(filepath.Dir(path), 0o755)
	if err == nil {
		err = os.WriteFile(path, b, 0o644)
	}
	if err != nil {
		log.Printf("bench: writing %s: %v", path, err)
	}
}
