package admin

import (
	"encoding/json"
	"net/http"
)

// Readiness is GET /ready's body: whether this instance should receive
// traffic, and the state of each part that decides it.
type Readiness struct {
	Ready bool `json:"ready"`
	// Reasons says why not (empty when ready).
	Reasons    []string             `json:"reasons"`
	Draining   bool                 `json:"draining"`
	Regions    []RegionReadiness    `json:"regions"`
	Keystone   *BreakerReadiness    `json:"keystone,omitempty"`
	Redis      *BreakerReadiness    `json:"redis,omitempty"`
	ImageCache *ImageCacheReadiness `json:"image_cache,omitempty"`
}

// RegionReadiness is a region's part of /ready.
type RegionReadiness struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Breaker is the region's circuit breaker (closed, half-open, open);
	// empty for an embedded region.
	Breaker   string `json:"breaker,omitempty"`
	Available bool   `json:"available"`
}

// BreakerReadiness reports a dependency that does not decide readiness:
// Keystone (tokens validated before keep working) and Redis (its loss
// costs sharing, never an answer).
type BreakerReadiness struct {
	Breaker string `json:"breaker"`
}

// ImageCacheReadiness is the image data cache's part of /ready.
type ImageCacheReadiness struct {
	Disk               string `json:"disk"` // "ok", or what failed
	UsedBytes          int64  `json:"used_bytes"`
	MaxBytes           int64  `json:"max_bytes"`
	HighWatermarkBytes int64  `json:"high_watermark_bytes"`
	LowWatermarkBytes  int64  `json:"low_watermark_bytes"`
}

// ready answers GET /ready: 200 when the instance should receive traffic,
// 503 when it should not: it is draining, no region can be asked (every
// breaker open), or the image data cache's disk fails.
func (s *Server) ready(w http.ResponseWriter, _ *http.Request) {
	r := s.inst.Readiness()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !r.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	json.NewEncoder(w).Encode(r)
}

// Readiness is what GET /ready answers now.
func (i *Instance) Readiness() Readiness {
	r := Readiness{Reasons: []string{}, Regions: []RegionReadiness{}, Draining: i.Draining()}
	if r.Draining {
		r.Reasons = append(r.Reasons, "draining: the instance is shutting down")
	}
	anyRegion := false
	for _, p := range i.Regions {
		rr := RegionReadiness{Name: p.Name, Kind: p.Kind, Available: p.available()}
		if p.Breaker != nil {
			rr.Breaker = p.Breaker.BreakerState()
		}
		anyRegion = anyRegion || rr.Available
		r.Regions = append(r.Regions, rr)
	}
	if !anyRegion {
		r.Reasons = append(r.Reasons, "regions: every region's circuit breaker is open")
	}
	if i.Keystone != nil {
		r.Keystone = &BreakerReadiness{Breaker: i.Keystone.BreakerState()}
	}
	if i.Redis != nil {
		r.Redis = &BreakerReadiness{Breaker: i.Redis.BreakerState()}
	}
	if i.Blobs != nil {
		s := i.Blobs.Stats()
		c := &ImageCacheReadiness{Disk: "ok", UsedBytes: s.UsedBytes, MaxBytes: s.MaxBytes,
			HighWatermarkBytes: s.HighBytes, LowWatermarkBytes: s.LowBytes}
		if err := i.Blobs.CheckDisk(); err != nil {
			c.Disk = err.Error()
			r.Reasons = append(r.Reasons, "image_cache: the disk fails: "+err.Error())
		}
		r.ImageCache = c
	}
	r.Ready = len(r.Reasons) == 0
	return r
}
