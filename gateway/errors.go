package gateway

import (
	"bytes"
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/policy"
)

// statusTitles are webob's reason phrases, which Glance puts in error bodies.
var statusTitles = map[int]string{
	300: "Multiple Choices",
	400: "Bad Request",
	401: "Unauthorized",
	403: "Forbidden",
	404: "Not Found",
	405: "Method Not Allowed",
	409: "Conflict",
	410: "Gone",
	411: "Length Required",
	413: "Request Entity Too Large",
	415: "Unsupported Media Type",
	416: "Request Range Not Satisfiable",
	431: "Request Header Fields Too Large",
	500: "Internal Server Error",
	501: "Not Implemented",
	503: "Service Unavailable",
}

// defaultExplanations are webob's explanations for an exception raised
// without one (e.g. a bare HTTPNotFound()).
var defaultExplanations = map[int]string{
	400: "The server could not comply with the request since it is either malformed or otherwise incorrect.",
	401: "This server could not verify that you are authorized to access the document you requested. Either you supplied the wrong credentials (e.g., bad password), or your browser does not understand how to supply the credentials required.",
	403: "Access was denied to this resource.",
	404: "The resource could not be found.",
	409: "There was a conflict when trying to complete your request.",
	411: "Content-Length header required.",
	413: "The request is larger than the server is willing or able to process.",
	415: "The request media type is not supported by this server.",
	416: "The Range requested is not available.",
	500: "The server has either erred or is incapable of performing the requested operation.",
	501: "The server has not implemented the requested operation.",
	503: "The server is currently unavailable. Please try again at a later time.",
}

// httpError is an error that already knows its status; handlers use it for
// conditions that belong to HTTP itself (a bad Content-Type, a 416).
type httpError struct {
	status      int
	explanation string
	detail      bool // explanation is webob's detail (see backends.Error.Detail)
	bare        bool // the body is the explanation alone, without webob's template
}

func (e *httpError) Error() string { return e.explanation }

func errStatus(status int, explanation string) error {
	return &httpError{status: status, explanation: explanation}
}

// errDetail is errStatus for Glance's webob exceptions raised with a
// positional message (the "detail").
func errDetail(status int, detail string) error {
	return &httpError{status: status, explanation: detail, detail: true}
}

// statusOf maps every error the gateway can meet to a status code and the
// explanation shown to the client: the one place that does so.
func statusOf(err error) (int, string) {
	status, explanation, _ := classify(err)
	return status, explanation
}

// ErrorJSON is err as the Images API answers it to a client that accepts
// JSON: the status and Glance's (webob's) JSON body, from this file's one
// map. It is for the listeners outside this server that speak Glance's
// error shape (the admin listener), so that they keep no table of their
// own.
func ErrorJSON(err error) (status int, body []byte) {
	status, text, isDetail := classify(err)
	explanation, detail := text, ""
	if isDetail {
		explanation, detail = defaultExplanations[status], text
	}
	body, _ = appendErrorBody(nil, formatJSON, status, explanation, detail, templateOf(err, status))
	return status, body
}

// classify is statusOf that also tells whether the text is a detail.
func classify(err error) (int, string, bool) {
	var he *httpError
	if errors.As(err, &he) {
		if he.bare {
			return he.status, he.explanation, false
		}
		return he.status, he.explanation, he.detail
	}
	explanation, detail := "", false
	var be *backends.Error
	if errors.As(err, &be) {
		explanation, detail = be.Explanation, be.Detail
	}
	status := 500
	switch {
	case errors.Is(err, policy.ErrUnauthenticated), errors.Is(err, backends.ErrUnauthorized):
		status = 401
	case errors.Is(err, policy.ErrRequestIDTooLong):
		return 431, policy.ErrRequestIDTooLong.Error(), false
	case errors.Is(err, policy.ErrKeystoneUnavailable):
		// keystonemiddleware's HTTPServiceUnavailable(detail).
		return 503, policy.ErrKeystoneUnavailable.Error(), true
	case errors.Is(err, backends.ErrNotFound):
		status = 404
	case errors.Is(err, backends.ErrMarkerNotFound):
		status = 400
	case errors.Is(err, backends.ErrBadRequest):
		status = 400
	case errors.Is(err, backends.ErrForbidden):
		status = 403
	case errors.Is(err, backends.ErrConflict):
		status = 409
	case errors.Is(err, backends.ErrTooLarge), errors.Is(err, backends.ErrQuota):
		status = 413
	case errors.Is(err, backends.ErrUnsupportedMedia):
		status = 415
	case errors.Is(err, backends.ErrUnavailable):
		status = 503
	}
	if explanation == "" {
		explanation, detail = defaultExplanations[status], false
	}
	return status, explanation, detail
}

