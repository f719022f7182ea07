// Command refgen writes the configuration reference from the config
// structs' field comments and Default(): docs/config.md (every key: type,
// default, environment variable and flag, meaning) and the configuration
// table of README.md, between its marker comments. It fails, naming them,
// when a key has no doc comment.
//
// Run it from the repository root or from config/ as
//
//	go generate ./config
//
// (config/doc.go's go:generate line runs it from config/, so paths are
// relative to that). TestReferenceIsCurrent fails when the committed files
// differ from what it writes.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spyglass-gateway/spyglass/config"
)

func main() {
	root := flag.String("root", "..", "the repository root (README.md, docs/)")
	flag.Parse()
	if err := generate(*root); err != nil {
		fmt.Fprintln(os.Stderr, "refgen:", err)
		os.Exit(1)
	}
}

func generate(root string) error {
	ref, err := config.ReferenceMarkdown()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(root, "docs"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, "docs", "config.md"), ref, 0o644); err != nil {
		return err
	}
	table, err := config.ReadmeTable()
	if err != nil {
		return err
	}
	readmePath := filepath.Join(root, "README.md")
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		return err
	}
	out, err := config.SpliceReadme(readme, table)
	if err != nil {
		return err
	}
	return os.WriteFile(readmePath, out, 0o644)
}
