package site

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spyglass-gateway/spyglass/cache/blob"
)

// The peer protocol: how an instance streams an image's bytes from the
// instance filling it (or holding it whole).
//
//	GET {peer URL}/peer/v1/blobs/{region}/{image}
//	Range: bytes=OFF-LAST                    (optional; one range)
//	Spyglass-Peer-Instance: <instance id>    (from the lease; required)
//	Spyglass-Expect-Size: <bytes>            (required)
//	Spyglass-Expect-Checksum: <md5 hex>      (one of checksum or hash value)
//	Spyglass-Expect-Hash-Algo: <os_hash_algo>
//	Spyglass-Expect-Hash-Value: <os_hash_value hex>
//	Authorization: Bearer <the site's admin token>   (when the site has one)
//
// The peer answers only from an entry with exactly these expectations that
// is complete or being filled (it never starts a fill for a peer): 206 with
// Content-Range (200 without Range) and the bytes as they land; 404 when it
// has no such entry; 421 when it is not the instance named (an address
// reused by another process, or an instance's own stale lease); 400 for a
// malformed request; 416 for a range outside the image; the admin listener
// answers 401 before any of this to a request without the site's token
// (when it has one). As for any reader,
// the image's last byte is sent only once the peer has verified the whole
// entry; a verification failure or a fill that fails cuts the stream
// (the requester sees a short body). The requester verifies the bytes again
// itself before its own entry counts.
const (
	// PeerRoute is the pattern to mount PeerHandler at on the admin
	// listener's http.ServeMux.
	PeerRoute = "GET /peer/v1/blobs/{region}/{image}"

	// chunk is what the handler reads from an entry and sends at most at
	// once (the blob cache's fill chunk: bytes go out as they land).
	chunk = 256 << 10

	hdrPeerInstance = "Spyglass-Peer-Instance"
	hdrExpectSize   = "Spyglass-Expect-Size"
	hdrExpectMD5    = "Spyglass-Expect-Checksum"
	hdrExpectAlgo   = "Spyglass-Expect-Hash-Algo"
	hdrExpectHash   = "Spyglass-Expect-Hash-Value"
)

// peerPath is the request path for k.
func peerPath(k blob.Key) string {
	return "/peer/v1/blobs/" + url.PathEscape(k.Region) + "/" + url.PathEscape(k.Image)
}

// Entries is what the peer handler serves from: the blob cache
// (blob.Cache).
type Entries interface {
	Attach(k blob.Key, exp blob.Expect) (blob.Data, error)
}

// PeerHandler serves this instance's entries in entries to the site's
// other instances (see PeerRoute). It hands out image data without asking
// who is calling: mount it only behind the admin listener's token (package
// admin), which the other instances send (Config.PeerToken).
func (f *Filler) PeerHandler(entries Entries) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { f.servePeer(w, r, entries) })
}

func (f *Filler) servePeer(w http.ResponseWriter, r *http.Request, entries Entries) {
	k := blob.Key{Region: r.PathValue("region"), Image: r.PathValue("image")}
	if got := r.Header.Get(hdrPeerInstance); got != f.instance {
		if got == "" {
			http.Error(w, hdrPeerInstance+" is required", http.StatusBadRequest)
			return
		}
		http.Error(w, "this is instance "+f.instance+", not "+got, http.StatusMisdirectedRequest)
		return
	}
	exp, err := parsePeerExpect(r.Header)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	d, err := entries.Attach(k, exp)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	defer d.Close()
	off, n, ranged, err := parsePeerRange(r.Header.Get("Range"), exp.Size)
	if err != nil {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", exp.Size))
		http.Error(w, err.Error(), http.StatusRequestedRangeNotSatisfiable)
		return
	}
	// A section to the image's end: a reader holds back the last byte of
	// its section until the entry is verified, which the peer's range need
	// not wait for unless it ends the image (the peer verifies again).
	rc, err := d.Section(r.Context(), off, exp.Size-off)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	defer rc.Close()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	status := http.StatusOK
	if ranged {
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, exp.Size))
		status = http.StatusPartialContent
	}
	w.WriteHeader(status)
	flush := http.NewResponseController(w)
	buf := make([]byte, chunk)
	for sent := int64(0); sent < n; {
		m, rerr := rc.Read(buf[:min(int64(len(buf)), n-sent)])
		if m > 0 {
			if _, werr := w.Write(buf[:m]); werr != nil {
				return
			}
			sent += int64(m)
			f.served.Add(int64(m))
			flush.Flush() // bytes go out as they land
		}
		if rerr != nil && sent < n {
			// The entry failed (or its verification did): cut the stream
			// so the peer sees a short body, never a clean end.
			f.log.Warn("peer fill stream cut", "region", k.Region, "image", k.Image, "at", off+sent, "err", rerr)
			panic(http.ErrAbortHandler)
		}
	}
}

