package site

import (
	"net/http"
	"testing"

	"github.com/spyglass-gateway/spyglass/cache/blob"
)

// FuzzPeerRange: any Range header a peer sends gives a range inside the
// image or an error, never a panic.
func FuzzPeerRange(f *testing.F) {
	for _, s := range []string{"", "bytes=0-", "bytes=0-0", "bytes=10-19", "bytes=5-1", "bytes=-5", "bytes=0-1,5-6",
		"bytes=99999999999999999999-", "bytes=1-99999999999999999999", "items=0-1", "bytes= 1-2"} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			return
		}
		off, n, ranged, err := parsePeerRange(h, size)
		if err != nil {
			return
		}
		if off < 0 || n < 0 || off+n > size || (ranged && n == 0) || (!ranged && (off != 0 || n != size)) {
			t.Fatalf("parsePeerRange(%q, %d) = %d, %d, %v", h, size, off, n, ranged)
		}
	})
}

// FuzzPeerExpect: the expectation headers parse to something the cache can
// verify against, or an error.
func FuzzPeerExpect(f *testing.F) {
	f.Add("1024", "0123456789abcdef0123456789abcdef", "sha256", "")
	f.Add("0", "", "sha512", "00")
	f.Add("-1", "x", "crc", "zz")
	f.Fuzz(func(t *testing.T, size, md5, algo, value string) {
		h := http.Header{}
		h.Set(hdrExpectSize, size)
		h.Set(hdrExpectMD5, md5)
		h.Set(hdrExpectAlgo, algo)
		h.Set(hdrExpectHash, value)
		exp, err := parsePeerExpect(h)
		if err != nil {
			return
		}
		if exp.Size < 0 || (exp.Checksum == "" && exp.HashValue == "") || (exp.HashValue != "" && blob.NewHash(exp.HashAlgo) == nil) {
			t.Fatalf("accepted %+v", exp)
		}
	})
}

// FuzzParseLease: a lease value read from Redis is ours exactly when it
// writes back the same.
func FuzzParseLease(f *testing.F) {
	for _, s := range []string{"fill 0a1b http://10.0.0.5:9293", "have x https://h:1", "fill  a http://x", "fill a ftp://x", "", "fill a b c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, ok := parseLease(s)
		if ok && l.String() != s {
			t.Fatalf("parseLease(%q) = %+v", s, l)
		}
	})
}
