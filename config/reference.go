package config

import (
	"bytes"
	"embed"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The package's own source, for the field comments the reference is
// written from: the binary carries them, so "spyglass config reference"
// needs no checkout.
//
//go:embed *.go
var sourceFiles embed.FS

// KeyDoc documents one configuration key.
type KeyDoc struct {
	// Key is the dotted path as written in the file: cache.max_size,
	// regions[].data_dir.
	Key string
	// Section is the key path of the struct it belongs to ("" for the top
	// level, "auth.keystone", "regions[]").
	Section string
	// Type is what the value is: string, duration, size, bool, integer,
	// number, list of strings, map, list.
	Type string
	// Default is the default as a user writes it (50GiB, 30s), "empty" for
	// an empty string or list, "" when there is none (a required field of
	// a list element).
	Default string
	// Env and Flag name the environment variable and command-line flag
	// that override the key, taken from its comment ("Env SPYGLASS_X;
	// flag --x."); "" for none.
	Env, Flag string
	// Doc is the field's doc comment as one paragraph, the Go field name
	// dropped: "TCP address ..." rather than "Listen is the TCP address".
	Doc string
}

// SectionDoc documents a group of keys: a struct-valued key such as auth
// or regions[].
type SectionDoc struct {
	Key string // auth, auth.keystone, regions[]
	Doc string
}

// Reference lists every key of Config in declaration order, with the
// sections they belong to. It fails, naming them, when keys have no doc
// comment: the comments are the only place the meanings are written.
func Reference() ([]KeyDoc, []SectionDoc, error) {
	return referenceOf(reflect.TypeOf(Config{}), reflect.ValueOf(Default()))
}

// referenceOf documents struct type t, whose defaults are def.
func referenceOf(t reflect.Type, def reflect.Value) ([]KeyDoc, []SectionDoc, error) {
	comments, err := fieldComments()
	if err != nil {
		return nil, nil, err
	}
	w := refWalker{comments: comments}
	w.walk(t, def, "", "")
	if len(w.undocumented) > 0 {
		return w.keys, w.sections, fmt.Errorf("config keys without a doc comment on their field in config/*.go: %s; write one (what the key is, its default, what zero or empty means), then run go generate ./config", strings.Join(w.undocumented, ", "))
	}
	return w.keys, w.sections, nil
}

type refWalker struct {
	comments     map[string]map[string]string // type name → field name → comment
	keys         []KeyDoc
	sections     []SectionDoc
	undocumented []string
}

var durationType = reflect.TypeOf(time.Duration(0))

// walk documents the fields of struct type t; v is its default value, or
// invalid inside list elements (whose defaults come from `default` tags).
func (w *refWalker) walk(t reflect.Type, v reflect.Value, prefix, section string) {
	for i := range t.NumField() {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if name == "" || name == "-" {
			continue
		}
		key := prefix + name
		doc := w.comments[t.Name()][f.Name]
		if doc == "" {
			w.undocumented = append(w.undocumented, key)
		}
		doc = dropSubject(doc, f.Name)
		var fv reflect.Value
		if v.IsValid() {
			fv = v.Field(i)
		}
		ft := f.Type
		switch {
		case ft.Kind() == reflect.Struct && ft.PkgPath() == t.PkgPath():
			w.sections = append(w.sections, SectionDoc{Key: key, Doc: doc})
			w.walk(ft, fv, key+".", key)
			continue
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			w.keys = append(w.keys, w.keyDoc(key, section, f, fv, doc))
			el := ft.Elem()
			elDoc := dropSubject(w.comments[""][el.Name()], el.Name())
			w.sections = append(w.sections, SectionDoc{Key: key + "[]", Doc: elDoc})
			w.walk(el, reflect.Value{}, key+"[].", key+"[]")
			continue
		}
		w.keys = append(w.keys, w.keyDoc(key, section, f, fv, doc))
	}
}

func (w *refWalker) keyDoc(key, section string, f reflect.StructField, v reflect.Value, doc string) KeyDoc {
	k := KeyDoc{Key: key, Section: section, Type: typeName(f.Type), Doc: doc}
	if m := envRe.FindStringSubmatch(doc); m != nil {
		k.Env = m[1]
	}
	if m := flagRe.FindStringSubmatch(doc); m != nil {
		k.Flag = m[1]
	}
	switch {
	case f.Tag.Get("default") != "":
		k.Default = f.Tag.Get("default")
	case v.IsValid():
		k.Default = formatValue(v)
	}
	return k
}

var (
	envRe  = regexp.MustCompile(`\bEnv (SPYGLASS_[A-Z0-9_]+)`)
	flagRe = regexp.MustCompile(`\bflag (--[a-z0-9-]+)`)
	// overrideRe is the sentence that says only that, which the full
	// reference shows in a column of its own.
	overrideRe = regexp.MustCompile(`\s*Env SPYGLASS_[A-Z0-9_]+(; flag --[a-z0-9-]+)?\.`)
)

func typeName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "duration"
	case t == reflect.TypeOf(Size(0)):
		return "size"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return typeName(t.Elem())
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "integer"
	case reflect.Float64, reflect.Float32:
		return "number"
	case reflect.Map:
		return "map of " + typeName(t.Key()) + " to " + typeName(t.Elem())
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Struct {
			return "list"
		}
		return "list of " + typeName(t.Elem()) + "s"
	}
	return t.String()
}

