package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strconv"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/policy"
)

// sectionData is the optional capability of a Data whose bytes arrive over
// time — a remote region's stream, a blob still being filled: Section
// streams [off, off+n) as the bytes exist, where io.ReaderAt would wait to
// fill whole buffers. It returns once the bytes' source has answered (a
// region with its headers; a fill once its origin did), before any byte:
// its error is that source failing before it answered. Closing the reader
// does not close the Data.
type sectionData interface {
	Section(ctx context.Context, off, n int64) (io.ReadCloser, error)
}

// fileData is the optional capability of a Data backed by one open file of
// its own: the gateway hands the file to fasthttp, which sends it with
// sendfile and closes it (so closing the file must release the Data).
type fileData interface {
	File() *os.File
}

func (s *Server) download(c *call, id string) {
	img, err := s.lookup(c, id)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	if img.Status == backends.StatusDeactivated && !c.id.IsAdmin {
		writeError(c.ctx, errStatus(403, "The requested image has been deactivated. Image data download is forbidden."))
		return
	}
	if err := s.authorizeImage(c, policy.DownloadImage, img); err != nil {
		writeError(c.ctx, err)
		return
	}
	data, err := s.cat.Data.OpenData(c, img)
	if err != nil {
		if errors.Is(err, backends.ErrNoData) {
			c.ctx.SetStatusCode(204)
			return
		}
		writeError(c.ctx, err)
		return
	}
	size := data.Size()
	start, n, partial, err := downloadSpan(&c.ctx.Request.Header, size)
	if err != nil {
		data.Close()
		writeError(c.ctx, err)
		return
	}
	var body io.Reader
	if fd, ok := data.(fileData); ok {
		f := fd.File()
		if _, err := f.Seek(start, io.SeekStart); err == nil {
			// fasthttp sends an *os.File with sendfile and closes it.
			body = f
		}
	}
	if body == nil {
		// The status goes out once the store's source has answered (as a
		// proxy's goes out with its origin's headers), so a source that
		// fails before that is answered as such, not with a connection
		// closed before any status line.
		r, err := s.openData(c, data, start, n)
		if err != nil {
			data.Close()
			writeError(c.ctx, dataUnavailable(err))
			return
		}
		body = r
		// The status is sent now, not when the first buffer's worth of
		// bytes is: a stream cut short after it is still an answer.
		c.ctx.Response.ImmediateHeaderFlush = true
	}
	h := &c.ctx.Response.Header
	h.SetContentTypeBytes(ctOctetStream)
	if img.Checksum != nil {
		h.Set("Content-MD5", *img.Checksum)
	}
	if partial {
		c.ctx.SetStatusCode(206)
		var cr []byte
		cr = append(cr, "bytes "...)
		cr = strconv.AppendInt(cr, start, 10)
		cr = append(cr, '-')
		cr = strconv.AppendInt(cr, start+n-1, 10)
		cr = append(cr, '/')
		cr = strconv.AppendInt(cr, size, 10)
		h.SetBytesV("Content-Range", cr)
	}
	s.metrics.dataSent(data, n)
	c.ctx.Response.SetBodyStream(body, int(n))
}

// downloadSpan is the part of the image a download answers: Range, else
// Content-Range (as Glance), else all of it. n is the Content-Length.
func downloadSpan(h *fasthttp.RequestHeader, size int64) (start, n int64, partial bool, err error) {
	if rangeHdr := h.Peek("Range"); rangeHdr != nil {
		start, n, partial, err = ParseRange(rangeHdr, size)
		if err != nil || partial {
			return start, n, partial, err
		}
	} else if cr := h.Peek("Content-Range"); cr != nil {
		start, n, err = ParseContentRange(cr, size)
		return start, n, err == nil, err
	}
	return 0, size, false, nil
}

// openData opens [start, start+n) of data to stream, once its source has
// answered: an error here is the store failing before anything was sent.
// A section's source answers with Section (a region's headers, a fill's
// origin's); a Data read at offsets has no answer but its first bytes,
// which are read first (prime).
func (s *Server) openData(c *call, data backends.Data, start, n int64) (*dataReader, error) {
	d := &dataReader{left: n, metrics: s.metrics, fromCache: fromCache(data)}
	if sd, ok := data.(sectionData); ok {
		// The stream outlives the handler: fasthttp reads it after we
		// return, so it must not end with the request's context.
		r, err := sd.Section(context.WithoutCancel(c), start, n)
		if err != nil {
			return nil, err
		}
		d.r, d.c = r, closeBoth{r, data}
		return d, nil
	}
	d.r, d.c = io.NewSectionReader(data, start, n), data
	if err := d.prime(); err != nil {
		return nil, err
	}
	return d, nil
}

