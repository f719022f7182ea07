package gateway

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/i18n"
	"github.com/spyglass-gateway/spyglass/i18n/i18ntest"
	"github.com/spyglass-gateway/spyglass/policy"
)

// webobPython is the interpreter that sees Debian's python3-webob (a pyenv
// python3 earlier on PATH would not).
const webobPython = "/usr/bin/python3"

// webobCase is one error as webob renders it.
type webobCase struct {
	Accept      string `json:"accept"` // "": no Accept header
	Status      int    `json:"status"`
	Explanation string `json:"explanation"`
	Detail      string `json:"detail"`
	// Out.
	Body        string `json:"body"`
	ContentType string `json:"content_type"`
}

// webobRender asks Debian's python3-webob for the error pages of cases:
// webob.exc's exception for the status, raised with the explanation (and
// detail), answered to a request with the case's Accept header.
func webobRender(t *testing.T, cases []webobCase) []webobCase {
	t.Helper()
	in, _ := json.Marshal(cases)
	cmd := exec.Command(webobPython, "-c", `
import json, sys
import webob, webob.exc
out = []
for c in json.load(sys.stdin):
    kw = {'explanation': c['explanation']}
    if c['detail']:
        kw['detail'] = c['detail']
    exc = webob.exc.status_map[c['status']](**kw)
    req = webob.Request.blank('/')
    if c['accept']:
        req.headers['Accept'] = c['accept']
    resp = req.get_response(exc)
    c['body'] = resp.body.decode('utf-8')
    c['content_type'] = resp.headers['Content-Type']
    out.append(c)
json.dump(out, sys.stdout)
`)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3-webob (the oracle for error pages) failed: %v; is Debian's python3-webob installed (apt-get install python3-webob)?\n%s", err, stderr.String())
	}
	var out []webobCase
	if err := json.Unmarshal(outb, &out); err != nil {
		t.Fatalf("webob's answer: %v\n%s", err, outb)
	}
	return out
}

// TestTranslatedBodiesEscapeAsWebob: a translated message — non-ASCII,
// a character outside the BMP, and every character HTML escapes — is
// rendered in each of webob's three shapes (HTML, JSON, plain text), as
// explanation and as detail, byte for byte as webob renders the same text.
// So is an English message with non-ASCII in it (a client's own id) asked
// for without Accept-Language: webob writes XML character references
// whatever the language.
func TestTranslatedBodiesEscapeAsWebob(t *testing.T) {
	cats, err := i18n.Load(i18ntest.Locale(t))
	if err != nil {
		t.Fatal(err)
	}
	const en = `Image é1 is > protected & 'cannot' < be "deleted"`
	const zh = `映像 é1 受 > 保护 & ‘不能’ < 被"删除" 🔒`
	type render struct {
		lang string // Accept-Language; "" none
		err  error
		want webobCase // the text webob is given
	}
	var renders []render
	var cases []webobCase
	for _, accept := range []string{"text/html", "application/json", "", "*/*", "application/json;q=0.9, text/html;q=0.8"} {
		for _, r := range []render{
			{"zh", backends.Errorf(backends.ErrForbidden, en), webobCase{Status: 403, Explanation: zh}},
			{"zh-CN", backends.Detailf(backends.ErrConflict, en), webobCase{Status: 409, Explanation: "尝试完成您的请求时发生冲突。", Detail: zh}},
			{"", backends.Errorf(backends.ErrNotFound, "No image found with ID ñ€😀>&<"), webobCase{Status: 404, Explanation: "No image found with ID ñ€😀>&<"}},
			{"fr", backends.Errorf(backends.ErrNotFound, "No image found with ID ñ"), webobCase{Status: 404, Explanation: "No image found with ID ñ"}},
			{"zh", backends.Errorf(backends.ErrNotFound, "No image found with ID aaa"), webobCase{Status: 404, Explanation: "找不到任何具有标识 aaa 的映像"}},
		} {
			r.want.Accept = accept
			renders = append(renders, r)
			cases = append(cases, r.want)
		}
	}
	want := webobRender(t, cases)
	for i, r := range renders {
		var ctx fasthttp.RequestCtx
		if a := r.want.Accept; a != "" {
			ctx.Request.Header.Set("Accept", a)
		}
		if r.lang != "" {
			ctx.Request.Header.Set("Accept-Language", r.lang)
			ctx.SetUserValue(catalogsKey{}, cats)
		}
		writeError(&ctx, r.err)
		if got := string(ctx.Response.Body()); got != want[i].Body {
			t.Errorf("Accept %q, Accept-Language %q, %v:\n got %q\nwant %q (webob)", r.want.Accept, r.lang, r.err, got, want[i].Body)
		}
		if got := string(ctx.Response.Header.ContentType()); got != want[i].ContentType {
			t.Errorf("Accept %q: Content-Type %q, webob's %q", r.want.Accept, got, want[i].ContentType)
		}
		if got := ctx.Response.Header.Peek("Content-Language"); got != nil {
			t.Errorf("Content-Language %q: Glance sends none", got)
		}
	}
}