// parsePeerExpect reads the expectations a peer request carries.
func parsePeerExpect(h http.Header) (blob.Expect, error) {
	size, err := strconv.ParseInt(h.Get(hdrExpectSize), 10, 64)
	if err != nil || size < 0 {
		return blob.Expect{}, fmt.Errorf("%s: want a byte count", hdrExpectSize)
	}
	exp := blob.Expect{Size: size, Checksum: h.Get(hdrExpectMD5), HashAlgo: h.Get(hdrExpectAlgo), HashValue: h.Get(hdrExpectHash)}
	if exp.Checksum == "" && exp.HashValue == "" {
		return blob.Expect{}, fmt.Errorf("%s or %s is required", hdrExpectMD5, hdrExpectHash)
	}
	if exp.Checksum != "" && !isHex(exp.Checksum, 32) {
		return blob.Expect{}, fmt.Errorf("%s: want 32 hex digits", hdrExpectMD5)
	}
	if exp.HashValue != "" && (blob.NewHash(exp.HashAlgo) == nil || !isHex(exp.HashValue, blob.NewHash(exp.HashAlgo).Size()*2)) {
		return blob.Expect{}, fmt.Errorf("%s and %s: want a known algorithm and its digest in hex", hdrExpectAlgo, hdrExpectHash)
	}
	return exp, nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// parsePeerRange reads "bytes=OFF-LAST" or "bytes=OFF-" against size; ""
// is the whole image (ranged false).
func parsePeerRange(h string, size int64) (off, n int64, ranged bool, err error) {
	if h == "" {
		return 0, size, false, nil
	}
	spec, ok := strings.CutPrefix(h, "bytes=")
	first, last, ok2 := strings.Cut(spec, "-")
	if !ok || !ok2 {
		return 0, 0, false, errors.New("want Range: bytes=OFF-LAST or bytes=OFF-")
	}
	off, err = strconv.ParseInt(first, 10, 64)
	if err != nil || off < 0 || off >= size {
		return 0, 0, false, errors.New("range start outside the image")
	}
	end := size
	if last != "" {
		l, err := strconv.ParseInt(last, 10, 64)
		if err != nil || l < off {
			return 0, 0, false, errors.New("want Range: bytes=OFF-LAST with LAST >= OFF")
		}
		end = min(l+1, size)
	}
	return off, end - off, true, nil
}

// errPeerToken: the peer refused this instance's admin token. One of the
// two has a token the site does not share.
var errPeerToken = errors.New("the peer refused this instance's admin token (401): every instance of a site needs the same one (admin.token_file or SPYGLASS_ADMIN_TOKEN)")

// peerClient streams from peers: bounded connects and waits for headers (a
// peer answers at once), no bound on the stream (the watchdog watches it).
var peerClient = &http.Client{Transport: &http.Transport{
	DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
	ResponseHeaderTimeout: 10 * time.Second,
	MaxIdleConnsPerHost:   4,
}}

// fromPeer opens [off, off+n) of the image at the instance holding the
// lease cur.
func (s *peerSource) fromPeer(ctx context.Context, l lease, cur string, off, n int64) (io.ReadCloser, error) {
	k, exp := s.k, s.exp
	if n < 0 {
		n = exp.Size - off
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.url+peerPath(k), nil)
	if err != nil {
		return nil, err
	}
	h := req.Header
	h.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+n-1))
	h.Set(hdrPeerInstance, l.instance)
	if t := s.f.cfg.PeerToken; t != "" {
		h.Set("Authorization", "Bearer "+t)
	}
	h.Set(hdrExpectSize, strconv.FormatInt(exp.Size, 10))
	if exp.Checksum != "" {
		h.Set(hdrExpectMD5, exp.Checksum)
	}
	if exp.HashValue != "" {
		h.Set(hdrExpectAlgo, exp.HashAlgo)
		h.Set(hdrExpectHash, exp.HashValue)
	}
	resp, err := peerClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		resp.Body.Close()
		return nil, errPeerToken
	}
	wantRange := fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, exp.Size)
	if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Range") != wantRange || resp.ContentLength != n {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, fmt.Errorf("peer answered %s (Content-Range %q, want %q): %s", resp.Status,
			resp.Header.Get("Content-Range"), wantRange, strings.TrimSpace(string(msg)))
	}
	p := &peerStream{body: resp.Body, closed: make(chan struct{})}
	s.watch(p, cur)
	return p, nil
}
