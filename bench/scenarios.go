package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
)

// showScenario loads GET /v2/images/{id}: the call Nova makes on every boot.
type showScenario struct{}

func (showScenario) Name() string { return "show GET /v2/images/{id}" }

func (showScenario) Run(ctx context.Context, env *Env) ([]Result, error) {
	return loadEach(ctx, env, "show", func(target string) string { return "/v2/images/" + env.ShowID[target] })
}

// listScenario loads the default listing page (limit 25).
type listScenario struct{}

func (listScenario) Name() string { return "list GET /v2/images" }

func (listScenario) Run(ctx context.Context, env *Env) ([]Result, error) {
	return loadEach(ctx, env, "list", func(string) string { return "/v2/images" })
}

// loadEach checks that Glance, nginx and Spyglass answer the path alike,
// warms nginx's cache (and checks it serves HITs), then loads each target
// with the same wrk command.
func loadEach(ctx context.Context, env *Env, scenario string, path func(target string) string) ([]Result, error) {
	bases := []peer{{"glance", env.Glance.URL}, {"nginx", env.NginxURL}}
	if env.VarnishURL != "" {
		bases = append(bases, peer{"varnish", env.VarnishURL})
	}
	bases = append(bases, peer{"spyglass", env.SpyURL})
	var shapes []string
	for _, b := range bases {
		url := b.url + path(b.name)
		var cache string
		for i := 0; i < 3; i++ { // the second and third nginx answers must be HITs
			resp, body, err := call("GET", url, nil)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", b.name, err)
			}
			if resp.StatusCode != 200 {
				return nil, fmt.Errorf("%s GET %s: %d %s", b.name, url, resp.StatusCode, body)
			}
			cache = resp.Header.Get("X-Cache-Status")
			if i == 0 {
				shapes = append(shapes, keysOf(body))
			}
		}
		if (b.name == "nginx" || b.name == "varnish") && cache != "HIT" {
			return nil, fmt.Errorf("%s is not serving from its cache (X-Cache-Status %q)", b.name, cache)
		}
	}
	if last := len(shapes) - 1; shapes[0] != shapes[last] {
		return nil, fmt.Errorf("Spyglass's %s body has other keys than Glance's:\n glance   %s\n spyglass %s", scenario, shapes[0], shapes[last])
	}
	var res []Result
	for _, b := range bases {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r, err := RunWrk(ctx, env.Load, b.url+path(b.name), identity)
		if err != nil {
			return nil, fmt.Errorf("wrk %s: %w", b.name, err)
		}
		r.Scenario, r.Target = scenario, b.name
		res = append(res, r)
	}
	return res, nil
}

// keysOf describes a JSON document's top-level keys (and those of its first
// image), to check two servers answer the same shape.
func keysOf(body []byte) string {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return "not JSON"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if imgs, ok := m["images"]; ok {
		var list []json.RawMessage
		if json.Unmarshal(imgs, &list) == nil && len(list) > 0 {
			keys = append(keys, "images[0]:"+keysOf(list[0]))
		}
	}
	return fmt.Sprint(keys)
}

// printRatios prints a scenario's ratios, one a line, in name order.
func printRatios(ratios map[string]float64) {
	for _, k := range slices.Sorted(maps.Keys(ratios)) {
		fmt.Printf("%-66s %8.3fx\n", k, ratios[k])
	}
}
