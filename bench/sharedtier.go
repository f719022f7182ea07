package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
)

// SharedTierOptions shape the shared-tier scenario.
type SharedTierOptions struct {
	Images int        // seeded in Glance
	Load   WrkOptions // the one wrk command every throughput run uses
	// LoadPairs is how many times each of on and off is loaded, in the
	// order on, off, off, on, ... so drift hits both alike.
	LoadPairs int
	// Rounds is how many writes the invalidation latency is measured over.
	Rounds int
}

// SharedTierEnv is a real Glance, a redis-server, two Spyglass instances
// sharing it (on-a, on-b) and one without it (off), all with that Glance as
// their one region.
type SharedTierEnv struct {
	Dir    string
	Glance *glancetest.Glance
	OnA    string
	OnB    string
	Off    string
	Redis  string // the redis-server's address
	// ShowID is a seeded image the throughput runs show; PatchID the one
	// the invalidation rounds write (its property bench_rev).
	ShowID  string
	PatchID string
	env     *Env
}

// sharedCaller is the scenario's caller: a member of the project owning
// the images, with reader (Spyglass's default, secure-RBAC policy lets a
// member show only with it).
var sharedCaller = map[string]string{
	"X-Identity-Status": "Confirmed", "X-Project-Id": "p1", "X-User-Id": "u1", "X-Roles": "member,reader",
}

// sharedTierTTL is long enough that within a run only an invalidation can
// make an instance drop a record it holds.
const sharedTierTTL = "10m"

// StartSharedTierEnv starts the peers and seeds Glance.
func StartSharedTierEnv(ctx context.Context, opts SharedTierOptions) (*SharedTierEnv, error) {
	if _, err := exec.LookPath("wrk"); err != nil {
		return nil, fmt.Errorf("wrk not found: run `make deps-bench`")
	}
	dir, err := os.MkdirTemp("", "spyglass-sharedtier-")
	if err != nil {
		return nil, err
	}
	st := &SharedTierEnv{Dir: dir, env: &Env{Dir: dir}}
	fail := func(err error) (*SharedTierEnv, error) { st.Close(); return nil, err }
	if st.Glance, err = glancetest.Start(ctx, filepath.Join(dir, "glance")); err != nil {
		return fail(fmt.Errorf("glance: %w", err))
	}
	if st.ShowID, err = seed(st.Glance.URL, max(opts.Images, 1)); err != nil {
		return fail(fmt.Errorf("seeding glance: %w", err))
	}
	resp, b, err := call("POST", st.Glance.URL+"/v2/images", map[string]any{
		"name": "bench-invalidation", "disk_format": "qcow2", "container_format": "bare", "bench_rev": "0",
	})
	if err != nil || resp.StatusCode != 201 {
		return fail(fmt.Errorf("creating the image to write: %v %s", err, b))
	}
	var img struct{ ID string }
	if err := json.Unmarshal(b, &img); err != nil {
		return fail(err)
	}
	st.PatchID = img.ID

	redisAddr, err := st.env.startRedis()
	if err != nil {
		return fail(err)
	}
	st.Redis = redisAddr
	bin, _, err := buildSpyglass(ctx, dir)
	if err != nil {
		return fail(err)
	}
	for _, inst := range []struct {
		name  string
		url   *string
		redis string
	}{{"on-a", &st.OnA, redisAddr}, {"on-b", &st.OnB, redisAddr}, {"off", &st.Off, ""}} {
		port, err := freePort()
		if err != nil {
			return fail(err)
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		cfg := fmt.Sprintf("listen: %s\nauth: {mode: trusted}\nregions:\n  - {name: origin, kind: glance, endpoint: %q}\ncache: {dir: %q, metadata_ttl: %s}\n",
			addr, st.Glance.URL, filepath.Join(dir, inst.name+"-cache"), sharedTierTTL)
		if inst.redis != "" {
			cfg += fmt.Sprintf("redis: {addr: %q}\n", inst.redis)
		}
		if err := st.env.serveSpyglass(bin, inst.name, addr, cfg); err != nil {
			return fail(fmt.Errorf("spyglass %s: %w", inst.name, err))
		}
		*inst.url = "http://" + addr
	}
	return st, nil
}

// Close stops everything and removes the directory.
func (st *SharedTierEnv) Close() {
	st.env.Glance = st.Glance
	st.env.Close()
}

// SharedTierResult is one run of the scenario.
type SharedTierResult struct {
	// Load holds every wrk run, targets "on" (an instance sharing Redis)
	// and "off" (one without), in the order they ran.
	Load []Result `json:"load"`
	// Invalidation latency: from instance A's answer to a write to
	// instance B's first answer showing it, over Rounds writes.
	Rounds int           `json:"invalidation_rounds"`
	InvP50 time.Duration `json:"invalidation_p50"`
	InvP99 time.Duration `json:"invalidation_p99"`
	InvMax time.Duration `json:"invalidation_max"`
	// RedisPerShow is the Redis commands (from any instance, background
	// ones included) per request during the "on" loads: a warm show should
	// be served from the first level, without Redis.
	RedisPerShow float64 `json:"redis_commands_per_warm_show"`
	// StaleAnswers is the mean number of B's answers per round that were still
	// the old record (0: B was fresh on its first read after the write).
	StaleAnswers float64 `json:"stale_answers_per_round"`
}

// RunSharedTier checks the instances answer the show alike, loads on and
// off with the same wrk command, then measures cross-instance invalidation.
func RunSharedTier(ctx context.Context, st *SharedTierEnv, opts SharedTierOptions) (SharedTierResult, error) {
	var res SharedTierResult
	if err := st.sameShow(); err != nil {
		return res, err
	}
	targets := map[string]string{"on": st.OnA, "off": st.Off}
	var redisCmds, onRequests int64
	for i := 0; i < max(opts.LoadPairs, 1); i++ {
		order := []string{"on", "off"}
		if i%2 == 1 {
			order = []string{"off", "on"}
		}
		for _, t := range order {
			before, err := redisCommands(ctx, st.Redis)
			if err != nil {
				return res, err
			}
			r, err := RunWrk(ctx, opts.Load, targets[t]+"/v2/images/"+st.ShowID, sharedCaller)
			if err != nil {
				return res, fmt.Errorf("wrk %s: %w", t, err)
			}
			if r.Errors > 0 {
				return res, fmt.Errorf("wrk %s: %d requests failed or were not 2xx", t, r.Errors)
			}
			after, err := redisCommands(ctx, st.Redis)
			if err != nil {
				return res, err
			}
			if t == "on" {
				redisCmds += after - before
				onRequests += r.Requests
			}
			r.Scenario, r.Target = "sharedtier show", t
			res.Load = append(res.Load, r)
		}
	}
	res.RedisPerShow = Ratio(float64(redisCmds), float64(onRequests))
	lat, stale, err := st.invalidationRounds(ctx, opts.Rounds)
	if err != nil {
		return res, err
	}
	slices.Sort(lat)
	res.Rounds = len(lat)
	res.InvP50, res.InvP99, res.InvMax = lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)], lat[len(lat)-1]
	res.StaleAnswers = float64(stale) / float64(len(lat))
	return res, nil
}

