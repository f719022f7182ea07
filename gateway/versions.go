package gateway

import (
	"bytes"

	"github.com/valyala/fasthttp"

	"github.com/spyglass-gateway/spyglass/gateway/schemas"
)

// knownVersion reports whether a URL segment or media-type suffix names a
// version the router serves ("v2" or one of schemas.APIVersions).
func knownVersion(v []byte) bool {
	if string(v) == "v2" {
		return true
	}
	for _, av := range schemas.APIVersions {
		if string(v) == av.ID {
			return true
		}
	}
	return false
}

// writeVersions answers Glance's version document, 300 for a request that
// named no known version and 200 for /versions, with links built from the
// request's host as Glance builds them.
func (s *Server) writeVersions(ctx *fasthttp.RequestCtx, status int) {
	ctx.SetStatusCode(status)
	ctx.Response.Header.SetContentTypeBytes(ctJSON)
	ctx.Response.SetBodyRaw(schemas.Versions(hostURL(ctx)))
}

// getSchema serves /v2/schemas/{name...}.
func (s *Server) getSchema(c *call, seg [][]byte) {
	doc := schemas.Schema(string(bytes.Join(seg, []byte("/"))))
	if doc == nil {
		s.notFound(c)
		return
	}
	c.ctx.Response.Header.SetContentTypeBytes(ctJSON)
	c.ctx.Response.SetBodyRaw(doc)
}