// formatValue writes v as a user would in the file: 30s, 50GiB,
// [{name: local, kind: local, data_dir: ./data}]; "empty" for an empty
// string, list or map.
func formatValue(v reflect.Value) string {
	if s := formatYAML(v); s != `""` && s != "[]" && s != "{}" {
		return s
	}
	return "empty"
}

func formatYAML(v reflect.Value) string {
	switch {
	case v.Type() == durationType:
		return formatDuration(time.Duration(v.Int()))
	case v.Type() == reflect.TypeOf(Size(0)):
		return Size(v.Int()).String()
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return `""`
		}
		return formatYAML(v.Elem())
	case reflect.String:
		if v.String() == "" {
			return `""`
		}
		return v.String()
	case reflect.Slice:
		var parts []string
		for i := range v.Len() {
			parts = append(parts, formatYAML(v.Index(i)))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case reflect.Map:
		var parts []string
		for _, k := range v.MapKeys() {
			parts = append(parts, formatYAML(k)+": "+formatYAML(v.MapIndex(k)))
		}
		slices.Sort(parts)
		return "{" + strings.Join(parts, ", ") + "}"
	case reflect.Struct:
		var parts []string
		for i := range v.NumField() {
			name := strings.Split(v.Type().Field(i).Tag.Get("yaml"), ",")[0]
			if name == "" || name == "-" || v.Field(i).IsZero() {
				continue
			}
			parts = append(parts, name+": "+formatYAML(v.Field(i)))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v.Interface())
}

// formatDuration writes d with the largest unit that divides it: 5m rather
// than Go's 5m0s, 100ms, 0.
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	for _, u := range []struct {
		name string
		d    time.Duration
	}{{"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}, {"ms", time.Millisecond}, {"us", time.Microsecond}} {
		if d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.name
		}
	}
	return d.String()
}

// dropSubject turns "Listen is the TCP address" into "The TCP address":
// Go doc comments start with the name being documented, a reference row
// does not.
func dropSubject(doc, name string) string {
	rest, ok := strings.CutPrefix(doc, name+" ")
	if !ok {
		return doc
	}
	for _, verb := range []string{"is, ", "is ", "are "} {
		if r, ok := strings.CutPrefix(rest, verb); ok {
			rest = r
			break
		}
	}
	r, n := utf8.DecodeRuneInString(rest)
	return string(unicode.ToUpper(r)) + rest[n:]
}

// fieldComments reads the doc comments of the package's struct fields
// from its embedded source: type name → field name → comment as one line.
// Under the key "" it holds the types' own doc comments (type name →
// comment).
func fieldComments() (map[string]map[string]string, error) {
	out := map[string]map[string]string{"": {}}
	fset := token.NewFileSet()
	err := fs.WalkDir(sourceFiles, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := sourceFiles.ReadFile(path)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(fset, path, src, parser.ParseComments)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, spec := range gd.Specs {
				ts := spec.(*ast.TypeSpec)
				doc := ts.Doc
				if doc == nil && len(gd.Specs) == 1 {
					doc = gd.Doc
				}
				out[""][ts.Name.Name] = oneLine(doc)
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					continue
				}
				fields := map[string]string{}
				for _, fl := range st.Fields.List {
					for _, n := range fl.Names {
						fields[n.Name] = oneLine(fl.Doc)
					}
				}
				out[ts.Name.Name] = fields
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("config: reading the field comments: %w", err)
	}
	return out, nil
}

