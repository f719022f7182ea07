package i18n

import (
	"strings"
	"testing"
)

func catalogsNamed(names ...string) *Catalogs {
	var cats []*Catalog
	for _, n := range names {
		cats = append(cats, &Catalog{name: n, tag: normalizeTag(n)})
	}
	return newCatalogs(cats)
}

// TestNegotiate is the README's rules, row by row. The catalogs are the
// issue's: with them webob's lookup (Glance 25) answers nothing for zh,
// zh-CN and zh_CN.
func TestNegotiate(t *testing.T) {
	cats := catalogsNamed("en_US", "zh_CN", "de", "ja", "pt_BR", "zh_TW")
	for _, tc := range []struct {
		header, want string // want "": English
	}{
		// No header, nothing acceptable, or nothing matching: English.
		{"", ""},
		{"*", ""},
		{"fr", ""},
		{"fr, *;q=0.5", ""},
		// The seed's example, and every spelling of the catalog's name.
		{"zh", "zh_CN"},
		{"zh-CN", "zh_CN"},
		{"zh_CN", "zh_CN"},
		{"zh-cn", "zh_CN"},
		{"ZH-CN", "zh_CN"},
		{"zh-TW", "zh_TW"},
		// Lookup removes subtags from the end (RFC 4647 3.4).
		{"de-DE", "de"},
		{"de-DE-1996", "de"},
		{"de-CH-x-phonebk", "de"},
		// A region without a catalog of its own: its language's.
		{"zh-HK", "zh_CN"},
		{"pt", "pt_BR"},
		{"pt-PT", "pt_BR"},
		{"ja-JP", "ja"},
		// English is always there: en and en-* stop the search in
		// English unless a catalog names that exact region.
		{"en, zh", ""},
		{"en-GB, zh", ""},
		{"en-US, zh", "en_US"},
		// q-values decide, header order on a tie.
		{"de;q=0.5, ja", "ja"},
		{"de, ja", "de"},
		{"ja;q=0.8, de;q=0.8", "ja"},
		{"fr;q=1, zh;q=0.1", "zh_CN"},
		{"de;Q=0.500, ja;q=0.499", "de"},
		{"en;q=0.1, de;q=0.2", "de"},
		// q=0: not acceptable, and no catalog it names is chosen.
		{"de;q=0", ""},
		{"de;q=0, ja;q=0.1", "ja"},
		{"de;q=0.000, de-DE", ""},
		{"zh-TW;q=0, zh", "zh_CN"},
		{"zh;q=0, zh-HK", ""},
		{"*;q=0, ja", "ja"},
		{"*, ja;q=0.1", "ja"},
		// webob's list syntax: empty elements and OWS.
		{",, ja ,", "ja"},
		{"ja ;\tq=0.5 , ,de;q=0.4", "ja"},
		// Malformed: the whole header is ignored.
		{"zh;q=2", ""},
		{"zh;q=1.5", ""},
		{"zh;q=0.5555", ""},
		{"zh;q=", ""},
		{"zh;level=1", ""},
		{"zh-", ""},
		{"zh--CN", ""},
		{"zhongwenzh", ""},
		{"zh-CNCNCNCNCN", ""},
		{"ja, zh CN", ""},
		{"ja; zh", ""},
		{",", ""},
		{"1zh", ""},
		{"zh-CN;q=0.8;q=0.9", ""},
		{"中文", ""},
	} {
		got := cats.Negotiate([]byte(tc.header))
		name := ""
		if got != nil {
			name = got.Name()
		}
		if name != tc.want {
			t.Errorf("Negotiate(%q) = %q, want %q", tc.header, name, tc.want)
		}
	}
	if got := (*Catalogs)(nil).Negotiate([]byte("zh")); got != nil {
		t.Errorf("nil Catalogs: %q, want English", got.Name())
	}
}

func TestParseAcceptLanguage(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   string // tag:q,… ; "!" malformed
	}{
		{"zh", "zh:1000"},
		{"zh_CN;q=0.8, *;q=0.1", "zh_CN:800,*:100"},
		{"da, en-gb;q=0.8, en;q=0.7", "da:1000,en-gb:800,en:700"},
		{"a;q=1.000", "a:1000"},
		{"a;q=1.", "a:1000"},
		{"a;q=0.", "a:0"},
		{"a;q=1.001", "!"},
		{"a;q=.5", "!"},
		{"a ; q = 0.5", "!"},
		{"", "!"},
		{"a,", "a:1000"},
		{"x-klingon", "x-klingon:1000"},
		{"abcdefgh-12345678", "abcdefgh-12345678:1000"},
		{"abcdefgh-123456789", "!"},
	} {
		ranges, ok := ParseAcceptLanguage(tc.header)
		got := "!"
		if ok {
			var parts []string
			for _, r := range ranges {
				parts = append(parts, r.Tag+":"+itoa(r.Q))
			}
			got = strings.Join(parts, ",")
		}
		if got != tc.want {
			t.Errorf("ParseAcceptLanguage(%q) = %s, want %s", tc.header, got, tc.want)
		}
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// FuzzAcceptLanguage: any header parses without panicking, every range it
// returns is well formed, and negotiation picks a catalog or English.
func FuzzAcceptLanguage(f *testing.F) {
	for _, s := range []string{"zh", "zh-CN;q=0.8, de", "*;q=0", ",, ja ,", "zh;q=0.5555", "de-DE-1996",
		"a;q=1.000", "x_y-z;Q=0.1\t,\t*", "en-US,en;q=0.9,zh-CN;q=0.8,zh;q=0.7", "\xff", "zh-", ";q=1"} {
		f.Add(s)
	}
	cats := catalogsNamed("en_US", "zh_CN", "de", "ja", "sr@latin")
	f.Fuzz(func(t *testing.T, h string) {
		ranges, ok := ParseAcceptLanguage(h)
		if !ok && ranges != nil {
			t.Fatalf("%q: ranges with a malformed header", h)
		}
		for _, r := range ranges {
			if r.Q < 0 || r.Q > 1000 || r.Tag == "" || !strings.Contains(h, r.Tag) {
				t.Fatalf("%q: range %+v", h, r)
			}
			for i := 0; i < len(r.Tag); i++ {
				if c := r.Tag[i]; !(isAlpha(c) || isDigit(c) || c == '-' || c == '_' || c == '*') {
					t.Fatalf("%q: range %q holds %q", h, r.Tag, c)
				}
			}
		}
		if got := cats.Negotiate([]byte(h)); got != nil && !ok {
			t.Fatalf("%q: malformed, yet %s chosen", h, got.Name())
		}
	})
}
