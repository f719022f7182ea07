package gateway

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/spyglass-gateway/spyglass/backends"
)

// requestBody is a request's body as the handlers read it: the one place
// the body stream is read. It answers two things fasthttp's stream does
// not:
//
//   - A body that does not end as HTTP says it ends — fewer bytes than its
//     Content-Length, or a chunked body whose last (zero) chunk never came
//     because the client went away — fails with errBodyCut. fasthttp's
//     request stream ends both with a plain io.EOF (at a chunk boundary
//     its chunk-size reader takes the closed connection for the end), and
//     an upload that took that for the end would store the bytes received
//     so far as the whole image. A chunked stream that saw its last chunk
//     is done: reading it again does not touch the connection. One cut
//     off at a chunk boundary is not: reading it again reads the closed
//     connection once more (clientConn counts those reads). The last
//     chunk with its trailer section cut short is complete, as in Glance.
//   - After finish, reads fail: a reader handed to another goroutine (the
//     http.Client that streams an upload to a region may still read after
//     its round trip returned, e.g. when the region answered 409 before
//     reading) must not touch the stream fasthttp drains once the handler
//     returns. finish waits for a read in progress.
type requestBody struct {
	mu     sync.Mutex
	ctx    *fasthttp.RequestCtx
	r      io.Reader   // nil once finished
	conn   *clientConn // nil: the request did not come over a clientConn
	length int64       // Content-Length; -1: chunked
	n      int64       // bytes read
	err    error       // the first error, returned again
	// stall, when set, bounds each wait for the client's next bytes
	// instead of the whole body (fasthttp's ReadTimeout, armed when the
	// request began): an upload takes as long as it takes.
	stall time.Duration
}

// errBodyCut is the client's body ending before HTTP says it ends, or
// failing to be read at all: the client's fault (400), never the store's.
var errBodyCut = backends.Errorf(backends.ErrBadRequest, "The request body was cut off: it ended before its end (fewer bytes than its Content-Length, or a chunked body without its last chunk), or could not be read.")

// errBodyFinished is what a read after finish gets.
var errBodyFinished = errors.New("gateway: request body read after the handler was done with it")

func (s *Server) requestBody(c *call) *requestBody {
	req := &c.ctx.Request
	b := &requestBody{ctx: c.ctx, length: int64(req.Header.ContentLength())}
	if r := c.ctx.RequestBodyStream(); r != nil {
		b.r = r
		b.conn, _ = c.ctx.Conn().(*clientConn)
	} else {
		// fasthttp read it whole: it is complete.
		body := req.Body()
		b.r, b.length = bytes.NewReader(body), int64(len(body))
	}
	return b
}

func (b *requestBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	if b.r == nil {
		return 0, errBodyFinished
	}
	if b.stall > 0 && b.conn != nil {
		b.conn.SetReadDeadline(time.Now().Add(b.stall))
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	switch {
	case err == nil:
	case err == io.EOF:
		if (b.length >= 0 && b.n < b.length) || (b.length == -1 && b.chunkedCut()) {
			err = errBodyCut
		}
	default:
		// A broken chunk, a reset, a read timeout: the body cannot be
		// read to its end.
		err = errBodyCut
	}
	if err != nil {
		b.err = err
	}
	return n, err
}

// chunkedCut tells, at a chunked stream's io.EOF, whether the stream ended
// because the client closed the connection before the last chunk.
func (b *requestBody) chunkedCut() bool {
	if b.conn == nil {
		return false // no way to tell; in memory, nothing is cut
	}
	eofs := b.conn.eofs.Load()
	if eofs == 0 {
		return false // the connection is open: the last chunk ended it
	}
	b.r.Read(nil)
	return b.conn.eofs.Load() != eofs
}

// finish ends the body's use: later reads fail, and the stream is
// fasthttp's again. A body that failed ends the connection with the
// answer: where the next request would start is unknown.
func (b *requestBody) finish() {
	b.mu.Lock()
	b.r = nil
	if b.err == errBodyCut {
		b.ctx.SetConnectionClose()
	}
	if b.err == nil {
		b.err = errBodyFinished
	}
	b.mu.Unlock()
}