// dataUnavailable is what a download answers when the image's data cannot
// be read before anything was sent: a condition the store named (the image
// is gone, its data is), else Glance's 503 for a store whose remote server
// is unavailable (glance_store's RemoteServiceUnavailable, as its http
// store raises for a server it cannot reach): the image is there, its
// bytes are not, now.
func dataUnavailable(err error) error {
	if errors.Is(err, backends.ErrNotFound) || errors.Is(err, backends.ErrForbidden) || errors.Is(err, backends.ErrUnauthorized) {
		return err
	}
	return errRemoteUnavailable
}

var errRemoteUnavailable = errStatus(503, "Remote server where the image is present is unavailable.")

// closeBoth closes a section's reader, then its Data.
type closeBoth struct{ r, d io.Closer }

func (c closeBoth) Close() error {
	err := c.r.Close()
	if derr := c.d.Close(); err == nil {
		err = derr
	}
	return err
}

// dataReader streams a Data section and closes the Data when fasthttp is
// done with it. A failure after the status was sent can only cut the
// stream short, which the client sees as a body shorter than its
// Content-Length and the metrics count (MetricDownloadsCut). For a Data
// read at offsets, it holds the first bytes, read before the status was
// sent (prime).
type dataReader struct {
	r         io.Reader
	c         io.Closer
	first     *[primeSize]byte // nil once sent
	off, end  int              // first[off:end] is still to send
	left      int64            // bytes still due after first
	metrics   *RequestMetrics
	fromCache bool
	cut       bool
	sink      sink         // WriteTo's writer
	plain     plainReader  // d without WriteTo
	primed    bytes.Reader // first, for WriteTo
}

// plainReader is a dataReader as an io.Reader alone (no WriteTo to call
// back into).
type plainReader struct{ d *dataReader }

func (p *plainReader) Read(b []byte) (int, error) { return p.d.Read(b) }

// primeSize is how much of a download read at offsets is read before its
// status is sent: whatever one read of the source gives, up to this.
const primeSize = 32 << 10

var primeBufs = sync.Pool{New: func() any { return new([primeSize]byte) }}

// prime reads the section's first bytes (at least one, unless it is empty).
func (d *dataReader) prime() error {
	if d.left == 0 {
		return nil
	}
	d.first = primeBufs.Get().(*[primeSize]byte)
	for d.end == 0 {
		n, err := d.r.Read(d.first[:min(int64(primeSize), d.left)])
		d.end += n
		if n == 0 && err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if err != nil && (err != io.EOF || d.end == 0) {
			primeBufs.Put(d.first)
			d.first = nil
			return err
		}
	}
	d.left -= int64(d.end)
	return nil
}

func (d *dataReader) Read(p []byte) (int, error) {
	if d.first != nil {
		n := copy(p, d.first[d.off:d.end])
		if d.off += n; d.off == d.end {
			primeBufs.Put(d.first)
			d.first = nil
		}
		return n, nil
	}
	if d.left <= 0 {
		return 0, io.EOF
	}
	n, err := d.r.Read(p[:min(int64(len(p)), d.left)])
	d.left -= int64(n)
	if err == io.EOF && d.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	if err != nil && err != io.EOF && !d.cut {
		d.cut = true
		d.metrics.downloadCut(d.fromCache)
	}
	return n, err
}

// WriteTo sends the primed bytes, then the rest through the source's own
// WriteTo when it has one (a blob being filled: each run of bytes as it
// lands, with sendfile over fasthttp's writer), through Read otherwise.
// fasthttp prefers it to Read (copyZeroAlloc).
func (d *dataReader) WriteTo(w io.Writer) (int64, error) {
	rf, ok := w.(io.ReaderFrom)
	wt, isWT := d.r.(io.WriterTo)
	if !ok || !isWT {
		// As fasthttp would without WriteTo: straight to the connection,
		// so that bytes sent before a failure are on the wire.
		d.plain.d = d
		if ok {
			return rf.ReadFrom(&d.plain)
		}
		return io.Copy(w, &d.plain)
	}
	var total int64
	if d.first != nil {
		// Through ReadFrom, not Write: not left in a buffer should the
		// source fail next.
		d.primed.Reset(d.first[d.off:d.end])
		n, err := rf.ReadFrom(&d.primed)
		total += n
		if err != nil {
			return total, err
		}
		primeBufs.Put(d.first)
		d.first = nil
	}
	if d.left <= 0 {
		return total, nil
	}
	d.sink = sink{w: w}
	n, err := wt.WriteTo(&d.sink)
	total += n
	d.left -= n
	if err == nil && d.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	if err != nil && d.sink.err == nil && !d.cut {
		// The source failed, not the client: a download cut short.
		d.cut = true
		d.metrics.downloadCut(d.fromCache)
	}
	return total, err
}