// TestKeystoneUnauthorizedTranslated: keystonemiddleware's 401 carries its
// message translated, in its own JSON, whatever the Accept header.
func TestKeystoneUnauthorizedTranslated(t *testing.T) {
	cats, err := i18n.Load(i18ntest.Locale(t))
	if err != nil {
		t.Fatal(err)
	}
	challenge := &policy.KeystoneChallenge{WWWAuthenticate: `Keystone uri="http://keystone/v3"`}
	for _, tc := range []struct{ lang, want string }{
		{"", policy.KeystoneUnauthorizedBody},
		{"fr", policy.KeystoneUnauthorizedBody},
		{"zh", `{"error": {"code": 401, "title": "Unauthorized", "message": "\u60a8\u53d1\u51fa\u7684\u8bf7\u6c42\u9700\u8981\u8ba4\u8bc1\u3002"}}`},
	} {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.Set("Accept", "text/html")
		if tc.lang != "" {
			ctx.Request.Header.Set("Accept-Language", tc.lang)
			ctx.SetUserValue(catalogsKey{}, cats)
		}
		writeError(&ctx, challenge)
		if got := string(ctx.Response.Body()); got != tc.want {
			t.Errorf("Accept-Language %q:\n got %s\nwant %s", tc.lang, got, tc.want)
		}
		if got, want := string(ctx.Response.Header.ContentType()), "application/json"; got != want || ctx.Response.StatusCode() != 401 {
			t.Errorf("Accept-Language %q: %d %s", tc.lang, ctx.Response.StatusCode(), got)
		}
	}
}

// BenchmarkNoAcceptLanguage is what localization adds to a request without
// Accept-Language when catalogs are configured: the catalogs kept for the
// request at its start ("ok": all a request that succeeds pays), and the
// lookups when an error is rendered ("error").
func BenchmarkNoAcceptLanguage(b *testing.B) {
	cats, err := i18n.Load(i18ntest.Locale(b))
	if err != nil {
		b.Fatal(err)
	}
	s := &Server{}
	s.SetCatalogs(cats)
	var ctx fasthttp.RequestCtx
	for _, h := range []string{"Host: spyglass", "X-Identity-Status: Confirmed", "X-Project-Id: p1", "X-User-Id: u1", "X-Roles: member", "Accept: text/html"} {
		k, v, _ := bytes.Cut([]byte(h), []byte(": "))
		ctx.Request.Header.SetBytesKV(k, v)
	}
	b.Run("ok", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			s.noteCatalogs(&ctx)
			ctx.ResetUserValues()
		}
	})
	b.Run("error", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			s.noteCatalogs(&ctx)
			if requestCatalog(&ctx) != nil {
				b.Fatal("a catalog without Accept-Language")
			}
			ctx.ResetUserValues()
		}
	})
}
