package gateway

import (
	"bytes"

	"github.com/valyala/fasthttp"

	"github.com/spyglass-gateway/spyglass/gateway/schemas"
)

// servedVersions is the version list of this server, as Glance's depends
// on image_cache_dir: with an image cache (the cache-management API is
// served) schemas.APIVersions, without one schemas.NoCacheVersions.
// With v1 (Config.EnableV1), schemas.V1Versions follow, as Queens listed
// them after its v2 ones.
func servedVersions(cfg *Config) []schemas.Version {
	v := schemas.NoCacheVersions
	if cfg.ImageCache != nil {
		v = schemas.APIVersions
	}
	if cfg.EnableV1 {
		v = append(append([]schemas.Version(nil), v...), schemas.V1Versions...)
	}
	return v
}

// servesVersion reports whether a URL segment or media-type suffix names a
// version this server lists: Glance's VersionNegotiationFilter accepts
// "v2" and exactly the versions its document lists, and answers 300 with
// the document for anything else (/v2.16 without a cache, /v2.01, /V2).
func (s *Server) servesVersion(v []byte) bool {
	if string(v) == "v2" {
		return true
	}
	if string(v) == "v1" {
		// Queens' _get_allowed_versions: v1, v1.0 and v1.1 with
		// enable_v1_api.
		return s.cfg.EnableV1
	}
	for _, av := range s.versions {
		if string(v) == av.ID {
			return true
		}
	}
	return false
}

// writeVersions answers Glance's version document, 300 for a request that
// named no version this server serves and 200 for /versions, with links
// built from the request's host as Glance builds them.
func (s *Server) writeVersions(ctx *fasthttp.RequestCtx, status int) {
	ctx.SetStatusCode(status)
	ctx.Response.Header.SetContentTypeBytes(ctJSON)
	ctx.Response.SetBodyRaw(schemas.VersionsDocument(hostURL(ctx), s.versions))
}

// getSchema serves /v2/schemas/{name...}: name is the rest of the path,
// its segments joined by single slashes as Glance's routes see them.
func (s *Server) getSchema(c *call, name []byte) {
	var seg [maxSegments][]byte
	n, _ := segments(name, &seg)
	doc := schemas.Schema(string(bytes.Join(seg[:n], []byte("/"))))
	if doc == nil {
		s.notFound(c)
		return
	}
	c.ctx.Response.Header.SetContentTypeBytes(ctJSON)
	c.ctx.Response.SetBodyRaw(doc)
}
