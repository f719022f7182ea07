package gateway_test

import (
	"encoding/json"
	"html"
	"strings"
	"testing"

	"github.com/spyglass-gateway/spyglass/gateway"
	"github.com/spyglass-gateway/spyglass/i18n"
	"github.com/spyglass-gateway/spyglass/i18n/i18ntest"
)

func loadTestCatalogs(t testing.TB) *i18n.Catalogs {
	t.Helper()
	cats, err := i18n.Load(i18ntest.Locale(t))
	if err != nil {
		t.Fatal(err)
	}
	return cats
}

// TestSeedLocalizedNotFound is the api-ref's "API Message Localization"
// example: curl -H 'Accept-Language: zh' -H 'Content-Type: application/json'
// .../v2/images/aaa, against a Spyglass given a zh_CN catalog, prints the
// 404 page with the message as XML character references. (The api-ref's
// Content-Length, 234, is from 2014's webob; its page lost its indentation
// to the reStructuredText. Today's webob writes these 223 bytes:
// TestTranslatedBodiesEscapeAsWebob compares with it.)
func TestSeedLocalizedNotFound(t *testing.T) {
	ts := startServerWith(t, "noauth", gateway.Config{Catalogs: loadTestCatalogs(t)})
	// curl's own Accept header.
	resp, body := ts.do(t, as{}, "GET", "/v2/images/aaa", nil, "Accept-Language", "zh", "Content-Type", "application/json", "Accept", "*/*")
	const want = "<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n <body>\n  <h1>404 Not Found</h1>\n  " +
		"&#25214;&#19981;&#21040;&#20219;&#20309;&#20855;&#26377;&#26631;&#35782; aaa &#30340;&#26144;&#20687;<br /><br />\n\n\n\n </body>\n</html>"
	if resp.StatusCode != 404 || string(body) != want {
		t.Errorf("%d\n got %q\nwant %q", resp.StatusCode, body, want)
	}
	if got, want := resp.Header.Get("Content-Type"), "text/html; charset=UTF-8"; got != want {
		t.Errorf("Content-Type %q, want %q", got, want)
	}
	if got, want := resp.ContentLength, int64(223); got != want {
		t.Errorf("Content-Length %d, want %d", got, want)
	}
	if got := resp.Header.Values("Content-Language"); got != nil {
		t.Errorf("Content-Language %q: Glance sends none", got)
	}
}

// TestErrorPathsLocalized: error paths of the API, asked for in Chinese,
// answer the catalog's text in each body shape; asked for without
// Accept-Language, or in a language with no catalog, they answer byte for
// byte what a Spyglass without catalogs answers.
func TestErrorPathsLocalized(t *testing.T) {
	cats := loadTestCatalogs(t)
	withCats := startServerWith(t, "trusted", gateway.Config{Catalogs: cats})
	without := startServer(t, "trusted")
	var ids [2]string
	for i, ts := range []*testServer{withCats, without} {
		// The same id on both, so that the bodies compare.
		img := ts.json(t, p1, "POST", "/v2/images", map[string]any{"id": "0a1b2c3d-0000-4000-8000-00000000000a", "name": "cirros", "disk_format": "qcow2", "container_format": "bare"}, 201)
		ids[i] = img["id"].(string)
	}
	id := ids[0]
	const missing = "0a1b2c3d-0000-4000-8000-000000000000"
	for _, tc := range []struct {
		method, path, body string
		status             int
		want               string // the translated message
	}{
		{"GET", "/v2/images/aaa", "", 404, "找不到任何具有标识 aaa 的映像"},
		{"GET", "/v2/images?limit=-1", "", 400, "limit 参数必须为正数"},
		{"GET", "/v2/images?limit=x", "", 400, "limit 参数必须为整数"},
		{"GET", "/v2/images?sort_dir=up", "", 400, "排序方向无效：up"},
		{"GET", "/v2/images?sort_key=foo", "", 400, "排序键 foo 无效。它必须是下列其中一项：name, status, container_format, disk_format, size, id, created_at, updated_at。"},
		{"GET", "/v2/images?created_at=gt:x", "", 400, "“created_at”查询过滤器格式不正确。请使用 ISO 8601 日期时间表示法。"},
		{"POST", "/v2/images", "{", 400, "请求主体中 JSON 的格式不正确。"},
		{"POST", "/v2/images", `{"min_ram":"x"}`, 400, "提供的对象与模式“image”不匹配：'x' 的类型不是 'integer'\n\nFailed validating 'type' in schema['properties']['min_ram']:"},
		{"POST", "/v2/images", `{"owner":"p2"}`, 403, "不允许您创建由“p2”拥有的映像。"},
		{"PUT", "/v2/images", "", 405, "此资源不允许使用方法 PUT。 "},
		{"DELETE", "/v2/images/" + missing, "", 404, "找不到要删除的映像 " + missing},
		{"GET", "/v2/tasks/" + missing, "", 403, "您无权完成 tasks_api_access 操作。"},
		{"GET", "/v2/images/" + id + "/members/p9", "", 404, "在映像 " + id + " 的成员列表中找不到 p9。"},
		{"POST", "/v2/images/" + id + "/import", "{}", 400, "导入请求需要“method”字段。"},
		{"PATCH", "/v2/images/" + id, `[{"op":"replace","path":"/id","value":"x"}]`, 403, "属性“id”是只读的。"},
	} {
		contentType := "application/json"
		if tc.method == "PATCH" {
			contentType = "application/openstack-images-v2.1-json-patch"
		}
		do := func(ts *testServer, accept, lang string) (int, string, string) {
			hdr := []string{"Content-Type", contentType}
			if accept != "" {
				hdr = append(hdr, "Accept", accept)
			}
			if lang != "" {
				hdr = append(hdr, "Accept-Language", lang)
			}
			resp, b := ts.do(t, p1, tc.method, tc.path, strings.NewReader(tc.body), hdr...)
			return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
		}
		for _, accept := range []string{"text/html", "application/json", ""} {
			name := tc.method + " " + tc.path + " Accept " + accept
			status, ct, body := do(withCats, accept, "zh-CN")
			if status != tc.status {
				t.Errorf("%s: %d, want %d", name, status, tc.status)
				continue
			}
			var text string
			switch {
			case strings.HasPrefix(ct, "text/html"):
				if strings.ContainsFunc(body, func(r rune) bool { return r > 0x7f }) {
					t.Errorf("%s: non-ASCII in the HTML page: %q", name, body)
				}
				text = html.UnescapeString(body)
			case strings.HasPrefix(ct, "application/json"):
				var v struct{ Message string }
				if err := json.Unmarshal([]byte(body), &v); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				text = v.Message
			default:
				text = body
			}
			if !strings.Contains(text, tc.want) {
				t.Errorf("%s: the message is not the catalog's:\n got %q\nwant it to hold %q", name, text, tc.want)
			}
			// Without the header, or in a language with no catalog (or
			// in English): the bytes of a Spyglass without catalogs.
			_, _, english := do(without, accept, "")
			for _, lang := range []string{"", "fr", "en-US, zh", "zh;q=2"} {
				if _, _, got := do(withCats, accept, lang); got != english {
					t.Errorf("%s, Accept-Language %q:\n got %q\nwant %q", name, lang, got, english)
				}
			}
		}
	}
}
