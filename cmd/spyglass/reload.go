package main

import (
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strings"

	"github.com/spyglass-gateway/spyglass/cache/blob"
	"github.com/spyglass-gateway/spyglass/config"
	"github.com/spyglass-gateway/spyglass/gateway"
)

// reloader applies, on SIGHUP, what can change in a running process: the
// policy rules (policy.defaults, policy.file, re-read and compiled), the
// message catalogs (i18n.locale_dir, re-read), the image data cache's
// bounds (cache.max_size and the watermarks) and log.level. The
// configuration is read, overridden and validated exactly as at start; an
// invalid file, policy or catalog changes nothing. Any other key that
// changed is named in the log as needing a restart, and ignored.
type reloader struct {
	path      string
	overrides config.Overrides
	level     *slog.LevelVar
	log       *slog.Logger
	hup       <-chan os.Signal // SIGHUP, registered before start-up so that an early one is not fatal

	// Set by serveConfig once they exist.
	cur   config.Config // what runs: the start-up configuration plus the reloads applied
	srv   *gateway.Server
	blobs *blob.Cache // nil: no image data cache
}

func (r *reloader) reload() {
	r.log.Info("SIGHUP: reloading the configuration", "file", r.path)
	next, err := readConfig(r.path, r.overrides)
	if err != nil {
		for _, problem := range strings.Split(err.Error(), "\n") {
			r.log.Error("reload: invalid configuration; nothing changed", "problem", problem)
		}
		return
	}
	pol, err := buildPolicy(next.Policy)
	if err != nil {
		r.log.Error("reload: invalid policy; nothing changed, the rules in force stay", "err", err)
		return
	}
	cats, err := buildCatalogs(next.I18n)
	if err != nil {
		r.log.Error("reload: unreadable message catalogs; nothing changed, the catalogs in force stay", "err", err)
		return
	}

	applied := r.cur
	applied.Policy = next.Policy
	applied.Log.Level = next.Log.Level
	applied.I18n = next.I18n
	cacheReloadable := r.blobs != nil && next.Cache.MaxSize > 0
	if cacheReloadable {
		applied.Cache.MaxSize, applied.Cache.HighWatermark, applied.Cache.LowWatermark =
			next.Cache.MaxSize, next.Cache.HighWatermark, next.Cache.LowWatermark
	}
	for _, key := range changedKeys(reflect.ValueOf(applied), reflect.ValueOf(next), "") {
		r.log.Warn("reload: this key changed but needs a restart; ignored", "key", key)
	}

	r.srv.SetPolicy(pol)
	r.srv.SetCatalogs(cats)
	if cacheReloadable {
		if err := r.blobs.SetBounds(int64(next.Cache.MaxSize), next.Cache.HighWatermark, next.Cache.LowWatermark); err != nil {
			// Validate accepted them: this is a bug, not a bad file.
			r.log.Error("reload: cache bounds", "err", err)
			applied.Cache = r.cur.Cache
		}
	}
	r.level.Set(slogLevel(next.Log.Level))
	r.cur = applied
	r.log.Info("configuration reloaded", "policy", next.Policy.Defaults, "policy_file", next.Policy.File,
		"cache_max_size", cacheBound(r.blobs, applied.Cache), "log_level", next.Log.Level,
		"locale_dir", next.I18n.LocaleDir, "languages", strings.Join(cats.Languages(), ","))
}

func cacheBound(blobs *blob.Cache, c config.Cache) string {
	if blobs == nil {
		return "none"
	}
	return fmt.Sprintf("%v (%v-%v)", c.MaxSize, c.LowWatermark, c.HighWatermark)
}

// changedKeys names, as dotted YAML keys, the leaves where a and b differ;
// a changed list (regions) is named whole.
func changedKeys(a, b reflect.Value, prefix string) []string {
	var keys []string
	t := a.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if name == "" || name == "-" {
			continue
		}
		fa, fb := a.Field(i), b.Field(i)
		if f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == t.PkgPath() {
			keys = append(keys, changedKeys(fa, fb, prefix+name+".")...)
			continue
		}
		if !reflect.DeepEqual(fa.Interface(), fb.Interface()) {
			keys = append(keys, prefix+name)
		}
	}
	return keys
}