// sink is the writer a source's WriteTo writes to: the client's, keeping
// its ReadFrom (sendfile), and noting whether it failed, to tell a client
// gone from a source failing.
type sink struct {
	w   io.Writer
	err error
}

func (s *sink) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if err != nil {
		s.err = err
	}
	return n, err
}

func (s *sink) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	var err error
	if rf, ok := s.w.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(struct{ io.Writer }{s.w}, r)
	}
	if err != nil {
		s.err = err // the source here is a file: its failures are rare enough to count as the client's
	}
	return n, err
}

func (d *dataReader) Close() error {
	if d.first != nil {
		primeBufs.Put(d.first)
		d.first = nil
	}
	return d.c.Close()
}

// uploadOptions reads the expected size and store from the request.
func (s *Server) uploadOptions(c *call) (backends.UploadOptions, error) {
	h := &c.ctx.Request.Header
	opts := backends.UploadOptions{ExpectedSize: -1, SizeCap: s.cfg.SizeCap}
	if v := h.Peek("x-openstack-image-size"); len(v) > 0 {
		n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
		if err != nil || n < 0 {
			return opts, backends.Errorf(backends.ErrBadRequest, "x-openstack-image-size must be a non-negative integer")
		}
		opts.ExpectedSize = n
	} else if cl := h.ContentLength(); cl > 0 {
		opts.ExpectedSize = int64(cl)
	}
	opts.Store = string(h.Peek("X-Image-Meta-Store"))
	return opts, nil
}

func (s *Server) requireOctetStream(c *call) error {
	ct := c.ctx.Request.Header.ContentType()
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = bytes.TrimSpace(ct)
	if !bytes.EqualFold(ct, ctOctetStream) {
		got := string(c.ctx.Request.Header.ContentType())
		return errStatus(415, "The request media type "+got+" is not supported by this server.")
	}
	return nil
}

func (s *Server) upload(c *call, id string) {
	s.receiveData(c, id, s.cat.Data.UploadData, s.authorizeUpload)
}

// authorizeUpload is ImageData.upload: upload_image, then the ownership
// check (legacy API and database layer), worded by the controller.
func (s *Server) authorizeUpload(c *call, img *backends.Image) error {
	if err := s.authorizeImage(c, policy.UploadImage, img); err != nil {
		return err
	}
	if !policy.Mutable(&c.id, img) {
		return errStatus(403, "Not allowed to upload image data for image "+img.ID)
	}
	return nil
}

// authorizeStage is ImageData.stage: modify_image, then in legacy mode the
// ownership check.
func (s *Server) authorizeStage(c *call, img *backends.Image) error {
	if err := s.authorizeImage(c, policy.ModifyImage, img); err != nil {
		return err
	}
	if !c.pol.LegacyMutable(&c.id, img) {
		return errNotOwner
	}
	return nil
}

func (s *Server) stage(c *call, id string) {
	if !contains(s.cfg.ImportMethods, "glance-direct") {
		writeError(c.ctx, errStatus(404, "'glance-direct' method is not available at this site."))
		return
	}
	s.receiveData(c, id, s.cat.Data.StageData, s.authorizeStage)
}

type receiveFunc func(ctx context.Context, id string, r io.Reader, opts backends.UploadOptions) (*backends.Image, error)

// receiveData is PUT /file and PUT /stage: the body streams into the
// catalog. The store works on a context that the server's shutdown does not
// cancel, so a drain lets uploads in flight finish; a client that goes away
// still ends the upload, as reading its body fails (requestBody: a body
// cut short fails too, it never looks complete), and the image stays
// queued, as in Glance.
func (s *Server) receiveData(c *call, id string, receive receiveFunc, authorize func(*call, *backends.Image) error) {
	if err := s.requireOctetStream(c); err != nil {
		writeError(c.ctx, err)
		return
	}
	img, err := s.lookup(c, id)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	if err := authorize(c, img); err != nil {
		writeError(c.ctx, err)
		return
	}
	opts, err := s.uploadOptions(c)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	if opts.Store != "" && !contains(s.cat.Stores.Stores(), opts.Store) {
		writeError(c.ctx, backends.Errorf(backends.ErrBadRequest, "Store for identifier "+opts.Store+" not found"))
		return
	}
	body := s.requestBody(c)
	body.stall = s.cfg.ReadTimeout
	_, err = receive(context.WithoutCancel(c), id, body, opts)
	body.finish()
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	c.ctx.SetStatusCode(204)
	c.ctx.Response.Header.SetContentType("text/html; charset=UTF-8")
}

