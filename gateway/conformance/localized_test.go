package conformance

import (
	"encoding/json"
	"fmt"
	"html"
	"strings"
	"testing"

	"github.com/spyglass-gateway/spyglass/i18n"
	"github.com/spyglass-gateway/spyglass/i18n/i18ntest"
)

// The localized run (issue 17): every error step of the script is asked of
// the Spyglass under test again, in each of webob's three body shapes, once
// without Accept-Language and once in the test catalog's language. The
// answer must be the same status and shape, with each message the catalog
// knows in its translation (an HTML page keeps to ASCII: XML character
// references, as webob writes it), and byte for byte the English answer
// when the catalog knows none of them.

// localizedLanguage is the range the client sends: a region tag that must
// reach the zh_CN catalog (the seed's example sends "zh").
const localizedLanguage = "zh-CN"

// localizedAccepts are the Accept headers that choose webob's three shapes
// (no Accept header: HTML).
var localizedAccepts = []string{"", "application/json", "text/plain"}

// localizedCheck keeps the test catalog and what the run found.
type localizedCheck struct {
	cat        *i18n.Catalog
	steps      int // error steps asked again
	translated int // of which the catalog translated a message
}

func newLocalizedCheck(t *testing.T) *localizedCheck {
	t.Helper()
	cats, err := i18n.Load(i18ntest.Locale(t))
	if err != nil {
		t.Fatal(err)
	}
	cat := cats.Lookup("zh_CN")
	if cat == nil {
		t.Fatal("the test catalog has no zh_CN")
	}
	return &localizedCheck{cat: cat}
}

// eligible says whether st may be sent again: an error answer that does not
// depend on what came before it in the same step (no polling, no walk, no
// saved id), asked without a language of its own.
func (c *localizedCheck) eligible(st *step, status int) bool {
	if status < 400 || st.walk || st.until != nil || st.save != "" {
		return false
	}
	for k := range st.header {
		if strings.EqualFold(k, "Accept-Language") || strings.EqualFold(k, "Accept") {
			return false
		}
	}
	return true
}

// check asks st again of tg in each shape, in English and localized, and
// reports what differs from the catalog's translation.
func (c *localizedCheck) check(tg *target, st *step) []string {
	c.steps++
	var problems []string
	translated := false
	for _, accept := range localizedAccepts {
		en, err := tg.run(withAccept(st, accept, ""))
		if err != nil {
			return append(problems, fmt.Sprintf("Accept %q, English: %v", accept, err))
		}
		loc, err := tg.run(withAccept(st, accept, localizedLanguage))
		if err != nil {
			return append(problems, fmt.Sprintf("Accept %q, %s: %v", accept, localizedLanguage, err))
		}
		did, p := c.compare(en, loc)
		translated = translated || did
		for _, s := range p {
			problems = append(problems, fmt.Sprintf("Accept %q: %s", accept, s))
		}
	}
	if translated {
		c.translated++
	}
	return problems
}

func withAccept(st *step, accept, lang string) *step {
	s := *st
	var kv []string
	if accept != "" {
		kv = append(kv, "Accept", accept)
	}
	if lang != "" {
		kv = append(kv, "Accept-Language", lang)
	}
	s = withHeader(s, kv...)
	return &s
}

