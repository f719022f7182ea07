package i18n

import (
	"regexp"
	"sort"
	"strings"
)

// Catalogs are the message catalogs of every language found in a locale
// directory. A nil *Catalogs has none: every message stays English. It is
// read-only once loaded, and safe for concurrent use.
type Catalogs struct {
	byTag      map[string]*Catalog   // normalized name (zh-cn) → catalog
	byLanguage map[string][]*Catalog // language (zh) → its catalogs, by name
	names      []string
}

// Languages names the catalogs as their directories are named (zh_CN),
// sorted.
func (c *Catalogs) Languages() []string {
	if c == nil {
		return nil
	}
	return c.names
}

// Lookup is the catalog named lang (compared as Negotiate compares), nil
// when there is none.
func (c *Catalogs) Lookup(lang string) *Catalog {
	if c == nil {
		return nil
	}
	return c.byTag[normalizeTag(lang)]
}

func newCatalogs(cats []*Catalog) *Catalogs {
	sort.Slice(cats, func(i, j int) bool { return cats[i].name < cats[j].name })
	c := &Catalogs{byTag: map[string]*Catalog{}, byLanguage: map[string][]*Catalog{}}
	for _, cat := range cats {
		c.byTag[cat.tag] = cat
		lang := primary(cat.tag)
		c.byLanguage[lang] = append(c.byLanguage[lang], cat)
		c.names = append(c.names, cat.name)
	}
	return c
}

// Catalog is one language's translations of Glance's messages.
type Catalog struct {
	name  string // as the directory is named: zh_CN
	tag   string // normalized: zh-cn
	exact map[string]string
	// templates are the msgids with conversions, bucketed by their first
	// prefixLen bytes; short holds those whose literal start is shorter.
	templates map[string][]*template
	short     []*template
}

// Name is the catalog's language as its directory is named (zh_CN).
func (c *Catalog) Name() string { return c.name }

const prefixLen = 4

// template is a msgid with Python %-conversions ("No image found with ID
// %s"), compiled to recognise the messages formatted from it.
type template struct {
	re       *regexp.Regexp // ^literal(capture)literal…$
	names    []string       // per capture: the conversion's key, or "" when positional
	literals int            // bytes of literal text: the more, the more specific
	needle   string         // the longest literal: a message without it cannot match
	str      []segment      // the translation
}

// segment is a piece of a translation: literal text, or the argument
// named key (a %(key)s conversion) or the index-th positional one.
type segment struct {
	text  string
	key   string
	index int // -1: literal text
}

// conversion is one Python %-conversion in a format string.
type conversion struct {
	start, end int // s[start:end] is the conversion
	key        string
	verb       byte
}

// conversions finds the %-conversions of a Python format string; ok is
// false when one is malformed. "%%" is reported with verb '%'.
func conversions(s string) (out []conversion, ok bool) {
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		c := conversion{start: i}
		j := i + 1
		if j < len(s) && s[j] == '(' {
			k := strings.IndexByte(s[j:], ')')
			if k < 0 {
				return nil, false
			}
			c.key = s[j+1 : j+k]
			j += k + 1
		}
		for j < len(s) && strings.IndexByte("#0- +", s[j]) >= 0 {
			j++
		}
		for j < len(s) && (isDigit(s[j]) || s[j] == '*') {
			j++
		}
		if j < len(s) && s[j] == '.' {
			for j++; j < len(s) && isDigit(s[j]); j++ {
			}
		}
		if j < len(s) && strings.IndexByte("hlL", s[j]) >= 0 {
			j++
		}
		if j >= len(s) || strings.IndexByte("diouxXeEfFgGcrsa%", s[j]) < 0 {
			return nil, false
		}
		c.verb, c.end = s[j], j+1
		out = append(out, c)
		i = j
	}
	return out, true
}

