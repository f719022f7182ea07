package i18n

import (
	"sort"
	"strings"
)

// Range is one language range of an Accept-Language header.
type Range struct {
	// Tag is the range as sent ("zh-CN", "de", "*"), "_" included.
	Tag string
	// Q is the quality in thousandths: 1000 is q=1, 0 is "not acceptable".
	Q int
}

// ParseAcceptLanguage parses an Accept-Language header with webob's
// grammar (RFC 7231's 1#( language-range [ weight ] ), a language range
// being RFC 4647's 1*8ALPHA *("-" 1*8alphanum) or "*", a weight
// OWS ";" OWS "q=" qvalue with at most three decimals), widened in one
// place: "_" may separate subtags as "-" does, so that a range written as a
// gettext catalog is named (zh_CN) is understood. ok is false when h does
// not follow the grammar; webob then ignores the whole header, and so does
// Negotiate. The ranges come back in header order.
func ParseAcceptLanguage(h string) (ranges []Range, ok bool) {
	h = strings.Trim(h, " \t")
	p, n := 0, len(h)
	// 1#element => *( "," OWS ) element *( OWS "," [ OWS element ] )
	for p < n && h[p] == ',' {
		p = skipOWS(h, p+1)
	}
	r, p, ok := parseElement(h, p)
	if !ok {
		return nil, false
	}
	ranges = append(ranges, r)
	for {
		p = skipOWS(h, p)
		if p == n {
			return ranges, true
		}
		if h[p] != ',' {
			return nil, false
		}
		p = skipOWS(h, p+1)
		if p == n || h[p] == ',' {
			continue
		}
		if r, p, ok = parseElement(h, p); !ok {
			return nil, false
		}
		ranges = append(ranges, r)
	}
}

func skipOWS(h string, p int) int {
	for p < len(h) && (h[p] == ' ' || h[p] == '\t') {
		p++
	}
	return p
}

// parseElement parses language-range [ weight ] at h[p:].
func parseElement(h string, p int) (Range, int, bool) {
	start := p
	if p < len(h) && h[p] == '*' {
		p++
	} else {
		// 1*8ALPHA *( ("-" / "_") 1*8alphanum )
		q := p
		for p < len(h) && p-q < 8 && isAlpha(h[p]) {
			p++
		}
		if p == q {
			return Range{}, p, false
		}
		for p < len(h) && (h[p] == '-' || h[p] == '_') {
			q = p + 1
			for p = q; p < len(h) && p-q < 8 && (isAlpha(h[p]) || isDigit(h[p])); p++ {
			}
			if p == q {
				return Range{}, p, false
			}
		}
	}
	r := Range{Tag: h[start:p], Q: 1000}
	// weight = OWS ";" OWS "q=" qvalue
	w := skipOWS(h, p)
	if w == len(h) || h[w] != ';' {
		return r, p, true
	}
	w = skipOWS(h, w+1)
	if w+2 > len(h) || (h[w] != 'q' && h[w] != 'Q') || h[w+1] != '=' {
		return Range{}, w, false
	}
	q, end, ok := parseQValue(h, w+2)
	if !ok {
		return Range{}, end, false
	}
	r.Q = q
	return r, end, true
}

// parseQValue parses ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ).
func parseQValue(h string, p int) (int, int, bool) {
	if p >= len(h) || (h[p] != '0' && h[p] != '1') {
		return 0, p, false
	}
	one := h[p] == '1'
	p++
	q := 0
	if one {
		q = 1000
	}
	if p < len(h) && h[p] == '.' {
		p++
		for i, scale := 0, 100; i < 3 && p < len(h) && isDigit(h[p]); i, scale = i+1, scale/10 {
			if one && h[p] != '0' {
				return 0, p, false
			}
			q += int(h[p]-'0') * scale
			p++
		}
	}
	return q, p, true
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// Negotiate picks the catalog for an Accept-Language header; nil means
// English, the language of the messages themselves. The rules (README,
// "Localized messages"):
//
//   - a header that is empty or malformed is ignored (English);
//   - ranges are tried by descending q, in header order on a tie; ranges
//     with q=0 are not tried, and no catalog they name (by prefix, as
//     RFC 4647 filtering does: "de;q=0" names de and de_DE) is chosen;
//   - "*" is skipped: it names no language in particular;
//   - a range is compared without regard to case and with "_" as "-":
//     zh_CN, zh-CN and zh-cn name the same catalog;
//   - RFC 4647 lookup: the range, then the range with its last subtag
//     removed, and so on (de-DE-1996, de-DE, de); English ("en") is always
//     available, so en-US answers in English and stops the search;
//   - failing that, a catalog of the range's language: zh reaches zh_CN,
//     zh-TW reaches zh_CN when there is no zh_TW; of several, the first by
//     name;
//   - no range matched: English.
func (c *Catalogs) Negotiate(header []byte) *Catalog {
	if c == nil || len(header) == 0 || len(c.byTag) == 0 {
		return nil
	}
	ranges, ok := ParseAcceptLanguage(string(header))
	if !ok {
		return nil
	}
	sort.SliceStable(ranges, func(i, j int) bool { return ranges[i].Q > ranges[j].Q })
	var excluded []string
	for _, r := range ranges {
		if r.Q == 0 && r.Tag != "*" {
			excluded = append(excluded, normalizeTag(r.Tag))
		}
	}
	refused := func(cat *Catalog) bool {
		for _, x := range excluded {
			if cat.tag == x || strings.HasPrefix(cat.tag, x+"-") {
				return true
			}
		}
		return false
	}
	for _, r := range ranges {
		if r.Q == 0 || r.Tag == "*" {
			continue
		}
		tag := normalizeTag(r.Tag)
		for t := tag; ; {
			if t == "en" {
				return nil
			}
			if cat := c.byTag[t]; cat != nil && !refused(cat) {
				return cat
			}
			i := strings.LastIndexByte(t, '-')
			if i < 0 {
				break
			}
			t = t[:i]
			// RFC 4647 3.4: a singleton left at the end goes too.
			if j := strings.LastIndexByte(t, '-'); j >= 0 && j == len(t)-2 {
				t = t[:j]
			}
		}
		lang := primary(tag)
		if lang == "en" {
			return nil
		}
		for _, cat := range c.byLanguage[lang] {
			if !refused(cat) {
				return cat
			}
		}
	}
	return nil
}

// normalizeTag is a range or catalog name compared: lower case, "-"
// between subtags.
func normalizeTag(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), "_", "-")
}

// primary is a normalized tag's language subtag; a catalog named with a
// gettext modifier (sr@latin) counts as its language's.
func primary(tag string) string {
	if i := strings.IndexAny(tag, "-@"); i >= 0 {
		return tag[:i]
	}
	return tag
}
