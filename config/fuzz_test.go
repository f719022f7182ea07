package config

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzLoad feeds arbitrary bytes to the loader as a configuration file:
// it must not panic, and every problem of a file that is one YAML mapping
// must name its key, a line within the file, and say what was expected in
// its own words, never yaml.v3's.
func FuzzLoad(f *testing.F) {
	for _, seed := range []string{
		"", "~\n", "- a\n", "listen: [\n", "a: &x [*x]\n",
		"listen: 127.0.0.1:1\nlisten: 127.0.0.1:2\n",
		"cache: {max_size: 50 gigs, metadata_ttl: 30, high_watermark: x}\n",
		"regions:\n  - &g {name: a, kind: glance, endpoint: 'http://h:1'}\n  - {<<: *g, name: b}\ndefault_region: a\n",
		"regions: [{name: a, kind: [local], data_dir: d, max_page: x}, 5]\n",
		"project_regions: {p1: [a], p2: b}\nredis: {cluster: [a:1, [b]], sentinel: {addrs: x}}\n",
		"auth: {mode: keystone, keystone: {timeout: 5, interface: {a: b}}}\ntelemetry: {metrics: maybe}\n",
		"cache: &c {<<: *c, dir: x}\n? [a]\n: b\n<<: 5\n",
		"log: {level: loud, colour: true}\ncahce: 1\nmax_size: 1\n---\nx: 1\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c := Default()
		ps, understood := c.decode(b, "fuzz.yaml")
		if understood {
			c.fillDefaults()
			ps = c.validateAfter(ps)
		}
		whole := isOneMapping(b)
		if whole && !understood {
			t.Fatalf("one YAML mapping not understood: %v", ps)
		}
		lines := yamlLines(b)
		for _, p := range ps {
			if p.Message == "" {
				t.Errorf("problem without a message: %#v", p)
			}
			if whole && p.Key == "" {
				t.Errorf("problem of a YAML mapping without a key path: %v", p)
			}
			if p.Line < 0 || p.Line > lines {
				t.Errorf("problem at line %d of a %d-line file: %v", p.Line, lines, p)
			}
			if strings.Contains(p.Message, "cannot unmarshal") && !bytes.Contains(b, []byte("cannot unmarshal")) {
				t.Errorf("yaml.v3's words in a problem: %v", p)
			}
		}
	})
}

// isOneMapping reports whether b is one YAML document whose root is a
// mapping (or empty), decided apart from the decoder under test.
func isOneMapping(b []byte) bool {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		return errors.Is(err, io.EOF)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return false
	}
	root := doc.Content[0]
	return root.Kind == yaml.MappingNode || root.ShortTag() == "!!null"
}

// yamlLines counts the lines of b as yaml.v3 does: \r\n, \r, \n and the
// Unicode breaks NEL, LS and PS each end one.
func yamlLines(b []byte) int {
	s := strings.ReplaceAll(string(b), "\r\n", "\n")
	n := 1
	for _, r := range s {
		switch r {
		case '\n', '\r', '\u0085', '\u2028', '\u2029':
			n++
		}
	}
	return n
}
