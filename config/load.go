package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Environment variables read by Read and Load, applied over the file.
const (
	EnvListen    = "SPYGLASS_LISTEN"       // listen
	EnvAuth      = "SPYGLASS_AUTH"         // auth.mode
	EnvDataDir   = "SPYGLASS_DATA_DIR"     // data_dir of the default region
	EnvAdmin     = "SPYGLASS_ADMIN_LISTEN" // admin.listen
	EnvLogLevel  = "SPYGLASS_LOG_LEVEL"    // log.level
	EnvLogFormat = "SPYGLASS_LOG_FORMAT"   // log.format
)

// Load reads the file at path (empty path: no file, defaults only), applies
// the SPYGLASS_* environment variables and validates the result.
func Load(path string) (Config, error) {
	c, err := Read(path)
	if err != nil {
		return c, err
	}
	return c, c.Validate()
}

// Read is Load without the validation, for callers that apply more
// overrides (command-line flags) and then call Validate themselves.
func Read(path string) (Config, error) {
	c := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		if err := c.decode(b); err != nil {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
	}
	c.fillDefaults()
	err := c.Apply(Overrides{
		Listen:    os.Getenv(EnvListen),
		Auth:      os.Getenv(EnvAuth),
		DataDir:   os.Getenv(EnvDataDir),
		Admin:     os.Getenv(EnvAdmin),
		LogLevel:  os.Getenv(EnvLogLevel),
		LogFormat: os.Getenv(EnvLogFormat),
	})
	if err != nil {
		return c, fmt.Errorf("environment: %w", err)
	}
	return c, nil
}

// Parse decodes YAML over the defaults, without environment or validation.
func Parse(b []byte) (Config, error) {
	c := Default()
	if err := c.decode(b); err != nil {
		return c, err
	}
	c.fillDefaults()
	return c, nil
}

func (c *Config) decode(b []byte) error {
	// default_region follows the file's regions unless the file names it;
	// fillDefaults puts it back.
	c.DefaultRegion = ""
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		if errors.Is(err, io.EOF) { // empty file: defaults
			return nil
		}
		return unknownKey(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("more than one YAML document; the configuration is one document")
	}
	return nil
}

var notFoundRe = regexp.MustCompile(`line (\d+): field (\S+) not found in type config\.(\w+)`)

// unknownKey rewrites yaml.v3's "field x not found in type config.Region"
// into words a user of the file understands.
func unknownKey(err error) error {
	msg := notFoundRe.ReplaceAllString(err.Error(), "line $1: unknown key \"$2\" (in $3); check the spelling against docs/config.md or spyglass config reference")
	msg = strings.ReplaceAll(msg, "yaml: unmarshal errors:\n  ", "")
	return errors.New(msg)
}

// Overrides are values given on the command line or in the environment;
// empty fields leave the configuration alone.
type Overrides struct {
	Listen    string // listen
	Auth      string // auth.mode
	DataDir   string // data_dir of the default region, which must be local
	Admin     string // admin.listen
	LogLevel  string // log.level
	LogFormat string // log.format
}

// Apply sets the non-empty fields of o.
func (c *Config) Apply(o Overrides) error {
	if o.Listen != "" {
		c.Listen = o.Listen
	}
	if o.Auth != "" {
		c.Auth.Mode = o.Auth
	}
	if o.Admin != "" {
		c.Admin.Listen = o.Admin
	}
	if o.LogLevel != "" {
		c.Log.Level = o.LogLevel
	}
	if o.LogFormat != "" {
		c.Log.Format = o.LogFormat
	}
	if o.DataDir != "" {
		r := c.Region(c.DefaultRegion)
		if r == nil || r.Kind != KindLocal {
			return fmt.Errorf("data dir %q: the default region %q is not a local region; set data_dir on a local region in the file instead", o.DataDir, c.DefaultRegion)
		}
		r.DataDir = o.DataDir
	}
	return nil
}