func oneLine(cg *ast.CommentGroup) string {
	if cg == nil {
		return ""
	}
	return strings.Join(strings.Fields(cg.Text()), " ")
}

// Markers around the generated table in README.md.
const (
	ReadmeBegin = "<!-- BEGIN config reference: generated by `go generate ./config` from config/config.go; edit the field comments there, not this table -->"
	ReadmeEnd   = "<!-- END config reference -->"
)

// ReadmeTable renders the README's configuration table: key, default,
// meaning.
func ReadmeTable() ([]byte, error) {
	keys, _, err := Reference()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("| key | default | meaning |\n|---|---|---|\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", k.Key, code(k.Default), cell(codeNames(k.Doc)))
	}
	return b.Bytes(), nil
}

// SpliceReadme returns readme with the text between ReadmeBegin and
// ReadmeEnd replaced by table.
func SpliceReadme(readme, table []byte) ([]byte, error) {
	i := bytes.Index(readme, []byte(ReadmeBegin))
	j := bytes.Index(readme, []byte(ReadmeEnd))
	if i < 0 || j < i {
		return nil, fmt.Errorf("README.md has no %q ... %q markers around its configuration table; put them back where the table goes", ReadmeBegin, ReadmeEnd)
	}
	var b bytes.Buffer
	b.Write(readme[:i+len(ReadmeBegin)])
	b.WriteString("\n")
	b.Write(table)
	b.Write(readme[j:])
	return b.Bytes(), nil
}

// ReferenceMarkdown renders the full reference, docs/config.md: one table
// per section, with each key's type, default, environment variable and
// flag.
func ReferenceMarkdown() ([]byte, error) {
	keys, sections, err := Reference()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(referenceIntro)
	table := func(section string) {
		b.WriteString("| key | type | default | env / flag | meaning |\n|---|---|---|---|---|\n")
		for _, k := range keys {
			if k.Section != section {
				continue
			}
			var over []string
			if k.Env != "" {
				over = append(over, "`"+k.Env+"`")
			}
			if k.Flag != "" {
				over = append(over, "`"+k.Flag+"`")
			}
			doc := codeNames(overrideRe.ReplaceAllString(k.Doc, ""))
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", k.Key, k.Type, code(k.Default), strings.Join(over, ", "), cell(doc))
		}
	}
	b.WriteString("\n## Top level\n\n")
	table("")
	for _, s := range sections {
		level := "##"
		if strings.Contains(s.Key, ".") {
			level = "###"
		}
		fmt.Fprintf(&b, "\n%s `%s`\n\n", level, s.Key)
		if s.Doc != "" {
			b.WriteString(s.Doc + "\n\n")
		}
		table(s.Key)
	}
	return b.Bytes(), nil
}

const referenceIntro = `# Configuration reference

<!-- Generated by ` + "`go generate ./config`" + ` from the field comments in config/config.go; do not edit. -->

Spyglass reads one YAML file (` + "`spyglass serve --config FILE`" + `). Every key is
optional; an unknown key is an error naming it. Precedence: flags, then the
` + "`SPYGLASS_*`" + ` environment, then the file, then the defaults below.
` + "`spyglass config check FILE`" + ` validates a file and names each bad key with
its fix; ` + "`spyglass config reference`" + ` prints this page.

Durations are Go durations: ` + "`100ms`, `30s`, `5m`, `1h`" + `. Sizes are bytes or a
number with a unit: ` + "`KiB`, `MiB`, `GiB`, `TiB`, `PiB`" + ` (×1024; also ` + "`K`, `M`, `G`" + `…) or
` + "`kB`, `MB`, `GB`, `TB`, `PB`" + ` (×1000), e.g. ` + "`50GiB`" + `. Relative paths are relative
to the working directory.
`

func code(s string) string {
	if s == "" || s == "empty" {
		return s
	}
	return "`" + strings.ReplaceAll(s, "|", `\|`) + "`"
}

// codeNames sets environment variables and flags in a comment as code:
// SPYGLASS_LISTEN → `SPYGLASS_LISTEN`, --listen → `--listen`.
func codeNames(s string) string { return bareNameRe.ReplaceAllString(s, "$1`$2`") }

var bareNameRe = regexp.MustCompile("(^|[^`\\w-])(SPYGLASS_[A-Z0-9_]+|--[a-z][a-z0-9-]*)")

func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