// sameShow checks that Glance, both shared instances and the one without
// the tier answer the shown image with the same JSON, twice each (the
// second answer from the instances' first level).
func (st *SharedTierEnv) sameShow() error {
	var want any
	for _, base := range []string{st.Glance.URL, st.OnA, st.OnB, st.Off} {
		for range 2 {
			code, body, err := do(http.DefaultClient, "GET", base+"/v2/images/"+st.ShowID, nil, "")
			if err != nil {
				return err
			}
			if code != 200 {
				return fmt.Errorf("GET %s/v2/images/%s: %d %s", base, st.ShowID, code, body)
			}
			var got any
			if err := json.Unmarshal(body, &got); err != nil {
				return fmt.Errorf("GET %s/v2/images/%s: %v", base, st.ShowID, err)
			}
			if want == nil {
				want = got
			} else if !reflect.DeepEqual(got, want) {
				return fmt.Errorf("%s answers the image other than Glance:\n got  %s\n want %s", base, jsonOf(got), jsonOf(want))
			}
		}
	}
	return nil
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// invalidationRounds writes bench_rev through instance A, rounds times, and
// after each write polls instance B until it serves the new value. B holds
// the image's record before every write (warmed first, then refilled by
// the previous round's last poll) and its metadata_ttl is long, so only the
// invalidation can make it fresh. It returns each round's latency, from
// A's answer to B's first fresh answer, and how many stale answers B gave
// in all.
func (st *SharedTierEnv) invalidationRounds(ctx context.Context, rounds int) ([]time.Duration, int, error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: 30 * time.Second}
	path := "/v2/images/" + st.PatchID
	rev := func(base string) (string, error) {
		code, body, err := do(client, "GET", base+path, nil, "")
		if err != nil {
			return "", err
		}
		if code != 200 {
			return "", fmt.Errorf("GET %s%s: %d %s", base, path, code, body)
		}
		var img struct {
			Rev string `json:"bench_rev"`
		}
		if err := json.Unmarshal(body, &img); err != nil {
			return "", fmt.Errorf("GET %s%s: %v", base, path, err)
		}
		return img.Rev, nil
	}
	for _, base := range []string{st.OnA, st.OnB} {
		for range 2 {
			if got, err := rev(base); err != nil {
				return nil, 0, err
			} else if got != "0" {
				return nil, 0, fmt.Errorf("%s serves bench_rev %q before any write, want \"0\"", base, got)
			}
		}
	}
	var lat []time.Duration
	stale := 0
	for i := 1; i <= rounds; i++ {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		old, want := strconv.Itoa(i-1), strconv.Itoa(i)
		patch := []byte(`[{"op": "replace", "path": "/bench_rev", "value": "` + want + `"}]`)
		code, body, err := do(client, "PATCH", st.OnA+path, patch, "application/openstack-images-v2.1-json-patch")
		if err != nil {
			return nil, 0, fmt.Errorf("round %d: PATCH through A: %w", i, err)
		}
		if code != 200 {
			return nil, 0, fmt.Errorf("round %d: PATCH through A: %d %s", i, code, body)
		}
		written := time.Now()
		deadline := written.Add(30 * time.Second)
		for {
			got, err := rev(st.OnB)
			if err != nil {
				return nil, 0, fmt.Errorf("round %d: %w", i, err)
			}
			if got == want {
				lat = append(lat, time.Since(written))
				break
			}
			if got != old {
				return nil, 0, fmt.Errorf("round %d: B serves bench_rev %q, neither the old %q nor the new %q", i, got, old, want)
			}
			stale++
			if time.Now().After(deadline) {
				return nil, 0, fmt.Errorf("round %d: B still serves bench_rev %q 30s after A answered the write of %q", i, got, want)
			}
		}
	}
	return lat, stale, nil
}

