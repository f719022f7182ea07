package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
)

// Environment variables read by Read and Load, applied over the file.
const (
	EnvListen    = "SPYGLASS_LISTEN"          // listen
	EnvAuth      = "SPYGLASS_AUTH"            // auth.mode
	EnvDataDir   = "SPYGLASS_DATA_DIR"        // data_dir of the default region
	EnvAdmin     = "SPYGLASS_ADMIN_LISTEN"    // admin.listen
	EnvLogLevel  = "SPYGLASS_LOG_LEVEL"       // log.level
	EnvLogFormat = "SPYGLASS_LOG_FORMAT"      // log.format
	EnvLocaleDir = "SPYGLASS_I18N_LOCALE_DIR" // i18n.locale_dir
	// EnvAdminToken is the admin listener's token itself (admin.token_file
	// holds it otherwise).
	EnvAdminToken = "SPYGLASS_ADMIN_TOKEN"
)

// Load reads the file at path (empty path: no file, defaults only), applies
// the SPYGLASS_* environment variables, then flags (the command-line flags,
// if any), and validates the result. Its error is Problems: every problem
// of the file, the overrides and the result in one list, each naming where
// the value came from (file:line, the variable or the flag), the key, and
// what was expected.
func Load(path string, flags ...Overrides) (Config, error) {
	c, ps, understood := read(path)
	if !understood {
		return c, ps.err()
	}
	for _, o := range flags {
		ps = append(ps, c.apply(o, false)...)
	}
	return c, c.validateAfter(ps).err()
}

// validateAfter adds to ps, the problems of reading, those of Validate
// that are not about a key ps already names.
func (c *Config) validateAfter(ps Problems) Problems {
	var invalid Problems
	if errors.As(c.Validate(), &invalid) {
		ps = append(ps, ps.besides(invalid)...)
	}
	return ps.sorted()
}

// Read is Load without the validation, for callers that want a value of
// the configuration whatever its other keys say. Its error is Problems.
func Read(path string) (Config, error) {
	c, ps, _ := read(path)
	return c, ps.err()
}

// read reads the file at path and the environment over Default(); it says
// whether the result is what the file says (false when it could not be
// read or is not a mapping of keys, and validating it makes no sense).
func read(path string) (Config, Problems, bool) {
	c := Default()
	var ps Problems
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return c, Problems{{File: path, Message: "cannot read the file: " + err.Error()}}, false
		}
		var understood bool
		if ps, understood = c.decode(b, path); !understood {
			return c, ps, false
		}
	}
	c.fillDefaults()
	ps = append(ps, c.apply(Overrides{
		Listen:    os.Getenv(EnvListen),
		Auth:      os.Getenv(EnvAuth),
		DataDir:   os.Getenv(EnvDataDir),
		Admin:     os.Getenv(EnvAdmin),
		LogLevel:  os.Getenv(EnvLogLevel),
		LogFormat: os.Getenv(EnvLogFormat),
		LocaleDir: os.Getenv(EnvLocaleDir),
	}, true)...)
	c.Admin.Token = os.Getenv(EnvAdminToken)
	return c, ps, true
}

// Parse decodes YAML over the defaults, without environment or validation.
// Its error is Problems, placed by line.
func Parse(b []byte) (Config, error) {
	c := Default()
	ps, _ := c.decode(b, "")
	c.fillDefaults()
	return c, ps.err()
}

// Overrides are values given on the command line (to Load and Apply) or
// in the environment (read by Read and Load themselves); empty fields leave
// the configuration alone.
type Overrides struct {
	Listen    string // listen
	Auth      string // auth.mode
	DataDir   string // data_dir of the default region, which must be local
	Admin     string // admin.listen
	LogLevel  string // log.level
	LogFormat string // log.format
	LocaleDir string // i18n.locale_dir
}

// Apply sets the non-empty fields of o, which are command-line flags: a
// problem with a value, then and in Validate, names the flag (--listen).
// Its error is Problems.
func (c *Config) Apply(o Overrides) error {
	return c.apply(o, false).err()
}

// apply sets the non-empty fields of o, from the environment (SPYGLASS_*)
// or from flags, and records which for the messages.
func (c *Config) apply(o Overrides, fromEnv bool) Problems {
	name := func(env, flag string) string {
		if fromEnv {
			return env
		}
		return flag
	}
	set := func(dst *string, value, key, env, flag string) {
		if value != "" {
			*dst = value
			c.src.overridden(key, name(env, flag))
		}
	}
	set(&c.Listen, o.Listen, "listen", EnvListen, "--listen")
	set(&c.Auth.Mode, o.Auth, "auth.mode", EnvAuth, "--auth")
	set(&c.Admin.Listen, o.Admin, "admin.listen", EnvAdmin, "--admin-listen")
	set(&c.Log.Level, o.LogLevel, "log.level", EnvLogLevel, "--log-level")
	set(&c.Log.Format, o.LogFormat, "log.format", EnvLogFormat, "--log-format")
	set(&c.I18n.LocaleDir, o.LocaleDir, "i18n.locale_dir", EnvLocaleDir, "--locale-dir")
	if o.DataDir != "" {
		i := slices.IndexFunc(c.Regions, func(r Region) bool { return r.Name == c.DefaultRegion })
		if i < 0 || c.Regions[i].Kind != KindLocal {
			return Problems{{Override: name(EnvDataDir, "--data-dir"), Key: "regions[].data_dir", Message: fmt.Sprintf(
				"%q: the default region %q is not a local region; set data_dir on a local region in the file instead", o.DataDir, c.DefaultRegion)}}
		}
		set(&c.Regions[i].DataDir, o.DataDir, fmt.Sprintf("regions[%d].data_dir", i), EnvDataDir, "--data-dir")
	}
	return nil
}

// minTokenLen is the shortest admin token accepted: the admin listener
// does not slow down guesses.
const minTokenLen = 16

// ReadToken is the admin listener's token: SPYGLASS_ADMIN_TOKEN's, else the
// first line of admin.token_file, else "" (none). Its errors name the key
// and the fix.
func (a Admin) ReadToken() (string, error) {
	token, from := a.Token, EnvAdminToken
	if token == "" {
		if a.TokenFile == "" {
			return "", nil
		}
		b, err := os.ReadFile(a.TokenFile)
		if err != nil {
			return "", fmt.Errorf("admin.token_file: %w; give the path of a file holding the token, e.g. made with: openssl rand -hex 32 > %s", err, a.TokenFile)
		}
		first, _, _ := strings.Cut(string(b), "\n")
		token, from = strings.TrimSpace(first), "admin.token_file"
	}
	if len(token) < minTokenLen || strings.ContainsAny(token, " \t\r\n") {
		return "", fmt.Errorf("%s: the admin token must be at least %d characters without spaces; make one with: openssl rand -hex 32", from, minTokenLen)
	}
	return token, nil
}
