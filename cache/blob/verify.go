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
	"sync"
	"sync/atomic"
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

// pieces is how many of the fill's buffers the verifiers may hold at
// once: how far (in chunks) a verifier may fall behind the fill before the
// fill waits for it (verification.wait).
const pieces = 8

// verification hashes an entry's bytes in order while the fill writes
// them, one goroutine per checksum verified (Expect.strongest: one today),
// beside the fill as it reads its origin. The fill reads into buffers it
// takes from free and hands each, once written, to every verifier
// (written): the bytes are hashed from memory, in the one pass that
// brought them, and the verdict at the end is a compare. A verifier reads
// back from the file only the bytes it did not get so: those already on
// disk when the fill started (a resumed entry), those a fetch ahead wrote,
// and pieces handed while it waited for such bytes.
//
// The fill does not outrun the verifiers by more than pieces (wait): every
// reader's last byte waits for the verdict, so what a verifier still has
// to hash when the fill's last byte lands is time every reader waits. A
// fill that never waited left its verifier, short of CPU among the storm's
// readers, tens to hundreds of MiB behind (issue 18: the storm's every
// download ended 0.09–0.37 s after the origin's last byte at N=20,
// 0.25–0.74 s at N=100), and the verifier read those bytes back from the
// file.
type verification struct {
	e       *entry
	in      []chan *piece // one per verifier
	free    chan *piece
	done    chan struct{} // closed once every byte is written
	results chan error
	// starved has a value when a verifier waits for bytes not written
	// yet (which the fill may be about to write): the fill then does not
	// wait for a piece.
	starved chan struct{}
	// quit is closed when a verifier returns: it frees no more pieces.
	quit     chan struct{}
	quitOnce sync.Once
}

// piece is a run of the fill's bytes: b[:n], written at pos. refs counts
// the verifiers that still hash it; the last one puts it back in free.
type piece struct {
	pos  int64
	b    []byte
	n    int
	refs atomic.Int32
}

// check is one checksum a fill's bytes are verified against.
type check struct {
	name, want string
	h          hash.Hash
}

// strongest is the checksum a fill verifies: os_hash_value when the image
// has one, its MD5 "checksum" only when not — what Glance's own client
// verifies a download against (python-glanceclient since 2.14), and Glance
// deprecated "checksum" as not needed to validate image data. Hashing both
// cost a cold fill of 512 MiB 1.5 s of a core on the boot storm's two
// (MD5 644 MB/s, SHA-512 780 MB/s here), while its readers wanted them;
// MD5 verifies nothing SHA-512 has not.
func (x Expect) strongest() (check, bool) {
	if x.HashValue != "" {
		if h := NewHash(x.HashAlgo); h != nil {
			return check{x.HashAlgo, x.HashValue, h}, true
		}
	}
	if x.Checksum != "" {
		return check{"checksum", x.Checksum, md5.New()}, true
	}
	return check{}, false
}

// startVerifiers starts the entry's verifier.
func (e *entry) startVerifiers(ctx context.Context) *verification {
	var checks []check
	if c, ok := e.exp.strongest(); ok {
		checks = append(checks, c)
	}
	v := &verification{e: e, free: make(chan *piece, pieces), done: make(chan struct{}), results: make(chan error, len(checks)),
		starved: make(chan struct{}, 1), quit: make(chan struct{})}
	if len(checks) > 0 {
		for range pieces {
			v.free <- &piece{b: make([]byte, chunk)}
		}
	}
	for _, c := range checks {
		in := make(chan *piece, pieces)
		v.in = append(v.in, in)
		go func() {
			err := v.follow(ctx, c.name, c.want, c.h, in)
			v.quitOnce.Do(func() { close(v.quit) })
			v.results <- err
		}()
	}
	return v
}

