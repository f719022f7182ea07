package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// decoder decodes a YAML document over a Config by walking yaml.v3's node
// tree against the Config's type, rather than with yaml.v3's Decode: every
// key keeps its line (for Validate's messages too), and every problem is
// collected, instead of the first only, named by its key path and what was
// expected rather than by yaml.v3's words about Go types.
type decoder struct {
	file     string
	lines    map[string]int // key path → line of the key
	problems Problems
	visits   int          // nodes decoded, aliases followed included
	merging  []*yaml.Node // the mappings being merged (<<), against cycles
	stopped  bool
}

const (
	// maxProblems stops a file that is not a configuration at all from
	// producing a problem per line.
	maxProblems = 100
	// maxVisits bounds the work of aliases and merge keys, which can
	// expand a small file exponentially.
	maxVisits = 1 << 20
)

var sizeType = reflect.TypeOf(Size(0))

// decode decodes the YAML document b (from file; "" for none) over c and
// says whether c is what the file says, so that validating it makes sense:
// false when the file is not YAML or not a mapping of keys.
func (c *Config) decode(b []byte, file string) (Problems, bool) {
	// default_region follows the file's regions unless the file names it;
	// fillDefaults puts it back.
	c.DefaultRegion = ""
	d := decoder{file: file, lines: map[string]int{}}
	understood := d.document(b, c)
	c.src = sources{file: file, lines: d.lines}
	return d.problems, understood
}

func (d *decoder) document(b []byte, c *Config) bool {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) { // an empty file: the defaults
			return true
		}
		d.notYAML(err)
		return false
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		d.notYAML(err)
	default:
		d.add(Problem{File: d.file, Line: extra.Line, Message: "a second YAML document (after ---); the configuration is one document"})
	}
	root := doc.Content[0]
	switch {
	case root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null": // "~": the defaults
		return true
	case root.Kind != yaml.MappingNode:
		d.add(Problem{File: d.file, Line: root.Line, Message: fmt.Sprintf("expected a mapping of keys (%s), got %s",
			someNames(reflect.TypeOf(*c), 3), describe(root))})
		return false
	}
	d.value(root, reflect.ValueOf(c).Elem(), "")
	return true
}

var yamlLineRe = regexp.MustCompile(`^yaml: (?:line (\d+): )?`)

// notYAML reports a syntax error: yaml.v3's words are all there is, and a
// line when it gives one.
func (d *decoder) notYAML(err error) {
	p := Problem{File: d.file}
	m := yamlLineRe.FindStringSubmatch(err.Error())
	msg := err.Error()
	if m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	}
	p.Message = "not valid YAML: " + msg
	d.add(p)
}

func (d *decoder) add(p Problem) {
	if d.stopped {
		return
	}
	if len(d.problems) == maxProblems {
		p.Message = "more problems than " + strconv.Itoa(maxProblems) + "; fix these first"
		d.stopped = true
	}
	d.problems = append(d.problems, p)
}

// problem reports msg about key, at the key's line (n's when the key has
// none recorded).
func (d *decoder) problem(n *yaml.Node, key, msg string) {
	line, ok := d.lines[key]
	if !ok {
		line = n.Line
	}
	d.add(Problem{File: d.file, Line: line, Key: key, Message: msg})
}

// follow resolves aliases and counts the visit; false when the budget is
// spent.
func (d *decoder) follow(n *yaml.Node, key string) (*yaml.Node, bool) {
	for {
		d.visits++
		if d.visits > maxVisits {
			d.problem(n, key, "aliases and merge keys expand to more than a million values; write the values out")
			d.stopped = true
			return nil, false
		}
		if n.Kind != yaml.AliasNode || n.Alias == nil {
			return n, !d.stopped
		}
		n = n.Alias
	}
}

// value decodes n over v, the value of key.
func (d *decoder) value(n *yaml.Node, v reflect.Value, key string) {
	n, ok := d.follow(n, key)
	if !ok {
		return
	}
	t := v.Type()
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		// As yaml.v3 does: null empties a list or a map and leaves
		// anything else as it was (a section keeps its defaults).
		if k := t.Kind(); k == reflect.Slice || k == reflect.Map {
			v.SetZero()
		}
		return
	}
	switch t {
	case durationType:
		d.duration(n, v, key)
		return
	case sizeType:
		d.size(n, v, key)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		d.section(n, v, key)
	case reflect.Slice:
		d.list(n, v, key)
	case reflect.Map:
		d.dict(n, v, key)
	default:
		d.scalar(n, v, key)
	}
}

