package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Problem is one thing wrong with a configuration: where the value came
// from, its key, and what was expected or how to fix it. Its Error reads
//
//	spyglass.yaml:12: cache.metadata_ttl: expected a duration like 30s, got 30; add a unit: 30s, 5m, 100ms
//	--auth: auth.mode: unknown mode "kerberos"; one of noauth, trusted, keystone
type Problem struct {
	// File is the configuration file the key is in (or, for a key the
	// file leaves out, the file that should have it); "" for a value from
	// an override or the defaults, and for Parse.
	File string
	// Line is the 1-based line of the key in the file (for a key the file
	// leaves out, of the nearest enclosing key it has); 0: none.
	Line int
	// Override is the environment variable or flag that set the value
	// (SPYGLASS_AUTH, --auth); "" for a value from the file or the
	// defaults.
	Override string
	// Key is the key's path as written in the file: cache.metadata_ttl,
	// regions[1].endpoint, project_regions.p1. "" for a problem of the
	// file as a whole: not YAML, not a mapping, two documents.
	Key string
	// Message says what is wrong and what was expected.
	Message string
}

func (p Problem) Error() string {
	var where string
	switch {
	case p.Override != "":
		where = p.Override
	case p.File != "" && p.Line > 0:
		where = fmt.Sprintf("%s:%d", p.File, p.Line)
	case p.File != "":
		where = p.File
	case p.Line > 0:
		where = fmt.Sprintf("line %d", p.Line)
	}
	parts := make([]string, 0, 3)
	for _, s := range []string{where, p.Key, p.Message} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ": ")
}

// Problems is every problem of a configuration, those of the file in the
// order of its lines, then those of the overrides and the defaults. Its
// Error is one problem a line.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// err is ps as an error: nil when there is no problem.
func (ps Problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// sorted orders the problems as a reader of the file wants them: those at
// a line of the file in line order, then the file's others (keys it leaves
// out), then the overrides', then the defaults'; each group otherwise
// keeps its order.
func (ps Problems) sorted() Problems {
	rank := func(p Problem) int {
		switch {
		case p.Override != "":
			return 2
		case p.Line > 0:
			return 0
		case p.File != "":
			return 1
		}
		return 3
	}
	slices.SortStableFunc(ps, func(a, b Problem) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return a.Line - b.Line
	})
	return ps
}

// besides returns the problems of more that are not about a key already
// reported in ps or inside one: once a value could not be decoded, what
// Validate says of the default left in its place is noise. A value an
// override set is not that default, and keeps its problem.
func (ps Problems) besides(more Problems) Problems {
	var out Problems
next:
	for _, m := range more {
		for _, p := range ps {
			if p.Key != "" && m.Override == "" && within(m.Key, p.Key) {
				continue next
			}
		}
		out = append(out, m)
	}
	return out
}

// within reports whether key is outer or a key inside it.
func within(key, outer string) bool {
	rest, ok := strings.CutPrefix(key, outer)
	return ok && (rest == "" || rest[0] == '.' || rest[0] == '[')
}

// sources says where each key's value came from, for Validate's
// messages. The zero value: every value is a default.
type sources struct {
	file      string            // "" when no file was read
	lines     map[string]int    // key path → line of the key in file
	overrides map[string]string // key path → the SPYGLASS_X or --x that set it
}

// problem places msg about key where its value came from: the override
// that set it, else its line in the file or, when the file leaves it out,
// the line of the nearest enclosing key the file has.
func (s sources) problem(key, msg string) Problem {
	if name, ok := s.overrides[key]; ok {
		return Problem{Override: name, Key: key, Message: msg}
	}
	for k := key; k != ""; k = parentKey(k) {
		if line, ok := s.lines[k]; ok {
			return Problem{File: s.file, Line: line, Key: key, Message: msg}
		}
	}
	return Problem{File: s.file, Key: key, Message: msg}
}

// overridden records that name (an environment variable or a flag) set
// key. The map is copied, not changed: copies of a Config share it.
func (s *sources) overridden(key, name string) {
	m := maps.Clone(s.overrides)
	if m == nil {
		m = map[string]string{}
	}
	m[key] = name
	s.overrides = m
}

// parentKey is the key that holds key: regions[1] for regions[1].endpoint,
// regions for regions[1], "" for a top-level key.
func parentKey(key string) string {
	i := strings.LastIndexAny(key, ".[")
	if i < 0 {
		return ""
	}
	return key[:i]
}
