package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spyglass-gateway/spyglass/admin"
	"github.com/spyglass-gateway/spyglass/backends/glance"
	"github.com/spyglass-gateway/spyglass/backends/local"
	"github.com/spyglass-gateway/spyglass/backends/outbound"
	"github.com/spyglass-gateway/spyglass/backends/transfers"
	"github.com/spyglass-gateway/spyglass/cache/blob"
	"github.com/spyglass-gateway/spyglass/cache/meta"
	"github.com/spyglass-gateway/spyglass/cache/redis"
	"github.com/spyglass-gateway/spyglass/cache/site"
	"github.com/spyglass-gateway/spyglass/config"
	"github.com/spyglass-gateway/spyglass/federation"
	"github.com/spyglass-gateway/spyglass/gateway"
	"github.com/spyglass-gateway/spyglass/i18n"
	"github.com/spyglass-gateway/spyglass/logctx"
	"github.com/spyglass-gateway/spyglass/policy"
)

func serve(ctx context.Context, stop func(), args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("spyglass serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		path    = fs.String("config", "", "configuration `file` (YAML); none: the built-in defaults")
		listen  = fs.String("listen", "", "`address` to serve on, host:port (overrides listen, "+config.EnvListen+")")
		dataDir = fs.String("data-dir", "", "`directory` of the default local region (overrides its data_dir, "+config.EnvDataDir+")")
		auth    = fs.String("auth", "", "auth `mode`: noauth, trusted or keystone (overrides auth.mode, "+config.EnvAuth+")")
		adminAt = fs.String("admin-listen", "", "`address` of the admin listener (metrics, readiness, cache controls), host:port or off (overrides admin.listen, "+config.EnvAdmin+")")
		logLvl  = fs.String("log-level", "", "`level`: debug, info, warn or error (overrides log.level, "+config.EnvLogLevel+")")
		logFmt  = fs.String("log-format", "", "`format` of the log on stderr: text or json (overrides log.format, "+config.EnvLogFormat+")")
	)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: spyglass serve [flags]\n\nFlags override the configuration file and the environment.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "spyglass serve: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}

	// SIGHUP from now on reloads (once serving) rather than kills.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	overrides := config.Overrides{Listen: *listen, Auth: *auth, DataDir: *dataDir, Admin: *adminAt, LogLevel: *logLvl, LogFormat: *logFmt}
	cfg, err := readConfig(*path, overrides)
	var pol *policy.Policy
	if err == nil {
		pol, err = buildPolicy(cfg.Policy)
	}
	var cats *i18n.Catalogs
	if err == nil {
		cats, err = buildCatalogs(cfg.I18n)
	}
	if err != nil {
		fmt.Fprintf(stderr, "spyglass serve: invalid configuration:\n%v\n", logctx.Redact(err.Error()))
		return 2
	}
	level := new(slog.LevelVar)
	log := newLogger(stderr, cfg.Log, level, configSecrets(cfg)...)
	slog.SetDefault(log)
	if cats != nil {
		log.Info("message catalogs loaded", "locale_dir", cfg.I18n.LocaleDir, "languages", strings.Join(cats.Languages(), ","))
	}
	rl := &reloader{path: *path, overrides: overrides, level: level, log: log, hup: hup}
	if err := serveConfig(ctx, stop, cfg, pol, cats, log, rl); err != nil {
		log.Error("spyglass stopped", "err", err)
		return 1
	}
	return 0
}

// readConfig reads, overrides and validates the configuration: at start and
// again, identically, on SIGHUP. Its error lists every problem, one a line,
// as "spyglass config check" does.
func readConfig(path string, o config.Overrides) (config.Config, error) {
	return config.Load(path, o)
}

