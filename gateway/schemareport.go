package gateway

import (
	"bytes"
	"encoding/json"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/spyglass-gateway/spyglass/gateway/schemas"
)

// Glance words a schema violation as jsonschema's ValidationError prints
// itself: the message, then "Failed validating <validator> in <schema
// path>:" with the failing sub-schema pretty-printed (Python's
// pprint.pformat, width 72), then "On <instance path>:" and the instance.
// This file reproduces that text.

// imageSchema and taskSchema are the schemas decoded once, for the
// sub-schemas the report prints.
var (
	imageSchema = decodeSchema(schemas.Image())
	taskSchema  = decodeSchema(schemas.Task())
)

func decodeSchema(doc []byte) map[string]any {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		panic("gateway: embedded schema: " + err.Error())
	}
	return m
}

// subSchema follows a path of keys into a schema.
func subSchema(root map[string]any, path ...string) any {
	var cur any = root
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

// schemaViolation builds Glance's full explanation for one violation.
// schemaPath ends with the validator's own key (as jsonschema's
// relative_schema_path does); instancePath items are strings or ints.
func schemaViolation(message, validator string, schemaPath []string, instancePath []any, instance any) error {
	return schemaError(violationReport(imageSchema, message, validator, schemaPath, instancePath, instance))
}

func violationReport(root map[string]any, message, validator string, schemaPath []string, instancePath []any, instance any) string {
	sub := subSchema(root, schemaPath[:len(schemaPath)-1]...)
	var b strings.Builder
	b.WriteString(message)
	b.WriteString("\n\nFailed validating ")
	b.WriteString(pyRepr(validator))
	b.WriteString(" in schema")
	for _, p := range schemaPath[:len(schemaPath)-1] {
		b.WriteString("[" + pyRepr(p) + "]")
	}
	b.WriteString(":\n    ")
	b.WriteString(strings.ReplaceAll(pformat(sub), "\n", "\n    "))
	b.WriteString("\n\nOn instance")
	for _, p := range instancePath {
		if n, ok := p.(int); ok {
			b.WriteString("[" + strconv.Itoa(n) + "]")
		} else {
			b.WriteString("[" + pyRepr(p) + "]")
		}
	}
	b.WriteString(":\n    ")
	b.WriteString(strings.ReplaceAll(pformat(instance), "\n", "\n    "))
	return b.String()
}

// pformat is Python's pprint.pformat(obj, width=72) for decoded JSON.
func pformat(v any) string {
	var b strings.Builder
	ppFormat(&b, v, 0, 0, 0)
	return b.String()
}

const ppWidth = 72

func ppFormat(b *strings.Builder, v any, indent, allowance, level int) {
	rep := pySortedRepr(v)
	if len([]rune(rep)) <= ppWidth-indent-allowance {
		b.WriteString(rep)
		return
	}
	switch x := v.(type) {
	case map[string]any:
		b.WriteByte('{')
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		in := indent + 1
		for i, k := range keys {
			last := i == len(keys)-1
			kr := pyStrRepr(k)
			b.WriteString(kr)
			b.WriteString(": ")
			a := 1
			if last {
				a = allowance + 1
			}
			ppFormat(b, x[k], in+len([]rune(kr))+2, a, level+1)
			if !last {
				b.WriteString(",\n" + strings.Repeat(" ", in))
			}
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		in := indent + 1
		for i, e := range x {
			last := i == len(x)-1
			a := 1
			if last {
				a = allowance + 1
			}
			if i > 0 {
				b.WriteString(",\n" + strings.Repeat(" ", in))
			}
			ppFormat(b, e, in, a, level+1)
		}
		b.WriteByte(']')
	case string:
		ppString(b, x, indent, allowance, level+1)
	default:
		b.WriteString(rep)
	}
}

var ppWords = regexp.MustCompile(`\S*\s*`)

// ppString is pprint's _pprint_str: a long string becomes adjacent literals
// split at whitespace.
func ppString(b *strings.Builder, s string, indent, allowance, level int) {
	if level == 1 {
		indent++
		allowance++
	}
	maxWidth := ppWidth - indent
	maxWidth1 := maxWidth - allowance
	var chunks []string
	if rep := pyStrRepr(s); len([]rune(rep)) <= maxWidth1 {
		chunks = append(chunks, rep)
	} else {
		parts := ppWords.FindAllString(s, -1)
		if len(parts) > 0 && parts[len(parts)-1] == "" {
			parts = parts[:len(parts)-1]
		}
		maxWidth2 := maxWidth
		current := ""
		for j, part := range parts {
			candidate := current + part
			if j == len(parts)-1 {
				maxWidth2 -= allowance
			}
			if len([]rune(pyStrRepr(candidate))) > maxWidth2 {
				if current != "" {
					chunks = append(chunks, pyStrRepr(current))
				}
				current = part
			} else {
				current = candidate
			}
		}
		if current != "" {
			chunks = append(chunks, pyStrRepr(current))
		}
	}
	if len(chunks) == 1 {
		b.WriteString(chunks[0])
		return
	}
	if level == 1 {
		b.WriteByte('(')
	}
	for i, c := range chunks {
		if i > 0 {
			b.WriteString("\n" + strings.Repeat(" ", indent))
		}
		b.WriteString(c)
	}
	if level == 1 {
		b.WriteByte(')')
	}
}

// pySortedRepr is pprint's one-line repr: Python's repr with dict keys
// sorted.
func pySortedRepr(v any) string { return pyRepr(v) }

// pyStrRepr is Python's repr of a str: single quotes unless the string has
// a single quote and no double quote.
func pyStrRepr(s string) string {
	q := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		q = '"'
	}
	var b strings.Builder
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == rune(q):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\x` + strconv.FormatInt(int64(r)+0x100, 16)[1:])
		case r > 0x7f && !unicode.IsPrint(r):
			if r <= 0xff {
				b.WriteString(`\x` + strconv.FormatInt(int64(r)+0x100, 16)[1:])
			} else if r <= 0xffff {
				b.WriteString(`\u` + strconv.FormatInt(int64(r)+0x10000, 16)[1:])
			} else {
				b.WriteString(`\U` + strconv.FormatInt(int64(r)+0x100000000, 16)[1:])
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(q)
	return b.String()
}
