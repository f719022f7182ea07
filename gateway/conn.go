package gateway

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// clientConn is the server's side of a client's TCP connection. It knows
// two things fasthttp does not tell:
//
//   - how often a read found the client had stopped sending (its FIN):
//     this tells a chunked body cut off before its last chunk, which
//     fasthttp reports as a clean end, from a complete one (requestBody);
//   - whether a request on it streamed a body, of which the handler may
//     have read nothing (a 404 for a PUT to a missing image, a 409 for a
//     second upload): closing a socket that still has unread data makes
//     the kernel send a reset, and a client still sending its body gets
//     "connection reset" instead of the answer. Close then closes as
//     nginx's lingering close does: the answer, then FIN, then what the
//     client still sends is read and dropped until it closes too (or
//     lingerIdle passes without a byte, or lingerTime in all).
//
// It embeds the *net.TCPConn, so fasthttp still sends files with sendfile
// (ReadFrom).
type clientConn struct {
	*net.TCPConn
	eofs     atomic.Uint32 // reads that returned io.EOF
	streamed atomic.Bool   // a request on it had a streamed body
	closing  atomic.Bool
}

// lingerIdle and lingerTime bound the drain after an early answer (nginx's
// lingering_timeout and lingering_time): a client still sending when
// lingerTime is over gets the reset after all.
const (
	lingerIdle = 5 * time.Second
	lingerTime = 30 * time.Second
)

func (c *clientConn) Read(p []byte) (int, error) {
	n, err := c.TCPConn.Read(p)
	if err == io.EOF {
		c.eofs.Add(1)
	}
	return n, err
}

// Close closes at once when nothing can be left unread; otherwise it
// half-closes now and lingers in the background.
func (c *clientConn) Close() error {
	if !c.closing.CompareAndSwap(false, true) {
		return nil
	}
	if !c.streamed.Load() || c.eofs.Load() > 0 {
		return c.TCPConn.Close()
	}
	if err := c.TCPConn.CloseWrite(); err != nil {
		return c.TCPConn.Close()
	}
	go c.linger()
	return nil
}

var lingerBufs = sync.Pool{New: func() any { return new([32 << 10]byte) }}

func (c *clientConn) linger() {
	defer c.TCPConn.Close()
	buf := lingerBufs.Get().(*[32 << 10]byte)
	defer lingerBufs.Put(buf)
	end := time.Now().Add(lingerTime)
	for {
		deadline := time.Now().Add(lingerIdle)
		if deadline.After(end) {
			deadline = end
		}
		if c.TCPConn.SetReadDeadline(deadline) != nil {
			return
		}
		if _, err := c.TCPConn.Read(buf[:]); err != nil {
			return
		}
	}
}

// noteStreamedBody marks the request's connection as one whose close must
// linger: its body streams, and the handler may leave some of it unread.
func noteStreamedBody(ctx *fasthttp.RequestCtx) {
	if cc, ok := ctx.Conn().(*clientConn); ok && !cc.streamed.Load() {
		cc.streamed.Store(true)
	}
}

// clientListener hands out clientConns.
type clientListener struct{ net.Listener }

func (l clientListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		return &clientConn{TCPConn: tc}, nil
	}
	return c, nil
}