// buildPolicy compiles the authorization rules once, at start-up.
func buildPolicy(c config.Policy) (*policy.Policy, error) {
	opts := policy.Options{Defaults: policy.Current, File: c.File}
	if c.Defaults == config.PolicyLegacy {
		opts.Defaults = policy.Legacy
	}
	p, err := policy.New(opts)
	if err != nil {
		return nil, fmt.Errorf("policy.file: %w; fix the rule or remove it from the file", err)
	}
	return p, nil
}

// buildCatalogs reads the message catalogs of i18n.locale_dir, at start-up
// and on SIGHUP; none (nil) when it is empty.
func buildCatalogs(c config.I18n) (*i18n.Catalogs, error) {
	cats, err := i18n.Load(c.LocaleDir)
	if err != nil {
		return nil, fmt.Errorf("i18n.locale_dir: %w", err)
	}
	return cats, nil
}

// openCatalog opens the regions the gateway serves: one embedded store
// directly (it answers from memory), otherwise the federation catalog over
// every region, remote ones behind the metadata cache and the blob cache.
// It records the parts it opens in inst. Embedded stores, and the
// catalog for the Glance regions, fetch tenants' URLs (web-download,
// import tasks) with fetcher, within lim; adminToken is the site's admin
// token, which fills send to the other instances.
func openCatalog(cfg config.Config, fetcher *outbound.Fetcher, lim *transfers.Limiter, adminToken string, log *slog.Logger, inst *admin.Instance) (catalog, func(), error) {
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	var shared *redis.Tier
	if r := cfg.Redis; r.Enabled() {
		var err error
		shared, err = redis.New(redis.Config{
			Addr: r.Addr, Cluster: r.Cluster,
			SentinelMaster: r.Sentinel.MasterName, SentinelAddrs: r.Sentinel.Addrs, SentinelPassword: r.Sentinel.Password,
			Password: r.Password, DB: r.DB, Timeout: r.Timeout, Logger: log,
		})
		if err != nil {
			return catalog{}, nil, err
		}
		closers = append(closers, func() { shared.Close() })
		inst.Redis = shared
	}
	if len(cfg.Regions) == 1 && cfg.Regions[0].Kind != config.KindGlance {
		store, closeStore, err := openLocal(cfg, &cfg.Regions[0], fetcher, lim, shared, log)
		if err != nil {
			closeAll()
			return catalog{}, nil, err
		}
		closers = append(closers, closeStore)
		inst.Regions = []admin.Region{{Name: cfg.Regions[0].Name, Kind: cfg.Regions[0].Kind, Cached: cfg.Cache.MaxSize > 0}}
		cat := catalog{Catalog: gateway.CatalogOf(store)}
		if cfg.Cache.MaxSize > 0 {
			// The cache-management API over the embedded store, as a
			// Glance with image_cache_dir in front of its file store.
			blobs, closeBlobs, err := openBlobs(cfg, nil, adminToken, log, inst)
			if err != nil {
				closeAll()
				return catalog{}, nil, err
			}
			closers = append(closers, closeBlobs)
			cat.cache = federation.StoreImageCache(blobs, cfg.Regions[0].Name, store)
			cat.Images = cat.cache.Images(store)
		}
		return cat, closeAll, nil
	}
	fc := federation.Config{
		Default: cfg.DefaultRegion, ProjectRegions: cfg.ProjectRegions,
		FailListings: cfg.Federation.OnRegionFailure == "fail", CursorTTL: cfg.Federation.CursorTTL,
		ReadAheadTTL: cfg.Cache.MetadataTTL, Logger: log,
		// web-download and glance-download into Glance regions are the
		// gateway's: the same import filtering and the same transfer
		// bounds as the embedded regions' and v1 copy-from.
		WebDownload: fetcher, Transfers: lim,
	}
	if shared != nil {
		fc.Shared = shared
	}
	// The metadata definitions are the default region's (the composition
	// picks it: federation merges images, not metadefs): its embedded
	// store, or the Glance region itself, asked with the caller's identity.
	var metadefs gateway.Metadefs
	defaultName := cfg.DefaultRegion
	if defaultName == "" {
		defaultName = cfg.Regions[0].Name
	}
	for i := range cfg.Regions {
		region := &cfg.Regions[i]
		rc := federation.RegionConfig{
			Name:    region.Name,
			Order:   federation.Order{NullsLast: region.Nulls == "last", Collation: region.Collation},
			MaxPage: region.MaxPage,
		}
		switch region.Kind {
		case config.KindGlance:
			endpoint, err := regionEndpoint(context.Background(), cfg, region, log)
			if err != nil {
				closeAll()
				return catalog{}, nil, err
			}
			remote, err := glance.New(glance.Config{
				Name: region.Name, Endpoint: endpoint,
				ConnectTimeout: region.ConnectTimeout, ReadTimeout: region.ReadTimeout,
				Logger: log,
			})
			if err != nil {
				closeAll()
				return catalog{}, nil, fmt.Errorf("regions[%s]: %w", region.Name, err)
			}
			rc.Region = federation.RegionOf(remote)
			if region.Name == defaultName {
				metadefs = remote
			}
			inst.Regions = append(inst.Regions, admin.Region{Name: region.Name, Kind: region.Kind, Breaker: remote, Cached: cfg.Cache.MaxSize > 0})
			if cfg.Cache.MetadataTTL > 0 {
				mc := meta.Config{
					TTL: cfg.Cache.MetadataTTL, StaleIfError: cfg.Cache.StaleIfError, VerdictTTL: cfg.Cache.VerdictTTL,
					Name: region.Name,
				}
				if shared != nil {
					mc.Shared = shared // records and verdicts shared; invalidations published
				}
				mcache, err := meta.New(mc)
				if err != nil {
					closeAll()
					return catalog{}, nil, fmt.Errorf("cache: %w", err)
				}
				rc.Meta = mcache
				inst.Metas = append(inst.Metas, mcache)
				closers = append(closers, mcache.Close)
			}
		default:
			store, closeStore, err := openLocal(cfg, region, fetcher, lim, shared, log)
			if err != nil {
				closeAll()
				return catalog{}, nil, err
			}
			rc.Region = federation.RegionOf(store)
			if region.Name == defaultName {
				metadefs = store
			}
			closers = append(closers, closeStore)
			inst.Regions = append(inst.Regions, admin.Region{Name: region.Name, Kind: region.Kind, Cached: cfg.Cache.MaxSize > 0})
		}
		fc.Regions = append(fc.Regions, rc)
	}
	if cfg.Cache.MaxSize > 0 {
		// Remote regions' downloads read through it; every region's
		// images can be prefetched into it (the cache-management API).
		blobs, closeBlobs, err := openBlobs(cfg, shared, adminToken, log, inst)
		if err != nil {
			closeAll()
			return catalog{}, nil, err
		}
		fc.Blobs = blobs
		closers = append(closers, closeBlobs)
	}
	cat, err := federation.New(fc)
	if err != nil {
		closeAll()
		return catalog{}, nil, err
	}
	closers = append(closers, cat.Close)
	gc := gateway.CatalogOf(cat)
	gc.Metadefs = metadefs
	return catalog{Catalog: gc, cache: cat.ImageCache()}, closeAll, nil
}

