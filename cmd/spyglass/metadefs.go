package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/backends/local"
	"github.com/spyglass-gateway/spyglass/config"
	"github.com/spyglass-gateway/spyglass/gateway"
)

const metadefsUsage = `usage: spyglass metadefs load DIR|FILE [--config FILE] [--data-dir DIR] [--overwrite]

Loads Glance's metadata definition files (the *.json of DIR, as
glance-manage db_load_metadefs; Debian's glance-common ships them in
/usr/share/glance-common/metadefs) into the embedded store of the default
region. A namespace that exists is skipped unless --overwrite. A running
instance sees the definitions at once.
`

// metadefsCommand runs "spyglass metadefs load": 0 done, 1 a file or the
// store failed, 2 a usage error.
func metadefsCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "load" {
		fmt.Fprint(stderr, metadefsUsage)
		return 2
	}
	fs := flag.NewFlagSet("spyglass metadefs load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfgPath   = fs.String("config", "", "configuration `file` whose default region's data_dir holds the store")
		dataDir   = fs.String("data-dir", "", "the embedded store's `directory` (wins over --config)")
		overwrite = fs.Bool("overwrite", false, "replace namespaces that exist (and their contents)")
	)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), metadefsUsage+"\nflags:\n")
		fs.PrintDefaults()
	}
	// DIR may come before or after the flags.
	rest := args[1:]
	var src string
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		src, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return 2
	}
	if src == "" && fs.NArg() == 1 {
		src = fs.Arg(0)
	} else if fs.NArg() > 0 || src == "" {
		fmt.Fprintf(stderr, "spyglass metadefs load: want one DIR or FILE\n\n")
		fs.Usage()
		return 2
	}
	dir := *dataDir
	if dir == "" {
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			fmt.Fprintf(stderr, "spyglass metadefs load: %v\n", err)
			return 1
		}
		region := cfg.Region(cfg.DefaultRegion)
		if region == nil || region.Kind == config.KindGlance {
			fmt.Fprintf(stderr, "spyglass metadefs load: the default region %q is no embedded region: its metadefs are its own\n", cfg.DefaultRegion)
			return 1
		}
		dir = region.DataDir
	}
	files, err := definitionFiles(src)
	if err != nil {
		fmt.Fprintf(stderr, "spyglass metadefs load: %v\n", err)
		return 1
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		fmt.Fprintf(stderr, "spyglass metadefs load: %v\n", err)
		return 1
	}
	// Metadefs only: a server may have the directory open (its images
	// and tasks are its own to recover).
	store, err := local.Open(dir, local.Options{MetadefsOnly: true})
	if err != nil {
		fmt.Fprintf(stderr, "spyglass metadefs load: open %s: %v\n", dir, err)
		return 1
	}
	defer store.Close()
	status := 0
	for _, f := range files {
		// As Glance's loader: a file that does not parse is reported and
		// skipped, the others load.
		doc, err := os.ReadFile(f)
		var c *backends.MetadefNamespaceContent
		if err == nil {
			c, err = gateway.NamespaceDefinition(doc)
		}
		if err != nil {
			fmt.Fprintf(stderr, "spyglass metadefs load: %s: %v\n", f, err)
			status = 1
			continue
		}
		loaded, err := store.LoadNamespace(ctx, c, *overwrite)
		switch {
		case err != nil:
			fmt.Fprintf(stderr, "spyglass metadefs load: %s: %v\n", f, err)
			status = 1
		case loaded:
			fmt.Fprintf(stdout, "loaded %s (%s)\n", c.Namespace, filepath.Base(f))
		default:
			fmt.Fprintf(stdout, "skipped %s (%s): it exists (--overwrite replaces it)\n", c.Namespace, filepath.Base(f))
		}
	}
	return status
}

// definitionFiles are the *.json files of src (a directory), or src.
func definitionFiles(src string) ([]string, error) {
	st, err := os.Stat(src)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{src}, nil
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".json") {
			files = append(files, filepath.Join(src, e.Name()))
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no .json file in %s", src)
	}
	sort.Strings(files)
	return files, nil
}