// writeError renders err as Glance (webob) does: HTML, JSON or plain text
// depending on the request's Accept header.
func writeError(ctx *fasthttp.RequestCtx, err error) {
	var challenge *policy.KeystoneChallenge
	if errors.As(err, &challenge) {
		// keystonemiddleware's 401: its own JSON body whatever the Accept
		// header, and where to get a token.
		ctx.Response.ResetBody()
		ctx.Response.SetStatusCode(401)
		ctx.Response.Header.Set("WWW-Authenticate", challenge.WWWAuthenticate)
		ctx.Response.Header.SetContentType("application/json")
		if cat := requestCatalog(ctx); cat != nil {
			buf := bytebuf(ctx)
			*buf = appendKeystoneUnauthorized((*buf)[:0], cat.Translate(policy.KeystoneUnauthorizedMessage))
			ctx.Response.SetBodyRaw(*buf)
			return
		}
		ctx.Response.SetBodyString(policy.KeystoneUnauthorizedBody)
		return
	}
	status, text, isDetail := classify(err)
	if status == 500 {
		logInternal(ctx, err)
	}
	tpl := templateOf(err, status)
	if isDetail {
		writeErrorBody(ctx, status, defaultExplanations[status], text, tpl)
		return
	}
	writeErrorBody(ctx, status, text, "", tpl)
}

// templateOf is the shape of err's message: the status's, or the bare
// explanation of an httpError that asks for it.
func templateOf(err error, status int) webobTemplate {
	var he *httpError
	if errors.As(err, &he) && he.bare {
		return tplBare
	}
	return templateFor(status)
}

// webobTemplate is the shape of webob's error message for a status.
type webobTemplate uint8

const (
	// tplDefault: explanation + "<br /><br />\n" + detail + "\n" + comment + "\n".
	tplDefault webobTemplate = iota
	// tplMethod: 405's "explanation<br /><br />\n".
	tplMethod
	// tplMedia: 415's "explanation\n<br /><br />\n".
	tplMedia
	// tplBare: the explanation alone (Glance's own 405 for DELETE
	// /v2/tasks/{id}).
	tplBare
)

func templateFor(status int) webobTemplate {
	switch status {
	case 405:
		return tplMethod
	case 415:
		return tplMedia
	}
	return tplDefault
}

// appendWebobMessage appends webob's message; html escapes the texts (not
// the markup) for the HTML page.
func appendWebobMessage(dst []byte, tpl webobTemplate, explanation, detail string, html bool) []byte {
	text := func(dst []byte, s string) []byte {
		if html {
			return appendHTMLEscaped(dst, s)
		}
		return append(dst, s...)
	}
	dst = text(dst, explanation)
	switch tpl {
	case tplMethod:
		dst = append(dst, "<br /><br />\n"...)
	case tplMedia:
		dst = append(dst, "\n<br /><br />\n"...)
	case tplDefault:
		dst = append(dst, "<br /><br />\n"...)
		dst = text(dst, detail)
		dst = append(dst, "\n\n"...)
	}
	return dst
}

// writeErrorBody renders webob's error page as HTML, JSON or plain text,
// as the request's Accept header asks.
func writeErrorBody(ctx *fasthttp.RequestCtx, status int, explanation, detail string, tpl webobTemplate) {
	resp := &ctx.Response
	resp.ResetBody()
	resp.SetStatusCode(status)
	// Each text is looked up by the English it was formatted from, as
	// oslo_i18n.translate does when webob renders a lazy message.
	if cat := requestCatalog(ctx); cat != nil {
		explanation, detail = cat.Translate(explanation), cat.Translate(detail)
	}
	format := webobFormat(ctx.Request.Header.Peek("Accept"))
	if ctx.IsHead() {
		format = formatHTML
	}
	buf := bytebuf(ctx)
	b, contentType := appendErrorBody(*buf, format, status, explanation, detail, tpl)
	*buf = b
	resp.Header.SetContentType(contentType)
	resp.SetBodyRaw(b)
}