// prefetchDelay is how long a queued image waits before the prefetcher
// fetches it (blob.Config.PrefetchDelay): Glance's worker starts at once,
// but its Python fill of even a small image takes long enough that whoever
// queued it sees it in queued_images (Tempest's caching test asserts so);
// Spyglass's fill of a small embedded image would be over first.
const prefetchDelay = time.Second

// openBlobs opens the image data cache (cache.dir); with a shared tier,
// the instances of a site fill each image once between them.
// Its close func closes the cache, then the site's filler (the cache
// ends its fills first).
func openBlobs(cfg config.Config, shared *redis.Tier, adminToken string, log *slog.Logger, inst *admin.Instance) (*blob.Cache, func(), error) {
	bc := blob.Config{
		Dir: cfg.CacheDir(), MaxSize: int64(cfg.Cache.MaxSize),
		High: cfg.Cache.HighWatermark, Low: cfg.Cache.LowWatermark, Logger: log,
		PrefetchDelay: prefetchDelay,
	}
	var filler *site.Filler
	if shared != nil {
		// One fill per site: leases in the shared Redis.
		var err error
		filler, err = site.New(site.Config{Leases: shared, PeerToken: adminToken, Logger: log})
		if err != nil {
			return nil, nil, fmt.Errorf("cache: %w", err)
		}
		bc.Site = filler
		inst.Site = filler
	}
	blobs, err := blob.Open(bc)
	if err != nil {
		if filler != nil {
			filler.Close()
		}
		return nil, nil, fmt.Errorf("cache: %w", err)
	}
	inst.Blobs = blobs
	return blobs, func() {
		blobs.Close()
		if filler != nil {
			filler.Close()
		}
	}, nil
}

