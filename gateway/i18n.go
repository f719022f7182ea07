package gateway

import (
	"github.com/valyala/fasthttp"

	"github.com/spyglass-gateway/spyglass/i18n"
)

// Messages are localized where errors are rendered (errors.go), from the
// catalogs the server was given (Config.Catalogs, SetCatalogs). Every
// request carries the catalogs in force when it came in (a user value: the
// error renderers see only the request); Accept-Language is read, and the
// language negotiated, when and if a message is rendered. A request that
// succeeds costs one user value set (a lookup of the absent header would
// cost several times more: fasthttp normalizes the name it is given), and
// nothing at all when no catalogs are configured.

// catalogsKey is the user value holding a request's *i18n.Catalogs.
type catalogsKey struct{}

// noteCatalogs keeps, for the request, the catalogs in force.
func (s *Server) noteCatalogs(ctx *fasthttp.RequestCtx) {
	if cats := s.catalogs.Load(); cats != nil {
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
	header := ctx.Request.Header.Peek(fasthttp.HeaderAcceptLanguage)
	if len(header) == 0 {
		return nil
	}
	return cats.Negotiate(header)
}

// SetCatalogs replaces the message catalogs (reloaded on SIGHUP): requests
// that start after it use c; nil means English only.
func (s *Server) SetCatalogs(c *i18n.Catalogs) {
	s.catalogs.Store(c)
}