// section decodes a mapping over the struct v: the keys it names are set,
// the others keep their values.
func (d *decoder) section(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind != yaml.MappingNode {
		d.expected(n, key, v.Type(), "")
		return
	}
	d.pairs(n, key, func(k, val *yaml.Node) {
		i := fieldIndex(v.Type(), k.Value)
		if i < 0 {
			d.unknown(k, key, yamlNames(v.Type()))
			return
		}
		path := joinKey(key, k.Value)
		d.lines[path] = k.Line
		d.value(val, v.Field(i), path)
	})
}

// list decodes a sequence into the slice v, replacing it.
func (d *decoder) list(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind != yaml.SequenceNode {
		d.expected(n, key, v.Type(), "")
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, el := range n.Content {
		if d.stopped {
			break
		}
		path := key + "[" + strconv.Itoa(i) + "]"
		d.lines[path] = el.Line
		d.value(el, s.Index(i), path)
	}
	v.Set(s)
}

// dict decodes a mapping into the map v, adding to it.
func (d *decoder) dict(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind != yaml.MappingNode {
		d.expected(n, key, v.Type(), "")
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	d.pairs(n, key, func(k, val *yaml.Node) {
		path := key + "." + k.Value
		d.lines[path] = k.Line
		el := reflect.New(v.Type().Elem()).Elem()
		d.value(val, el, path)
		v.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), el)
	})
}

// pairs calls f with each key (a scalar, aliases followed) and value of
// the mapping n, the mappings it merges (<<) after its own keys, as
// yaml.v3 does: a key the mapping sets itself, or an earlier merge, wins.
// A key given twice, or one that is not a name, is a problem.
func (d *decoder) pairs(n *yaml.Node, key string, f func(k, val *yaml.Node)) {
	seen := map[string]int{}
	var walk func(n *yaml.Node, merged bool)
	walk = func(n *yaml.Node, merged bool) {
		var merges []*yaml.Node
		for i := 0; i+1 < len(n.Content) && !d.stopped; i += 2 {
			k, ok := d.follow(n.Content[i], key)
			if !ok {
				return
			}
			val := n.Content[i+1]
			switch {
			case k.Kind != yaml.ScalarNode:
				// It has no name to place it by; write it as its kind.
				written := map[yaml.Kind]string{yaml.MappingNode: "{…}", yaml.SequenceNode: "[…]"}[k.Kind]
				d.add(Problem{File: d.file, Line: k.Line, Key: joinKey(key, written), Message: "expected a name as the key, got " + describe(k)})
				continue
			case k.ShortTag() == "!!merge":
				merges = append(merges, val)
				continue
			}
			if line, dup := seen[k.Value]; dup {
				if !merged {
					d.add(Problem{File: d.file, Line: k.Line, Key: joinKey(key, keyName(k.Value)), Message: fmt.Sprintf("given twice (also at line %d); keep one", line)})
				}
				continue
			}
			seen[k.Value] = k.Line
			f(k, val)
		}
		for _, m := range merges {
			d.merge(m, key, walk)
		}
	}
	walk(n, false)
}

// merge walks the mapping, or the list of mappings, that a merge key (<<)
// names.
func (d *decoder) merge(m *yaml.Node, key string, walk func(*yaml.Node, bool)) {
	m, ok := d.follow(m, key)
	if !ok {
		return
	}
	switch m.Kind {
	case yaml.MappingNode:
		if slices.Contains(d.merging, m) { // merges itself: nothing new
			return
		}
		d.merging = append(d.merging, m)
		walk(m, true)
		d.merging = d.merging[:len(d.merging)-1]
	case yaml.SequenceNode:
		for _, el := range m.Content {
			if el, ok := d.follow(el, key); ok && el.Kind == yaml.MappingNode {
				d.merge(el, key, walk)
			} else if ok {
				d.problem(el, joinKey(key, "<<"), "expected a mapping to merge, got "+describe(el))
			}
		}
	default:
		d.problem(m, joinKey(key, "<<"), "expected a mapping or a list of mappings to merge, got "+describe(m))
	}
}

// unknown reports a key the section has not, with the nearest it has.
func (d *decoder) unknown(k *yaml.Node, section string, names []string) {
	path := joinKey(section, keyName(k.Value))
	msg := "unknown key"
	if s := suggest(k.Value, section, names); s != "" {
		msg += "; did you mean " + s + "?"
	} else {
		where := section
		if where == "" {
			where = "the top level"
		}
		msg += "; " + where + " takes " + strings.Join(names, ", ")
	}
	d.add(Problem{File: d.file, Line: k.Line, Key: path, Message: msg})
}