// appendErrorBody appends webob's error page for status in format, and
// says its Content-Type.
func appendErrorBody(b []byte, format errorFormat, status int, explanation, detail string, tpl webobTemplate) ([]byte, string) {
	title := statusTitles[status]
	if title == "" {
		title = fasthttp.StatusMessage(status)
	}
	code := strconv.Itoa(status) + " " + title
	switch format {
	case formatHTML:
		b = append(b, "<html>\n <head>\n  <title>"...)
		b = append(b, code...)
		b = append(b, "</title>\n </head>\n <body>\n  <h1>"...)
		b = append(b, code...)
		b = append(b, "</h1>\n  "...)
		b = appendWebobMessage(b, tpl, explanation, detail, true)
		b = append(b, "\n </body>\n</html>"...)
		return b, "text/html; charset=UTF-8"
	case formatJSON:
		b = append(b, `{"message": `...)
		b = appendJSONString(b, string(appendWebobMessage(nil, tpl, explanation, detail, false)))
		b = append(b, `, "code": `...)
		b = appendJSONString(b, code)
		b = append(b, `, "title": `...)
		b = appendJSONString(b, title)
		b = append(b, '}')
		return b, "application/json"
	}
	// webob's plain text is the HTML message with its newlines made
	// spaces and its <br /> newlines.
	b = append(b, code...)
	b = append(b, "\n\n"...)
	b = append(b, explanation...)
	switch tpl {
	case tplMethod:
		b = append(b, "\n\n "...)
	case tplMedia:
		b = append(b, " \n\n "...)
	default:
		b = append(b, "\n\n "...)
		b = append(b, detail...)
		b = append(b, "  "...)
	}
	return b, "text/plain; charset=UTF-8"
}

// appendKeystoneUnauthorized is policy.KeystoneUnauthorizedBody with the
// message given (translated): keystonemiddleware's json.dumps, non-ASCII
// escaped.
func appendKeystoneUnauthorized(dst []byte, message string) []byte {
	dst = append(dst, `{"error": {"code": 401, "title": "Unauthorized", "message": `...)
	dst = appendJSONString(dst, message)
	return append(dst, "}}"...)
}

// appendHTMLEscaped escapes s as webob's html_escape does: html.escape with
// quotes, then every non-ASCII character as a decimal XML character
// reference (str.encode('ascii', 'xmlcharrefreplace')).
func appendHTMLEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			dst = append(dst, "&#"...)
			dst = strconv.AppendInt(dst, int64(r), 10)
			dst = append(dst, ';')
			i += size - 1
			continue
		}
		switch c := s[i]; c {
		case '<':
			dst = append(dst, "&lt;"...)
		case '>':
			dst = append(dst, "&gt;"...)
		case '&':
			dst = append(dst, "&amp;"...)
		case '\'':
			dst = append(dst, "&#x27;"...)
		case '"':
			dst = append(dst, "&quot;"...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

type errorFormat uint8

const (
	formatPlain errorFormat = iota
	formatHTML
	formatJSON
)

// webobFormat picks webob's error format: the better of text/html and
// application/json by the Accept header's q-values (text/html first on a
// tie), text/plain when neither is acceptable or there is no Accept header.
func webobFormat(accept []byte) errorFormat {
	if len(accept) == 0 {
		return formatPlain
	}
	qHTML := acceptQ(accept, "text", "html")
	qJSON := acceptQ(accept, "application", "json")
	switch {
	case qHTML <= 0 && qJSON <= 0:
		return formatPlain
	case qJSON > qHTML:
		return formatJSON
	default:
		return formatHTML
	}
}

// acceptQ is the q-value the Accept header gives type/subtype: the q of the
// most specific matching range, 0 when none matches.
func acceptQ(accept []byte, typ, sub string) float64 {
	best, bestSpec := 0.0, -1
	for len(accept) > 0 {
		var item []byte
		if i := bytes.IndexByte(accept, ','); i >= 0 {
			item, accept = accept[:i], accept[i+1:]
		} else {
			item, accept = accept, nil
		}
		params := item
		mr := item
		if i := bytes.IndexByte(item, ';'); i >= 0 {
			mr, params = item[:i], item[i+1:]
		} else {
			params = nil
		}
		mr = bytes.TrimSpace(mr)
		slash := bytes.IndexByte(mr, '/')
		if slash < 0 {
			continue
		}
		t, s := mr[:slash], mr[slash+1:]
		spec := 0
		switch {
		case bytes.Equal(t, []byte("*")) && bytes.Equal(s, []byte("*")):
			spec = 0
		case bytes.EqualFold(t, []byte(typ)) && bytes.Equal(s, []byte("*")):
			spec = 1
		case bytes.EqualFold(t, []byte(typ)) && bytes.EqualFold(s, []byte(sub)):
			spec = 2
		default:
			continue
		}
		q := 1.0
		for len(params) > 0 {
			var p []byte
			if i := bytes.IndexByte(params, ';'); i >= 0 {
				p, params = params[:i], params[i+1:]
			} else {
				p, params = params, nil
			}
			p = bytes.TrimSpace(p)
			if len(p) > 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=' {
				if v, err := strconv.ParseFloat(string(p[2:]), 64); err == nil {
					q = v
				}
			}
		}
		if spec > bestSpec {
			best, bestSpec = q, spec
		}
	}
	return best
}