// wait is a free piece for the fill to read into: at once when one is
// free, else once the verifiers have hashed one. nil when there is no
// verifier, when ctx ends, or when a verifier cannot free one: it waits
// for bytes not written yet (the fill reads into its own buffer then, and
// the verifiers read those bytes back from the file) or it has returned.
func (v *verification) wait(ctx context.Context) *piece {
	if v == nil || len(v.in) == 0 {
		return nil
	}
	select { // a free piece first: a stale starved must not cost one
	case p := <-v.free:
		return p
	default:
	}
	select {
	case p := <-v.free:
		return p
	case <-v.starved:
		return nil
	case <-v.quit:
		return nil
	case <-ctx.Done():
		return nil
	}
}

// written hands the verifiers p, whose first n bytes are now at pos in the
// file. It never blocks: a verifier whose queue is full reads those bytes
// back from the file.
func (v *verification) written(p *piece, pos int64, n int) {
	p.pos, p.n = pos, n
	p.refs.Store(int32(len(v.in)))
	for _, in := range v.in {
		select {
		case in <- p:
		default:
			v.release(p)
		}
	}
}

// unused gives back a piece the fill took but wrote nothing from.
func (v *verification) unused(p *piece) {
	if p != nil {
		v.free <- p
	}
}

func (v *verification) release(p *piece) {
	if p.refs.Add(-1) == 0 {
		v.free <- p // never blocks: free holds every piece
	}
}

// finish says every byte of the image is written: the verifiers hash what
// they were handed, read back anything else, and decide.
func (v *verification) finish() { close(v.done) }

// verdict waits for the verifiers: nil when the bytes are the image's.
func (v *verification) verdict() error {
	var first error
	for range v.in {
		if err := <-v.results; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// follow feeds h the entry's bytes in order: [0, off) is hashed. A piece
// at off is hashed from memory; one beyond it first has the bytes between
// read back from the file (waiting for them to be written); one before it
// (those bytes were read back already) is hashed only for what it has
// beyond off. Bytes written twice (a stream shortened by a fetch ahead
// while its read was in flight) are hashed once, from whichever copy came
// first: both are the origin's bytes for that range.
func (v *verification) follow(ctx context.Context, name, want string, h hash.Hash, in <-chan *piece) error {
	e := v.e
	var off int64
	var buf []byte // for bytes read back; allocated when first needed
	readBack := func(to int64) error {
		for off < to {
			e.mu.Lock()
			end, ok := e.ext.At(off)
			f, stopped, ch := e.f, e.stopped, e.changed
			e.mu.Unlock()
			if stopped {
				return errors.New("cache entry removed")
			}
			if !ok || f == nil {
				select {
				case v.starved <- struct{}{}:
				default: // the fill has yet to see the last one
				}
				select {
				case <-ch:
				case <-ctx.Done():
					return ctx.Err()
				}
				continue
			}
			if buf == nil {
				buf = make([]byte, chunk)
			}
			n := min(end, to) - off
			n = min(n, int64(len(buf)))
			if _, err := f.ReadAt(buf[:n], off); err != nil {
				return fmt.Errorf("%w: %v", errDisk, err)
			}
			h.Write(buf[:n])
			off += n
			e.b.stats.verifyReadBack.Add(n)
		}
		return nil
	}
	take := func(p *piece) error {
		defer v.release(p)
		if p.pos > off {
			if err := readBack(p.pos); err != nil {
				return err
			}
		}
		if end := p.pos + int64(p.n); end > off {
			h.Write(p.b[off-p.pos : p.n])
			off = end
		}
		return nil
	}
	for off < e.exp.Size {
		select {
		case p := <-in:
			if err := take(p); err != nil {
				return err
			}
		case <-v.done:
			// Every piece handed over is queued by now: take them, then
			// read back whatever is left.
			for drained := false; !drained; {
				select {
				case p := <-in:
					if err := take(p); err != nil {
						return err
					}
				default:
					drained = true
				}
			}
			if err := readBack(e.exp.Size); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, want) {
		return fmt.Errorf("%s %s, want %s", name, got, want)
	}
	return nil
}