func (d *decoder) scalar(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind != yaml.ScalarNode {
		d.expected(n, key, v.Type(), "")
		return
	}
	p := reflect.New(v.Type())
	if err := n.Decode(p.Interface()); err != nil {
		d.expected(n, key, v.Type(), "")
		return
	}
	v.Set(p.Elem())
}

// duration accepts what time.ParseDuration does, "0" included (yaml.v3
// refuses a bare 0, while the reference says 0 turns a TTL off).
func (d *decoder) duration(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind != yaml.ScalarNode {
		d.expected(n, key, v.Type(), "")
		return
	}
	dur, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil {
		why := "a number with a unit: ms, s, m or h"
		if _, err := strconv.ParseFloat(strings.TrimSpace(n.Value), 64); err == nil {
			why = "add a unit: 30s, 5m, 100ms"
		}
		d.expected(n, key, v.Type(), why)
		return
	}
	v.SetInt(int64(dur))
}

func (d *decoder) size(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind != yaml.ScalarNode {
		d.expected(n, key, v.Type(), "")
		return
	}
	s, why := parseSize(n.Value)
	if why != "" {
		d.expected(n, key, v.Type(), why)
		return
	}
	v.SetInt(int64(s))
}

// expected reports that key wants a value of type t and got n; why, when
// not empty, says more.
func (d *decoder) expected(n *yaml.Node, key string, t reflect.Type, why string) {
	msg := "expected " + expectation(key, t) + ", got " + describe(n)
	if why != "" {
		msg += "; " + why
	}
	d.problem(n, key, msg)
}

// expectation says what a value of key, of type t, looks like.
func expectation(key string, t reflect.Type) string {
	if c, ok := choices[genericKey(key)]; ok {
		return c
	}
	switch t {
	case durationType:
		return "a duration like 30s"
	case sizeType:
		return "a size like 50GiB"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number like 0.9"
	case reflect.String:
		return "a string"
	case reflect.Map:
		return "a mapping of names to values like {name: value}"
	case reflect.Struct:
		return "a mapping with keys like " + someNames(t, 2)
	case reflect.Slice:
		if el := t.Elem(); el.Kind() == reflect.Struct {
			return "a list of mappings with keys like " + someNames(el, 2)
		}
		return "a list like [a, b]"
	}
	return t.String()
}

// describe says what n is, as the file has it: a mapping, a list, or the
// scalar (quoted when it would not read as itself, cut when long).
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	s := n.Value
	if utf8.RuneCountInString(s) > 40 {
		s = string([]rune(s)[:40]) + "…"
	}
	if s == "" || n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 || strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || !unicode.IsPrint(r)
	}) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

func joinKey(section, name string) string {
	if section == "" {
		return name
	}
	return section + "." + name
}

var plainKeyRe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// keyName writes an unknown key in a key path: as is when it is a plain
// name, else quoted (and cut when long), so that "" or "a.b" stay visible.
func keyName(name string) string {
	if plainKeyRe.MatchString(name) && len(name) <= 64 {
		return name
	}
	if utf8.RuneCountInString(name) > 40 {
		name = string([]rune(name)[:40]) + "…"
	}
	return strconv.Quote(name)
}

var indexRe = regexp.MustCompile(`\[\d+\]`)

// genericKey is key as the reference writes it: regions[].kind for
// regions[1].kind.
func genericKey(key string) string { return indexRe.ReplaceAllString(key, "[]") }

// yamlNames lists the keys of struct type t in declaration order.
func yamlNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		if name := yamlName(t.Field(i)); name != "" {
			names = append(names, name)
		}
	}
	return names
}

// fieldIndex is the index of the field of struct type t whose key is
// name; -1 when none.
func fieldIndex(t reflect.Type, name string) int {
	for i := range t.NumField() {
		if n := yamlName(t.Field(i)); n != "" && n == name {
			return i
		}
	}
	return -1
}

// someNames lists the first n keys of struct type t, for examples.
func someNames(t reflect.Type, n int) string {
	names := yamlNames(t)
	if len(names) > n {
		return strings.Join(names[:n], ", ") + ", …"
	}
	return strings.Join(names, ", ")
}

func yamlName(f reflect.StructField) string {
	name := strings.Split(f.Tag.Get("yaml"), ",")[0]
	if name == "-" {
		return ""
	}
	return name
}