// compare checks the localized answer against the English one.
func (c *localizedCheck) compare(en, loc *response) (translated bool, problems []string) {
	if en.status != loc.status {
		return false, []string{fmt.Sprintf("status %d in English, %d localized", en.status, loc.status)}
	}
	ct := en.header.Get("Content-Type")
	if got := loc.header.Get("Content-Type"); got != ct {
		return false, []string{fmt.Sprintf("Content-Type %q in English, %q localized", ct, got)}
	}
	if got := loc.header.Values("Content-Language"); got != nil {
		problems = append(problems, fmt.Sprintf("Content-Language %q: Glance sends none", got))
	}
	texts, ok := errorTexts(ct, string(en.body))
	if !ok {
		// Not one of webob's pages (a Keystone or versions document, an
		// empty HEAD answer): nothing to translate, nothing may change.
		if string(en.body) != string(loc.body) {
			problems = append(problems, fmt.Sprintf("an answer with no message changed:\n  English %q\n  localized %q", clip(string(en.body), 300), clip(string(loc.body), 300)))
		}
		return false, problems
	}
	var want []string
	for _, s := range texts {
		tr := c.translate(s)
		if tr != s {
			translated = true
		}
		want = append(want, tr)
	}
	if !translated {
		if string(en.body) != string(loc.body) {
			problems = append(problems, fmt.Sprintf("the catalog knows none of %q, yet the body changed:\n  English %q\n  localized %q", texts, clip(string(en.body), 300), clip(string(loc.body), 300)))
		}
		return false, problems
	}
	got, ok := errorTexts(ct, string(loc.body))
	if !ok || len(got) != len(want) {
		return true, append(problems, fmt.Sprintf("the localized body is not webob's page with %d messages: %q", len(want), clip(string(loc.body), 400)))
	}
	for i := range want {
		if got[i] != want[i] {
			problems = append(problems, fmt.Sprintf("message %d:\n  English   %q\n  localized %q\n  catalog   %q", i, texts[i], got[i], want[i]))
		}
	}
	if strings.HasPrefix(ct, "text/html") && strings.ContainsFunc(string(loc.body), func(r rune) bool { return r > 0x7f }) {
		problems = append(problems, fmt.Sprintf("non-ASCII in the HTML page (webob writes XML character references): %q", clip(string(loc.body), 300)))
	}
	return true, problems
}

// translate is the catalog's translation of s; in plain text, a 415's
// explanation comes with the space its template puts after it.
func (c *localizedCheck) translate(s string) string {
	if tr := c.cat.Translate(s); tr != s {
		return tr
	}
	if trimmed, ok := strings.CutSuffix(s, " "); ok {
		if tr := c.cat.Translate(trimmed); tr != trimmed {
			return tr + " "
		}
	}
	return s
}

// errorTexts are the explanation and (if any) the detail of one of webob's
// error pages, unescaped, or false if body is not one.
func errorTexts(contentType, body string) ([]string, bool) {
	var msg string
	switch {
	case strings.HasPrefix(contentType, "text/html"):
		const open, end = "</h1>\n  ", "\n </body>\n</html>"
		i := strings.Index(body, open)
		if i < 0 || !strings.HasSuffix(body, end) {
			return nil, false
		}
		msg = body[i+len(open) : len(body)-len(end)]
		parts := webobParts(msg)
		for i := range parts {
			parts[i] = html.UnescapeString(parts[i])
		}
		return parts, true
	case strings.HasPrefix(contentType, "application/json"):
		var doc map[string]any
		if json.Unmarshal([]byte(body), &doc) != nil {
			return nil, false
		}
		m, ok := doc["message"].(string)
		if !ok || doc["code"] == nil || doc["title"] == nil {
			return nil, false
		}
		return webobParts(m), true
	case strings.HasPrefix(contentType, "text/plain"):
		// "<code> <title>\n\n" explanation "\n\n " detail "  ", or for the
		// 405 and 415 templates the explanation then "\n\n " or " \n\n "
		// (the 415's space stays on the explanation: see translate).
		_, rest, ok := strings.Cut(body, "\n\n")
		if !ok {
			return nil, false
		}
		expl, detail, ok := strings.Cut(rest, "\n\n ")
		if !ok {
			return nil, false
		}
		if detail = strings.TrimSuffix(detail, "  "); detail == "" {
			return []string{expl}, true
		}
		return []string{expl, detail}, true
	}
	return nil, false
}

// webobParts splits webob's message ("explanation<br /><br />\ndetail\n\n")
// into its texts.
func webobParts(msg string) []string {
	expl, detail, ok := strings.Cut(msg, "<br /><br />\n")
	if !ok {
		return []string{msg}
	}
	expl = strings.TrimSuffix(expl, "\n")
	detail = strings.TrimSuffix(detail, "\n\n")
	if detail == "" {
		return []string{expl}
	}
	return []string{expl, detail}
}
