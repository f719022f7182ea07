// Command spyglass is the Spyglass gateway: the OpenStack Images API (Glance
// v2) served from its caches over the regions it is configured with — the
// embedded store, remote Glance deployments, or both — and, with no
// configuration at all, a complete Images API on the embedded store.
//
// It is the only package that reads configuration: serve loads and validates
// it once (config), builds the layers bottom up (backends, caches,
// federation, policy, gateway, admin) from plain structs, and reloads on
// SIGHUP what can change without a restart. The other commands are the
// operator's tools around a running instance.
//
//	spyglass serve [--config FILE] [--listen ADDR] [--admin-listen ADDR] [--data-dir DIR] [--auth noauth|trusted|keystone] [--log-level L] [--log-format F]
//	spyglass config check FILE
//	spyglass config reference
//	spyglass cache ls [--json] | prefetch IMAGE_ID | evict IMAGE_ID [--admin ADDR] [--config FILE] [--region NAME] [--token TOKEN]
//	spyglass version
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/spyglass-gateway/spyglass/config"
	"github.com/spyglass-gateway/spyglass/logctx"
)

// version is set at build time: -ldflags "-X main.version=$(git describe)".
var version = "dev"

const usage = `usage: spyglass <command> [flags]

commands:
  serve     serve the Images API (run "spyglass serve -h" for its flags);
            SIGHUP reloads the policy, the cache bounds and the log level
  config check FILE
            validate a configuration file as serve would read it
            (SPYGLASS_* environment included): every bad key named with its fix
  config reference
            print every configuration key with its type, default and meaning
            (Markdown; the same as docs/config.md)
  cache ls [--json] | cache prefetch IMAGE_ID | cache evict IMAGE_ID
            list, fill or drop a running instance's image data cache through
            its admin listener (--admin ADDR, --config FILE, --region NAME, --token TOKEN)
  metadefs load DIR
            load Glance's metadata definition files (*.json) into the
            default embedded region (--config FILE, --data-dir DIR, --overwrite)
  version   print the version and the Go version it was built with
  help      print this help
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, stop, os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command and returns the process exit status: 0 success,
// 1 failure at run time, 2 a usage error. ctx ends on SIGTERM/SIGINT; stop
// restores the default signal behaviour, so a second signal during the
// drain kills the process.
func run(ctx context.Context, stop func(), args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(ctx, stop, args[1:], stdout, stderr)
	case "config":
		return configCommand(args[1:], stdout, stderr)
	case "cache":
		return cacheCommand(args[1:], stdout, stderr)
	case "metadefs":
		return metadefsCommand(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-version":
		if len(args) > 1 {
			fmt.Fprintf(stderr, "spyglass version: takes no arguments\n")
			return 2
		}
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "spyglass: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

func versionString() string {
	v := version
	if v == "dev" {
		// A plain "go build" has no ldflags; the VCS stamp still says
		// which commit this is.
		if bi, ok := debug.ReadBuildInfo(); ok {
			var rev, dirty string
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					rev = s.Value
				case "vcs.modified":
					if s.Value == "true" {
						dirty = "-dirty"
					}
				}
			}
			if len(rev) > 12 {
				rev = rev[:12]
			}
			if rev != "" {
				v += " (" + rev + dirty + ")"
			}
		}
	}
	return fmt.Sprintf("spyglass %s %s %s/%s", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// configUsage is printed on a usage error of "spyglass config".
const configUsage = "usage: spyglass config check FILE\n       spyglass config reference\n"

// configCommand runs "spyglass config check FILE": 0 when the file is a
// valid configuration, 1 (each problem on a line of its own, naming the key
// and the fix) when it is not, 2 on a usage error; and "spyglass config
// reference", which prints the configuration reference (docs/config.md) as
// Markdown.
func configCommand(args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 1 && args[0] == "reference":
		ref, err := config.ReferenceMarkdown()
		if err != nil {
			fmt.Fprintf(stderr, "spyglass config reference: %v\n", err)
			return 1
		}
		stdout.Write(ref)
		return 0
	case len(args) != 2 || args[0] != "check":
		fmt.Fprint(stderr, configUsage)
		return 2
	}
	path := args[1]
	if _, err := config.Load(path); err != nil {
		fmt.Fprintf(stderr, "%s: invalid configuration:\n%v\n", path, logctx.Redact(err.Error()))
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", path)
	return 0
}
