package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/backends/local"
)

// TestMetadefsLoadCommand runs "spyglass metadefs load" in turn on one
// directory: the definitions load, a second load skips them, --overwrite
// replaces them, a file that does not parse is reported and the others
// still load. (TestMetadefsLoad in gateway/conformance compares what a
// load serves with Glance's own loader.)
func TestMetadefsLoadCommand(t *testing.T) {
	defs := t.TempDir()
	data := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(defs, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.json", `{"namespace": "NS::A", "display_name": "A", "visibility": "public", "protected": true,
		"resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "a_"}],
		"properties": {"p": {"title": "P", "type": "string", "enum": ["x", "y"]}},
		"objects": [{"name": "o", "required": ["p"], "properties": {"p": {"title": "P", "type": "integer"}}}]}`)
	write("notes.txt", `not a definition`)
	for _, tc := range []struct {
		name     string
		args     []string
		before   func()
		code     int
		stdout   string
		stderr   string
		wantTags int
	}{
		{name: "usage", args: []string{"metadefs"}, code: 2, stderr: "usage: spyglass metadefs load"},
		{name: "unknown subcommand", args: []string{"metadefs", "unload", defs}, code: 2, stderr: "usage: spyglass metadefs load"},
		{name: "no dir", args: []string{"metadefs", "load", "--data-dir", data}, code: 2, stderr: "want one DIR or FILE"},
		{name: "missing dir", args: []string{"metadefs", "load", filepath.Join(defs, "nope"), "--data-dir", data}, code: 1, stderr: "no such file"},
		{name: "load", args: []string{"metadefs", "load", defs, "--data-dir", data}, stdout: "loaded NS::A (a.json)"},
		{name: "again: skipped", args: []string{"metadefs", "load", defs, "--data-dir", data}, stdout: "skipped NS::A (a.json)"},
		{name: "overwrite", args: []string{"metadefs", "load", "--data-dir", data, "--overwrite", defs},
			before: func() {
				write("a.json", `{"namespace": "NS::A", "visibility": "public", "tags": [{"name": "t1"}, {"name": "t2"}]}`)
			},
			stdout: "loaded NS::A (a.json)", wantTags: 2},
		{name: "a bad file, the others load", args: []string{"metadefs", "load", defs, "--data-dir", data},
			before: func() {
				write("b.json", `{"namespace": `)
				write("c.json", `{"namespace": "NS::C"}`)
			},
			code: 1, stdout: "loaded NS::C (c.json)", stderr: "b.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before()
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), func() {}, tc.args, &stdout, &stderr)
			if code != tc.code || !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, tc.code, stdout.String(), stderr.String())
			}
			if tc.wantTags > 0 {
				s, err := local.Open(data, local.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				tags, err := s.MetadefTags(context.Background(), "NS::A", &backends.TagQuery{})
				if err != nil || len(tags) != tc.wantTags {
					t.Fatalf("tags %v, %v; want %d", tags, err, tc.wantTags)
				}
				if props, _ := s.MetadefProperties(context.Background(), "NS::A"); len(props) != 0 {
					t.Fatalf("the overwritten namespace kept its properties: %v", props)
				}
			}
		})
	}
}

// TestMetadefsOfTheDefaultRegion: with several embedded regions the
// metadata definitions are the default region's store, where "metadefs
// load --config" puts them.
func TestMetadefsOfTheDefaultRegion(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "spyglass.yaml")
	yaml := "listen: 127.0.0.1:0\nauth: {mode: noauth}\ndefault_region: b\nregions:\n" +
		"  - {name: a, kind: local, data_dir: \"" + filepath.Join(dir, "a") + "\"}\n" +
		"  - {name: b, kind: local, data_dir: \"" + filepath.Join(dir, "b") + "\"}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	defs := t.TempDir()
	if err := os.WriteFile(filepath.Join(defs, "x.json"), []byte(`{"namespace": "NS::X", "visibility": "public"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), func() {}, []string{"metadefs", "load", defs, "--config", cfg}, &stdout, &stderr); code != 0 {
		t.Fatalf("load: exit %d: %s", code, stderr.String())
	}
	p := startWithConfig(t, bin, cfg)
	status, body := do(t, "GET", "http://"+p.addr+"/v2/metadefs/namespaces/NS::X", "")
	if status != 200 || body["owner"] != "admin" {
		t.Fatalf("GET the loaded namespace: %d %v\n%s", status, body, p.log())
	}
	status, body = do(t, "POST", "http://"+p.addr+"/v2/metadefs/namespaces", `{"namespace": "NS::Y"}`)
	if status != 201 {
		t.Fatalf("create: %d %v", status, body)
	}
	// Metadefs only: the server has the directory (a store alone refuses it).
	s, err := local.Open(filepath.Join(dir, "b"), local.Options{MetadefsOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Namespace(context.Background(), "NS::Y"); err != nil {
		t.Fatalf("the namespace created is not in the default region's store: %v", err)
	}
}