// catalog is what openCatalog opened: what the gateway calls, and the
// image data cache when there is one.
type catalog struct {
	gateway.Catalog
	// cache is the image data cache of the remote regions; nil when no
	// region's data is cached (all embedded, or cache.max_size 0).
	cache *federation.ImageCache
}

// openLocal opens an embedded region. With a shared tier, the instances
// of a site may serve the same data directory as Glance API workers share
// one database and one file store: each announces its writes over Redis,
// as an acknowledged invalidation of the metadata cache (cache/meta,
// ack.go), and every other catches up with the database before it
// acknowledges, so the writer answers once they all read what it wrote.
// Without one, the store keeps its directory to itself.
func openLocal(cfg config.Config, region *config.Region, fetcher *outbound.Fetcher, lim *transfers.Limiter, shared *redis.Tier, log *slog.Logger) (*local.Store, func(), error) {
	// The default configuration points at ./data: make "spyglass
	// serve" work in an empty directory.
	if err := os.MkdirAll(region.DataDir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("regions[%s].data_dir: %w", region.Name, err)
	}
	opts := local.Options{
		SizeCap:   int64(cfg.ImageSizeCap),
		StoreName: region.Name,
		Fetcher:   fetcher,
		Transfers: lim,
	}
	var bus *meta.Cache
	if shared != nil {
		// Only its invalidations are used: it caches nothing of the
		// store, which answers from memory.
		var err error
		bus, err = meta.New(meta.Config{TTL: time.Second, MaxEntries: 1, Shared: shared, Name: "embedded:" + region.Name})
		if err != nil {
			return nil, nil, fmt.Errorf("regions[%s]: %w", region.Name, err)
		}
		opts.Shared = true
		opts.Announce = func(ctx context.Context) { bus.Invalidate(ctx, storeWrites) }
	}
	store, err := local.Open(region.DataDir, opts)
	if err != nil {
		if bus != nil {
			bus.Close()
		}
		return nil, nil, fmt.Errorf("regions[%s]: open %s: %w", region.Name, region.DataDir, err)
	}
	if bus != nil {
		bus.OnOthersInvalidate(func(string) { store.Refresh() })
		// Announcements sent before the callback was set.
		store.Refresh()
	}
	return store, func() {
		// The bus first: its Close returns once no announcement is being
		// applied (a Refresh of the store), so none reaches a closed store.
		if bus != nil {
			bus.Close()
		}
		if err := store.Close(); err != nil {
			log.Error("closing the store", "region", region.Name, "err", err)
		}
	}, nil
}

// storeWrites is the id an embedded store's announcements invalidate: a
// receiver catches up with every write, whichever image it was to.
const storeWrites = "store"