func (s *Server) importImage(c *call, id string) {
	body, err := s.jsonBody(c)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	req, err := ParseImport(body)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	if !contains(s.cfg.ImportMethods, req.Method) {
		writeError(c.ctx, backends.Errorf(backends.ErrBadRequest, "Unknown import method name '"+req.Method+"'."))
		return
	}
	img, err := s.lookup(c, id)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	if req.Method != "copy-image" && img.Status == backends.StatusActive {
		writeError(c.ctx, backends.Errorf(backends.ErrConflict, "Image with status active cannot be target for import"))
		return
	}
	if req.Method == "copy-image" && img.Status != backends.StatusActive {
		writeError(c.ctx, backends.Errorf(backends.ErrConflict, "Only images with status active can be targeted for copying"))
		return
	}
	if req.Method == "glance-download" {
		if req.Glance, err = s.glanceSource(c, body); err != nil {
			writeError(c.ctx, err)
			return
		}
	}
	if req.Method == "glance-download" || req.Method == "web-download" {
		// The gateway may run the download itself (into a Glance
		// region): the data it brings is capped as an upload is.
		req.SizeCap = s.cfg.SizeCap
	}
	// copy-image has its own rule; any other method needs modify_image
	// (and, in legacy mode, ownership).
	if req.Method == "copy-image" {
		err = s.authorizeImage(c, policy.CopyImage, img)
	} else if err = s.authorizeImage(c, policy.ModifyImage, img); err == nil && !c.pol.LegacyMutable(&c.id, img) {
		err = errNotOwner
	}
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	req, done, err := s.importStores(c, req, img)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	if done {
		// copy-image to all stores of an image in all of them: Glance
		// answers 202 and starts nothing.
		c.ctx.SetStatusCode(202)
		c.ctx.Response.Header.SetContentType("text/html; charset=UTF-8")
		return
	}
	// Glance filters the URI last, after the image's state, the
	// caller's rights and the stores.
	if req.Method == "web-download" {
		if err := s.cfg.ImportFilter.CheckURL(req.URI); err != nil {
			writeError(c.ctx, backends.Errorf(backends.ErrBadRequest, "URI for web-download does not pass filtering: "+uriText(body)))
			return
		}
	}
	if err := s.cat.Tasks.Import(c, id, req); err != nil {
		writeError(c.ctx, err)
		return
	}
	s.render.forget(id)
	c.ctx.SetStatusCode(202)
	c.ctx.Response.Header.SetContentType("text/html; charset=UTF-8")
}

// importStores is the store choice of an import as Glance's import_image
// checks it (get_stores_from_request, then copy-image's stores the image is
// in already): stores and all_stores exclude each other and the
// X-Image-Meta-Store header, an unknown store is a conflict (409), the
// header alone names the store. done: a copy-image to all stores of an
// image that is in all of them already, which Glance accepts and skips.
func (s *Server) importStores(c *call, req backends.ImportRequest, img *backends.Image) (_ backends.ImportRequest, done bool, err error) {
	header := string(c.ctx.Request.Header.Peek("X-Image-Meta-Store"))
	known := s.cat.Stores.Stores()
	switch {
	case req.AllStores && (len(req.Stores) > 0 || header != ""):
		return req, false, backends.Errorf(backends.ErrBadRequest, "All_stores parameter can't be used with x-image-meta-store header or stores parameter")
	case len(req.Stores) > 0 && header != "":
		return req, false, backends.Errorf(backends.ErrBadRequest, "Stores parameter and x-image-meta-store header can't be both specified")
	case req.AllStores:
		if req.Method != "copy-image" {
			return req, false, nil
		}
		for _, st := range known {
			if !contains(img.Stores, st) {
				return req, false, nil
			}
		}
		return req, true, nil
	}
	stores := req.Stores
	if header != "" {
		stores = []string{header}
		req.Stores = stores
	}
	for _, st := range stores {
		if !contains(known, st) {
			return req, false, backends.Errorf(backends.ErrConflict, "Store for identifier "+st+" not found")
		}
	}
	if req.Method == "copy-image" {
		if len(stores) == 0 && len(known) > 0 {
			stores = known[:1] // the default store
			req.Stores = stores
		}
		// Glance names the first of the image's stores that is asked for.
		for _, have := range img.Stores {
			if contains(stores, have) {
				return req, false, backends.Errorf(backends.ErrBadRequest, "Image is already present at store '"+have+"'")
			}
		}
	}
	return req, false, nil
}

// uriText is the import body's method.uri as Glance's message shows it
// (Python's %s: None when absent).
func uriText(body []byte) string {
	v, _ := decodeJSON(body)
	obj, _ := v.(map[string]any)
	method, _ := obj["method"].(map[string]any)
	if s, ok := method["uri"].(string); ok {
		return s
	}
	return pyRepr(method["uri"])
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
