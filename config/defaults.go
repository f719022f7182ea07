package config

import "time"

// Default returns the configuration used when no file is given: a gateway
// on 127.0.0.1:9292 with no authentication over one embedded region in
// ./data.
func Default() Config {
	return Config{
		Listen: "127.0.0.1:9292",
		API:    API{EnableV1: true},
		Auth: Auth{Mode: AuthNoAuth, Keystone: Keystone{
			UserDomainName: "Default", ProjectDomainName: "Default",
			TokenCacheTTL: 5 * time.Minute, InvalidTokenTTL: 5 * time.Second, Timeout: 5 * time.Second,
			Interface: InterfacePublic,
		}},
		Policy:        Policy{Defaults: PolicyCurrent},
		Regions:       []Region{{Name: "local", Kind: KindLocal, DataDir: "./data"}},
		DefaultRegion: "local",
		Federation:    Federation{OnRegionFailure: "answer", CursorTTL: 10 * time.Minute},
		Cache: Cache{Dir: "./data/cache", MaxSize: 50 << 30, MetadataTTL: 30 * time.Second,
			StaleIfError: 5 * time.Minute, VerdictTTL: 5 * time.Second, HighWatermark: 0.9, LowWatermark: 0.8},
		Redis:           Redis{Timeout: 100 * time.Millisecond},
		Telemetry:       Telemetry{Metrics: true},
		Admin:           Admin{Listen: "127.0.0.1:9293"},
		ImportFiltering: ImportFiltering{AllowedSchemes: []string{"http", "https"}, AllowedPorts: []int{80, 443}},
		Transfers:       Transfers{MaxActive: 10, PerProject: 5, MaxQueued: 100},
		Log:             Log{Format: LogText, Level: LogInfo},
		ShutdownTimeout: 30 * time.Second,
	}
}

// fillDefaults supplies what the file may leave out.
func (c *Config) fillDefaults() {
	if len(c.Regions) == 0 {
		c.Regions = Default().Regions
	}
	if c.DefaultRegion == "" && len(c.Regions) == 1 {
		c.DefaultRegion = c.Regions[0].Name
	}
	for i := range c.Regions {
		if r := &c.Regions[i]; r.Kind == KindGlance {
			if r.ConnectTimeout == 0 {
				r.ConnectTimeout = 5 * time.Second
			}
			if r.ReadTimeout == 0 {
				r.ReadTimeout = 30 * time.Second
			}
		}
	}
}