// serveConfig serves cfg until ctx ends, then drains. On SIGHUP, reload
// (when not nil) applies what can change without a restart.
func serveConfig(ctx context.Context, stop func(), cfg config.Config, pol *policy.Policy, cats *i18n.Catalogs, log *slog.Logger, reload *reloader) error {
	region := cfg.Region(cfg.DefaultRegion)
	if region == nil { // Validate rules this out
		return fmt.Errorf("default_region %q: no such region", cfg.DefaultRegion)
	}

	// Traces are flushed last, after the drain and after the catalog
	// closed (fills end their spans then).
	tp, flushTraces, err := startTracing(cfg.Telemetry, log)
	if err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), traceFlushTimeout)
		defer cancel()
		flushTraces(ctx)
	}()

	// The one way out for URLs tenants give: checked at request time by
	// the gateway, fetched by the embedded stores.
	fetcher, err := outbound.New(outbound.Options{Filter: outbound.Filter(cfg.ImportFiltering)})
	if err != nil {
		return fmt.Errorf("import_filtering: %w", err)
	}
	// Validate read it already; the instance streams from its peers with
	// it even when it serves no admin listener of its own.
	adminToken, err := cfg.Admin.ReadToken()
	if err != nil {
		return err
	}
	// The outbound transfers tenants start (copy-from, web-download,
	// import tasks) share one set of bounds, gateway-wide.
	lim, err := transfers.New(transfers.Options{MaxActive: cfg.Transfers.MaxActive, PerProject: cfg.Transfers.PerProject, MaxQueued: cfg.Transfers.MaxQueued})
	if err != nil {
		return fmt.Errorf("transfers: %w", err)
	}
	inst := &admin.Instance{DefaultRegion: cfg.DefaultRegion, Transfers: lim}
	cat, closeCat, err := openCatalog(cfg, fetcher, lim, adminToken, log, inst)
	if err != nil {
		return err
	}
	defer closeCat()
	inst.Images = cat.Images

	auth, err := policy.NewAuthenticator(cfg.Auth.Mode, keystoneConfig(cfg.Auth.Keystone, log))
	if err != nil {
		return fmt.Errorf("auth.mode: %w", err)
	}
	if c, ok := auth.(interface{ Close() }); ok {
		defer c.Close()
	}
	if k, ok := auth.(*policy.Keystone); ok {
		inst.Keystone = k
	}
	gcfg := gateway.Config{
		SizeCap:               int64(cfg.ImageSizeCap),
		Policy:                pol,
		Logger:                log,
		ImportFilter:          fetcher,
		Transfers:             lim,
		Catalogs:              cats,
		EnableV1:              cfg.API.EnableV1,
		ShowMultipleLocations: cfg.API.ShowMultipleLocations,
		ShowImageDirectURL:    cfg.API.ShowImageDirectURL,
	}
	if tp != nil {
		gcfg.Tracing = tp
	}
	if cfg.Auth.Mode == config.AuthKeystone {
		// glance-download finds its source in the caller's catalog, which
		// only a Keystone token carries.
		gcfg.ImportMethods = []string{"glance-direct", "web-download", "copy-image", "glance-download"}
	}
	if cat.cache != nil { // not a nil *ImageCache in a non-nil interface
		gcfg.ImageCache = cat.cache
		inst.Prefetch = cat.cache
	}
	var adm *admin.Server
	if cfg.Admin.Listen != config.AdminOff {
		acfg := admin.Config{
			Token: adminToken, MetricsWithoutToken: cfg.Admin.MetricsWithoutToken,
			Instance: inst, Version: version, Logger: log,
			Peers: cfg.Redis.Enabled(), Advertise: cfg.Admin.Advertise,
		}
		if cfg.Telemetry.Metrics {
			gcfg.Metrics = gateway.NewRequestMetrics()
			acfg.Requests = gcfg.Metrics
		}
		if adm, err = admin.New(acfg); err != nil {
			return fmt.Errorf("admin listener: %w", err)
		}
	} else if cfg.Redis.Enabled() && inst.Blobs != nil {
		log.Info("admin.listen is off: this instance serves no image fills to the other instances (it still streams fills from them)")
	}
	srv, err := gateway.New(gcfg, cat.Catalog, auth)
	if err != nil {
		adm.Shutdown(context.Background())
		return err
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		adm.Shutdown(context.Background())
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("listen: %w; another Spyglass or Glance is there: pick another address with --listen or %s", err, config.EnvListen)
		}
		return fmt.Errorf("listen: %w", err)
	}
	addr := ln.Addr().String()

	adminAddr := config.AdminOff
	adminServed := make(<-chan error) // never ready when there is no admin listener
	if adm != nil {
		if adminAddr, err = adm.Listen(cfg.Admin.Listen); err != nil {
			ln.Close()
			adm.Shutdown(context.Background())
			if errors.Is(err, syscall.EADDRINUSE) {
				return fmt.Errorf("admin.listen: %w; another Spyglass is there: give this one its own admin port with --admin-listen or %s (off: none)", err, config.EnvAdmin)
			}
			return fmt.Errorf("admin.listen: %w", err)
		}
		adminServed = adm.Serve()
	}

	var hup <-chan os.Signal // nil: never ready
	if reload != nil {
		reload.cur, reload.srv, reload.blobs = cfg, srv, inst.Blobs
		hup = reload.hup
	}

	log.Info("spyglass listening", "addr", addr, "admin", adminAddr, "auth", cfg.Auth.Mode, "policy", cfg.Policy.Defaults,
		"regions", regionNames(cfg.Regions), "default_region", region.Name, "data_dir", region.DataDir, "version", version,
		"try", howToTalk(addr, cfg.Auth.Mode))

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

