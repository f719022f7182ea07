package gateway

import (
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/spyglass-gateway/spyglass/backends"
)

// bufPool holds response body buffers. A buffer taken with bytebuf lives
// until the request ends (fasthttp keeps the RequestCtx's user values until
// then and closes them), so a handler may hand it to SetBodyRaw.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &pooledBuf{b: b} }}

type pooledBuf struct{ b []byte }

// Close returns the buffer to the pool; fasthttp calls it when the request
// is done (user values implementing io.Closer are closed).
func (p *pooledBuf) Close() error {
	if cap(p.b) <= 1<<20 {
		p.b = p.b[:0]
		bufPool.Put(p)
	}
	return nil
}

var bufKey = struct{ name string }{"gateway.buf"}

// bytebuf returns the request's scratch buffer, empty.
func bytebuf(ctx *fasthttp.RequestCtx) *[]byte {
	if v, ok := ctx.UserValue(bufKey).(*pooledBuf); ok {
		v.b = v.b[:0]
		return &v.b
	}
	p := bufPool.Get().(*pooledBuf)
	p.b = p.b[:0]
	ctx.SetUserValue(bufKey, p)
	return &p.b
}

// renderCache memoizes each image snapshot's rendering. Stores hand out
// immutable snapshots, so a rendering is valid for as long as the entry's
// snapshot pointer is the one the store returns.
type renderCache struct {
	// view is how locations are shown (the server's configuration), set
	// before the first request.
	view    locationView
	mu      sync.RWMutex
	entries map[string]*rendered
}

type rendered struct {
	img  *backends.Image
	body []byte
}

// maxRendered bounds the memo; past it the memo starts over (a cheap bound
// that keeps the hot set: it refills on the next requests).
const maxRendered = 200_000

func (r *renderCache) init() { r.entries = make(map[string]*rendered) }

func (r *renderCache) image(img *backends.Image) []byte {
	r.mu.RLock()
	e := r.entries[img.ID]
	r.mu.RUnlock()
	if e != nil && e.img == img {
		return e.body
	}
	e = &rendered{img: img, body: appendImageView(nil, img, r.view)}
	r.mu.Lock()
	if len(r.entries) >= maxRendered {
		r.entries = make(map[string]*rendered)
	}
	r.entries[img.ID] = e
	r.mu.Unlock()
	return e.body
}

func (r *renderCache) forget(id string) {
	r.mu.Lock()
	delete(r.entries, id)
	r.mu.Unlock()
}
