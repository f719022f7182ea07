package gateway

import (
	"github.com/valyala/fasthttp"

	"github.com/spyglass-gateway/spyglass/i18n"
)

// Messages are localized where errors are rendered (errors.go), from the
// catalogs the server was given (Config.Catalogs, SetCatalogs). A request
// that sends Accept-Language carries the catalogs in force when it came in
// (a user value: the error renderers see only the request); the language is
// negotiated when, and if, a message is rendered. A request without the
// header costs one header lookup, and nothing at all when no catalogs are
// configured.

// catalogsKey is the user value holding a request's *i18n.Catalogs.
type catalogsKey struct{}

// noteLanguage keeps the catalogs for a request that asks for a language.
func (s *Server) noteLanguage(ctx *fasthttp.RequestCtx) {
	cats := s.catalogs.Load()
	if cats == nil {
		return
	}
	if len(ctx.Request.Header.Peek(fasthttp.HeaderAcceptLanguage)) > 0 {
		ctx.SetUserValue(catalogsKey{}, cats)
	}
}

// requestCatalog is the catalog of the language the request asked for; nil
// (English) when it asked for none or for one there is no catalog of.
func requestCatalog(ctx *fasthttp.RequestCtx) *i18n.Catalog {
	cats, _ := ctx.UserValue(catalogsKey{}).(*i18n.Catalogs)
	if cats == nil {
		return nil
	}
	return cats.Negotiate(ctx.Request.Header.Peek(fasthttp.HeaderAcceptLanguage))
}

// SetCatalogs replaces the message catalogs (reloaded on SIGHUP): requests
// that start after it use c; nil means English only.
func (s *Server) SetCatalogs(c *i18n.Catalogs) {
	s.catalogs.Store(c)
}