// add files one translation; entries whose conversions do not agree with
// their msgid's (a broken translation) are left out, as msgfmt -c would
// refuse them.
func (c *Catalog) add(msgid, msgstr string) {
	if msgid == "" || msgstr == "" {
		return
	}
	idConv, ok := conversions(msgid)
	if !ok {
		return
	}
	strConv, ok := conversions(msgstr)
	if !ok {
		return
	}
	var args []conversion
	for _, cv := range idConv {
		if cv.verb != '%' {
			args = append(args, cv)
		}
	}
	if len(args) == 0 {
		// Not formatted: the text reaches the client as written, %% and
		// all.
		c.exact[msgid] = msgstr
		return
	}
	t := &template{}
	var re strings.Builder
	re.WriteString(`(?s)^`)
	prev := 0
	for _, cv := range idConv {
		lit := unpercent(msgid[prev:cv.start])
		re.WriteString(regexp.QuoteMeta(lit))
		t.literals += len(lit)
		if len(lit) > len(t.needle) {
			t.needle = lit
		}
		prev = cv.end
		switch cv.verb {
		case '%':
			re.WriteString("%")
			t.literals++
			continue
		case 'd', 'i', 'u':
			re.WriteString(`(-?[0-9]+)`)
		default:
			re.WriteString(`(.*?)`)
		}
		t.names = append(t.names, cv.key)
	}
	lit := unpercent(msgid[prev:])
	re.WriteString(regexp.QuoteMeta(lit))
	t.literals += len(lit)
	if len(lit) > len(t.needle) {
		t.needle = lit
	}
	re.WriteString(`$`)
	if t.literals == 0 {
		return // "%s": it would match every message
	}
	// The translation's conversions: the same keys, or as many positional
	// ones (Python's % with a tuple keeps their order).
	positional := 0
	prev = 0
	for _, cv := range strConv {
		if s := unpercent(msgstr[prev:cv.start]); s != "" {
			t.str = append(t.str, segment{text: s, index: -1})
		}
		prev = cv.end
		switch {
		case cv.verb == '%':
			t.str = append(t.str, segment{text: "%", index: -1})
		case cv.key != "":
			if !hasKey(t.names, cv.key) {
				return
			}
			t.str = append(t.str, segment{key: cv.key})
		default:
			t.str = append(t.str, segment{index: positional})
			positional++
		}
	}
	if s := unpercent(msgstr[prev:]); s != "" {
		t.str = append(t.str, segment{text: s, index: -1})
	}
	if positional > 0 && (positional != len(t.names) || hasNamed(t.names)) {
		return
	}
	var err error
	if t.re, err = regexp.Compile(re.String()); err != nil {
		return
	}
	first := unpercent(msgid[:idConv[0].start])
	if len(first) < prefixLen {
		c.short = append(c.short, t)
	} else {
		c.templates[first[:prefixLen]] = append(c.templates[first[:prefixLen]], t)
	}
}

func unpercent(s string) string { return strings.ReplaceAll(s, "%%", "%") }

func hasKey(names []string, key string) bool {
	for _, n := range names {
		if n == key {
			return true
		}
	}
	return false
}

func hasNamed(names []string) bool {
	for _, n := range names {
		if n != "" {
			return true
		}
	}
	return false
}

// Translate is msg, an English message as it reaches the client, in the
// catalog's language: msg is looked up by its template (the msgid it was
// formatted from, as oslo_i18n.translate looks up a lazy message's msgid)
// and the translation formatted with the same arguments. A message the
// catalog does not know stays English; so does every message of a nil
// catalog. Arguments are not translated (they are ids, names, a client's
// own text), except a "%(reason)s", which Glance fills with another
// message (an exception's, or jsonschema's): its first line is translated
// too.
func (c *Catalog) Translate(msg string) string {
	return c.translate(msg, 1)
}

func (c *Catalog) translate(msg string, depth int) string {
	if c == nil || msg == "" {
		return msg
	}
	if s, ok := c.exact[msg]; ok {
		return s
	}
	var best *template
	var bestArgs []string
	try := func(ts []*template) {
		for _, t := range ts {
			if best != nil && t.literals <= best.literals {
				continue
			}
			// A substring search is much cheaper than the pattern, and
			// rules out nearly every template of a large catalog.
			if !strings.Contains(msg, t.needle) {
				continue
			}
			if m := t.re.FindStringSubmatch(msg); m != nil {
				best, bestArgs = t, m[1:]
			}
		}
	}
	if len(msg) >= prefixLen {
		try(c.templates[msg[:prefixLen]])
	}
	try(c.short)
	if best == nil {
		return msg
	}
	var b strings.Builder
	for _, s := range best.str {
		switch {
		case s.index >= 0 && s.key == "":
			b.WriteString(bestArgs[s.index])
		case s.key != "":
			arg := bestArgs[indexOf(best.names, s.key)]
			if s.key == "reason" && depth > 0 {
				arg = c.translateFirstLine(arg, depth-1)
			}
			b.WriteString(arg)
		default:
			b.WriteString(s.text)
		}
	}
	return b.String()
}

func (c *Catalog) translateFirstLine(s string, depth int) string {
	line, rest := s, ""
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		line, rest = s[:i], s[i:]
	}
	return c.translate(line, depth) + rest
}

func indexOf(names []string, key string) int {
	for i, n := range names {
		if n == key {
			return i
		}
	}
	return -1
}
