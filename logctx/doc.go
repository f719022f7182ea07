// Package logctx puts the request id on every log line written while a
// request is handled, without a logger per request: the id travels in the
// context.Context every layer already passes down, and Handler, wrapped
// around the process's slog handler, reads it back when (and only when) a
// record is actually written.
//
//	log := slog.New(logctx.NewHandler(slog.NewJSONHandler(os.Stderr, opts)))
//	ctx = logctx.WithRequestID(ctx, "req-…")         // or a context answering Key
//	log.WarnContext(ctx, "region failed", "region", r) // … request_id=req-…
//
// Log calls about a request must use slog's *Context variants with the
// request's context; a line logged without one carries no id.
package logctx
