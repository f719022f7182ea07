package gateway

import (
	"github.com/valyala/fasthttp"
)

// apiVersions are the Images API versions Spyglass serves, newest first,
// with the status Glance's versions document gives each.
var apiVersions = []struct{ id, status string }{
	{"v2.16", "CURRENT"},
	{"v2.15", "SUPPORTED"},
	{"v2.14", "SUPPORTED"},
	{"v2.13", "SUPPORTED"},
	{"v2.12", "SUPPORTED"},
	{"v2.11", "SUPPORTED"},
	{"v2.10", "SUPPORTED"},
	{"v2.9", "SUPPORTED"},
	{"v2.8", "SUPPORTED"},
	{"v2.7", "SUPPORTED"},
	{"v2.6", "SUPPORTED"},
	{"v2.5", "SUPPORTED"},
	{"v2.4", "SUPPORTED"},
	{"v2.3", "SUPPORTED"},
	{"v2.2", "SUPPORTED"},
	{"v2.1", "SUPPORTED"},
	{"v2.0", "SUPPORTED"},
}

// knownVersion reports whether a URL segment or media-type suffix names a
// version the router serves ("v2" or one of apiVersions).
func knownVersion(v []byte) bool {
	if string(v) == "v2" {
		return true
	}
	for _, av := range apiVersions {
		if string(v) == av.id {
			return true
		}
	}
	return false
}

// writeVersions answers Glance's version document, 300 for a request that
// named no known version and 200 for /versions, with links built from the
// request's host as Glance builds them.
func (s *Server) writeVersions(ctx *fasthttp.RequestCtx, status int) {
	base := hostURL(ctx)
	buf := bytebuf(ctx)
	b := append(*buf, `{"versions": [`...)
	for i, v := range apiVersions {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, `{"id": "`...)
		b = append(b, v.id...)
		b = append(b, `", "status": "`...)
		b = append(b, v.status...)
		b = append(b, `", "links": [{"rel": "self", "href": `...)
		b = appendJSONString(b, base+"/v2/")
		b = append(b, `}]}`...)
	}
	b = append(b, "]}"...)
	*buf = b
	ctx.SetStatusCode(status)
	ctx.Response.Header.SetContentTypeBytes(ctJSON)
	ctx.Response.SetBodyRaw(b)
}

// getSchema serves /v2/schemas/{name}.
func (s *Server) getSchema(c *call, seg [][]byte) {
	doc := schemaDocument(seg)
	if doc == nil {
		s.notFound(c)
		return
	}
	c.ctx.Response.Header.SetContentTypeBytes(ctJSON)
	c.ctx.Response.SetBodyRaw(doc)
}
