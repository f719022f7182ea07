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
//
// The same handler keeps credentials out of the log, in one place rather
// than at every call: tokens in header dumps, URL userinfo, the query
// parameters of signed URLs (Redact), and the secrets of the configuration
// it is given:
//
//	h := logctx.NewHandler(next, cfg.Auth.Keystone.Password, cfg.Redis.Password)
//
// Whatever else writes text from requests or configuration outside a log
// line (span attributes and errors, a message printed on stderr) calls
// Redact itself; text quoting a request's raw bytes, where a token has no
// recognisable place, goes through RedactQuoted.
package logctx
