package main

import (
	"encoding/json"
	"net/http"
)

// readiness is GET /ready's body: whether this instance should receive
// traffic, and the state of each part that decides it.
type readiness struct {
	Ready bool `json:"ready"`
	// Reasons says why not (empty when ready).
	Reasons    []string          `json:"reasons"`
	Draining   bool              `json:"draining"`
	Regions    []regionReadiness `json:"regions"`
	Keystone   *breakerReadiness `json:"keystone,omitempty"`
	Redis      *breakerReadiness `json:"redis,omitempty"`
	ImageCache *cacheReadiness   `json:"image_cache,omitempty"`
}

type regionReadiness struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Breaker is the region's circuit breaker (closed, half-open, open);
	// empty for an embedded region.
	Breaker   string `json:"breaker,omitempty"`
	Available bool   `json:"available"`
}

// breakerReadiness reports a dependency that does not decide readiness:
// Keystone (tokens validated before keep working) and Redis (its loss
// costs sharing, never an answer).
type breakerReadiness struct {
	Breaker string `json:"breaker"`
}

type cacheReadiness struct {
	Disk               string `json:"disk"` // "ok", or what failed
	UsedBytes          int64  `json:"used_bytes"`
	MaxBytes           int64  `json:"max_bytes"`
	HighWatermarkBytes int64  `json:"high_watermark_bytes"`
	LowWatermarkBytes  int64  `json:"low_watermark_bytes"`
}

// readyHandler answers GET /ready: 200 when the instance should receive
// traffic, 503 when it should not: it is draining, no region can be asked
// (every breaker open), or the image data cache's disk fails.
func readyHandler(inst *instance) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		r := inst.readiness()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if !r.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(r)
	})
}

func (inst *instance) readiness() readiness {
	r := readiness{Reasons: []string{}, Regions: []regionReadiness{}, Draining: inst.draining.Load()}
	if r.Draining {
		r.Reasons = append(r.Reasons, "draining: the instance is shutting down")
	}
	anyRegion := false
	for _, p := range inst.regions {
		rr := regionReadiness{Name: p.name, Kind: p.kind, Available: p.available()}
		if p.breaker != nil {
			rr.Breaker = p.breaker.BreakerState()
		}
		anyRegion = anyRegion || rr.Available
		r.Regions = append(r.Regions, rr)
	}
	if !anyRegion {
		r.Reasons = append(r.Reasons, "regions: every region's circuit breaker is open")
	}
	if inst.keystone != nil {
		r.Keystone = &breakerReadiness{Breaker: inst.keystone.BreakerState()}
	}
	if inst.shared != nil {
		r.Redis = &breakerReadiness{Breaker: inst.shared.BreakerState()}
	}
	if inst.blobs != nil {
		s := inst.blobs.Stats()
		c := &cacheReadiness{Disk: "ok", UsedBytes: s.UsedBytes, MaxBytes: s.MaxBytes,
			HighWatermarkBytes: s.HighBytes, LowWatermarkBytes: s.LowBytes}
		if err := inst.blobs.CheckDisk(); err != nil {
			c.Disk = err.Error()
			r.Reasons = append(r.Reasons, "image_cache: the disk fails: "+err.Error())
		}
		r.ImageCache = c
	}
	r.Ready = len(r.Reasons) == 0
	return r
}
