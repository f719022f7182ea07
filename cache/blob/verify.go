package blob

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
)

// NewHash returns the hash for a Glance os_hash_algo, or nil.
func NewHash(algo string) hash.Hash {
	switch algo {
	case "sha512":
		return sha512.New()
	case "sha384":
		return sha512.New384()
	case "sha256":
		return sha256.New()
	case "sha224":
		return sha256.New224()
	case "sha1":
		return sha1.New()
	case "md5":
		return md5.New()
	}
	return nil
}

// startVerifiers hashes the entry's bytes while they land: one goroutine
// per checksum, each following the written extent from byte 0 through the
// page cache, so that when the last byte is written only the tail is left
// to hash (not the whole image, read again). The returned function waits for
// them and says whether the bytes are the image's.
func (e *entry) startVerifiers(ctx context.Context) func() error {
	type check struct {
		name, want string
		h          hash.Hash
	}
	var checks []check
	if e.exp.Checksum != "" {
		checks = append(checks, check{"checksum", e.exp.Checksum, md5.New()})
	}
	if e.exp.HashValue != "" {
		checks = append(checks, check{e.exp.HashAlgo, e.exp.HashValue, NewHash(e.exp.HashAlgo)})
	}
	results := make(chan error, len(checks))
	for _, c := range checks {
		go func() { results <- e.follow(ctx, c.name, c.want, c.h) }()
	}
	return func() error {
		var first error
		for range checks {
			if err := <-results; err != nil && first == nil {
				first = err
			}
		}
		return first
	}
}

// follow feeds h the entry's bytes in order as they are written.
func (e *entry) follow(ctx context.Context, name, want string, h hash.Hash) error {
	buf := make([]byte, 1<<20)
	var off int64
	for off < e.exp.Size {
		e.mu.Lock()
		end, ok := e.ext.At(off)
		f, stopped, ch := e.f, e.stopped, e.changed
		e.mu.Unlock()
		if stopped {
			return errors.New("cache entry removed")
		}
		if !ok {
			select {
			case <-ch:
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		n := min(end-off, int64(len(buf)))
		if _, err := f.ReadAt(buf[:n], off); err != nil {
			return fmt.Errorf("%w: %v", errDisk, err)
		}
		h.Write(buf[:n])
		off += n
	}
	if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, want) {
		return fmt.Errorf("%s %s, want %s", name, got, want)
	}
	return nil
}