// redisCommands is how many commands the redis-server at addr has run,
// except those of this measurement's own connection (hello, client, info).
func redisCommands(ctx context.Context, addr string) (int64, error) {
	rdb := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
	defer rdb.Close()
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return 0, fmt.Errorf("redis INFO commandstats: %w", err)
	}
	var n int64
	for _, line := range strings.Split(info, "\n") {
		name, stats, ok := strings.Cut(strings.TrimSpace(line), ":")
		cmd, isCmd := strings.CutPrefix(name, "cmdstat_")
		if !ok || !isCmd || cmd == "info" || cmd == "hello" || strings.HasPrefix(cmd, "client") {
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(stats, "calls="), ",")
		c, err := strconv.ParseInt(calls, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("redis INFO commandstats: bad line %q", line)
		}
		n += c
	}
	return n, nil
}

// do sends one request as the bench's caller through client and reads the
// whole answer.
func do(client *http.Client, method, url string, body []byte, ct string) (int, []byte, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	for k, v := range sharedCaller {
		req.Header.Set(k, v)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// meanRPS is the mean throughput of target's runs.
func meanRPS(load []Result, target string) float64 {
	var sum float64
	n := 0
	for _, r := range load {
		if r.Target == target {
			sum += r.RPS
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// SharedTierRatios are the numbers the issue sets targets for.
func SharedTierRatios(r SharedTierResult) map[string]float64 {
	return map[string]float64{
		"warm show req/s, shared tier on / off": Ratio(meanRPS(r.Load, "on"), meanRPS(r.Load, "off")),
		"invalidation p50 (ms)":                 float64(r.InvP50.Microseconds()) / 1000,
		"invalidation p99 (ms)":                 float64(r.InvP99.Microseconds()) / 1000,
		"invalidation max (ms)":                 float64(r.InvMax.Microseconds()) / 1000,
		"redis commands per warm show (on)":     r.RedisPerShow,
	}
}

func printSharedTier(r SharedTierResult) {
	fmt.Printf("\n== sharedtier: warm show GET /v2/images/{id} (wrk, same run) ==\n")
	fmt.Printf("%-10s %12s %10s %10s %8s\n", "target", "req/s", "p50", "p99", "errors")
	for _, l := range r.Load {
		fmt.Printf("%-10s %12.0f %10s %10s %8d\n", l.Target, l.RPS, l.P50, l.P99, l.Errors)
	}
	fmt.Printf("\n== sharedtier: cross-instance invalidation, %d writes ==\n", r.Rounds)
	fmt.Printf("write through A answered -> B serves it: p50 %v p99 %v max %v (B's stale answers per write: %.2f)\n",
		r.InvP50.Round(time.Microsecond), r.InvP99.Round(time.Microsecond), r.InvMax.Round(time.Microsecond), r.StaleAnswers)
	printRatios(SharedTierRatios(r))
}