wait:
	for {
		select {
		case err := <-served:
			// The listener failed on its own; nothing is left to drain.
			adm.Shutdown(context.Background())
			return fmt.Errorf("serve: %w", err)
		case err := <-adminServed:
			ln.Close()
			adm.Shutdown(context.Background())
			return fmt.Errorf("admin: %w", err)
		case <-hup:
			reload.reload()
		case <-ctx.Done():
			break wait
		}
	}
	stop() // a second signal now kills the process
	inst.Drain()
	// The transfers waiting for a slot fail now (their images killed or
	// their imports failed); the running ones are cut when the gateway
	// and the regions close.
	lim.Close()

	log.Info("shutting down: no new connections; waiting for requests in flight", "timeout", cfg.ShutdownTimeout)
	drainCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	start := time.Now()
	// The admin listener stays up while the API drains (metrics and
	// readiness are most wanted then), and goes with it.
	defer adm.Shutdown(drainCtx)
	if err := srv.Shutdown(drainCtx); err != nil {
		return fmt.Errorf("shutdown after %v: requests in flight were cut off: %w", cfg.ShutdownTimeout, err)
	}
	if err := <-served; err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped", "drained_in", time.Since(start).Round(time.Millisecond))
	return nil
}

// howToTalk is the one-line hint in the startup log.
func howToTalk(addr, mode string) string {
	host, port, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	if mode == config.AuthKeystone {
		return fmt.Sprintf("curl -H \"X-Auth-Token: $(openstack token issue -f value -c id)\" http://%s/v2/images", addr)
	}
	if mode == config.AuthTrusted {
		return fmt.Sprintf("curl -H 'X-Identity-Status: Confirmed' -H 'X-Project-Id: demo' -H 'X-Roles: admin,member' http://%s/v2/images", addr)
	}
	return fmt.Sprintf("curl http://%s/v2/images ; openstack --os-auth-type none --os-endpoint http://%s image list", addr, addr)
}

func regionNames(rs []config.Region) string {
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = r.Name
	}
	return strings.Join(names, ",")
}

// A shared embedded store tells the catalog of other instances' writes.
var _ federation.OthersWriter = (*local.Store)(nil)
