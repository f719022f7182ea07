package blob_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/cache/blob"
	"github.com/spyglass-gateway/spyglass/cache/blob/blobtest"
)

// A fill's bytes are hashed as the fill writes them, not read back from
// the file afterwards: with readers attached or not, and from an origin
// as fast as loopback (faster than SHA-512 here), the verifier reads back
// nothing — the fill waits for it rather than leave it behind — and the
// entry is verified and served.
func TestBlobVerifiesAsTheFillWrites(t *testing.T) {
	for _, readers := range []int{1, 8} {
		t.Run(fmt.Sprintf("%d readers", readers), func(t *testing.T) {
			o := blobtest.NewOrigin(t, 16<<20+4321)
			b := openBlobs(t, t.TempDir(), 1<<30)
			defer b.Close()
			src := o.Region(t, 5*time.Second)
			var wg sync.WaitGroup
			for range readers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					d, err := b.Open(context.Background(), key, o.Expect(), src)
					if err != nil {
						t.Error(err)
						return
					}
					defer d.Close()
					if got, err := readAll(t, d); err != nil || !bytes.Equal(got, o.Data) {
						t.Errorf("reader: %v, %d bytes", err, len(got))
					}
				}()
			}
			wg.Wait()
			if !isCached(b, key) {
				t.Fatal("the entry is not complete after its readers were served")
			}
			// The first verifiers read every byte back once per checksum
			// (2×); a fill that did not wait for its verifier left it to
			// read back most of the bytes of a fast origin.
			if got := blob.VerifyReadBack(b); got != 0 {
				t.Fatalf("the verifier read back %d bytes of %d, want none", got, len(o.Data))
			}
		})
	}
}

// A fill resumed after a restart cannot hash the bytes the previous run
// wrote as it writes them: its verifiers read those back from the file,
// so that the entry is verified whole — a byte of them changed on disk
// meanwhile makes the fill fail verification, and the entry is never
// served; unchanged, it completes.
func TestBlobResumedFillVerifiesTheBytesOnDisk(t *testing.T) {
	for _, corrupt := range []bool{false, true} {
		t.Run(fmt.Sprintf("a byte on disk changed %v", corrupt), func(t *testing.T) {
			o := blobtest.NewOrigin(t, 8<<20)
			o.BytesPerS.Store(8 << 20)
			dir := t.TempDir()
			b := openBlobs(t, dir, 1<<30)
			src := o.Region(t, 5*time.Second)
			d, err := b.Open(context.Background(), key, o.Expect(), src)
			if err != nil {
				t.Fatal(err)
			}
			for o.Sent.Load() < 3<<20 {
				time.Sleep(10 * time.Millisecond)
			}
			d.Close()
			b.Close() // the files stay, with checkpoints of at most 1 MiB apart
			before := o.Sent.Load()
			if corrupt {
				f, err := os.OpenFile(filepath.Join(dir, key.Region, key.Image+".data"), os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.WriteAt([]byte{o.Data[100] ^ 0xff}, 100); err != nil {
					t.Fatal(err)
				}
				f.Close()
			}

			o.BytesPerS.Store(0)
			b = openBlobs(t, dir, 1<<30)
			defer b.Close()
			d, err = b.Open(context.Background(), key, o.Expect(), src)
			if err != nil {
				t.Fatal(err)
			}
			r, err := d.(sectioner).Section(context.Background(), 0, d.Size())
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			d.Close()
			if again := o.Sent.Load() - before; again > int64(len(o.Data))-1<<20 {
				t.Fatalf("the fill fetched %d bytes of %d again: it did not resume", again, len(o.Data))
			}
			if corrupt {
				if err == nil {
					t.Fatalf("a reader of a resumed fill whose bytes on disk changed got a clean end (%d bytes)", len(got))
				}
				if isCached(b, key) {
					t.Fatal("an entry that failed verification is listed as cached")
				}
				return
			}
			if err != nil || !bytes.Equal(got, o.Data) {
				t.Fatalf("after a restart: %v, %d bytes", err, len(got))
			}
			if !isCached(b, key) {
				t.Fatal("the resumed entry is not complete")
			}
			if got := blob.VerifyReadBack(b); got < 1<<20 {
				t.Fatalf("the verifiers read back %d bytes: not the bytes the previous run wrote", got)
			}
		})
	}
}

// A section of a fill returns once the fill's origin answered with its
// headers, before any byte (the gateway's status goes out then), for the
// reader that started the fill and for one that attaches to it; an origin
// that fails before answering makes Section fail (the gateway's 503), not
// a reader that fails later.
func TestBlobSectionReturnsAtTheOriginsAnswer(t *testing.T) {
	t.Run("answered", func(t *testing.T) {
		o := blobtest.NewOrigin(t, 1<<20)
		o.HoldBody.Store(true)
		b := openBlobs(t, t.TempDir(), 1<<30)
		defer b.Close()
		src := o.Region(t, 5*time.Second)
		var rs []io.ReadCloser
		for range 2 {
			d, err := b.Open(context.Background(), key, o.Expect(), src)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			r, err := d.(sectioner).Section(context.Background(), 0, d.Size())
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			rs = append(rs, r)
		}
		if sent := o.Sent.Load(); sent != 0 {
			t.Fatalf("the origin sent %d bytes while holding its body", sent)
		}
		close(o.Release)
		for i, r := range rs {
			if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, o.Data) {
				t.Fatalf("reader %d: %v, %d bytes", i, err, len(got))
			}
		}
		if got := o.Requests.Load(); got != 1 {
			t.Fatalf("%d origin requests, want 1", got)
		}
	})
	t.Run("origin down", func(t *testing.T) {
		o := blobtest.NewOrigin(t, 1<<20)
		exp := o.Expect()
		o.Close()
		b, err := blob.Open(blob.Config{Dir: t.TempDir(), MaxSize: 1 << 30, Retries: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		d, err := b.Open(context.Background(), key, exp, o.Region(t, time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		r, err := d.(sectioner).Section(context.Background(), 0, d.Size())
		if err == nil {
			r.Close()
			t.Fatal("Section of a fill whose origin is down returned a reader")
		}
		if !errors.Is(err, backends.ErrUnavailable) {
			t.Fatalf("Section: %v, want ErrUnavailable", err)
		}
	})
}

// A fill is verified against the strongest checksum the image has, as
// Glance's client verifies a download: os_hash_value when there is one
// (MD5 is then not computed: a wrong "checksum" beside a right hash is not
// noticed), "checksum" when not. Whichever is verified, a mismatch means
// the entry is never served.
func TestBlobVerifiesTheStrongestChecksum(t *testing.T) {
	o := blobtest.NewOrigin(t, 1<<20+7)
	right := o.Expect()
	const wrongMD5 = "00000000000000000000000000000000"
	wrongHash := right.HashValue[:len(right.HashValue)-1] + "0"
	if wrongHash == right.HashValue {
		wrongHash = right.HashValue[:len(right.HashValue)-1] + "1"
	}
	for _, c := range []struct {
		name string
		exp  blob.Expect
		ok   bool
	}{
		{"both right", right, true},
		{"hash wrong, checksum right", blob.Expect{Size: right.Size, Checksum: right.Checksum, HashAlgo: "sha512", HashValue: wrongHash}, false},
		{"hash right, checksum wrong: only the hash is verified", blob.Expect{Size: right.Size, Checksum: wrongMD5, HashAlgo: "sha512", HashValue: right.HashValue}, true},
		{"checksum alone, right", blob.Expect{Size: right.Size, Checksum: right.Checksum}, true},
		{"checksum alone, wrong", blob.Expect{Size: right.Size, Checksum: wrongMD5}, false},
		{"hash alone, wrong", blob.Expect{Size: right.Size, HashAlgo: "sha512", HashValue: wrongHash}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := openBlobs(t, t.TempDir(), 1<<30)
			defer b.Close()
			d, err := b.Open(context.Background(), key, c.exp, o.Region(t, 5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(t, d)
			d.Close()
			if c.ok && (err != nil || !bytes.Equal(got, o.Data)) {
				t.Fatalf("want the image: %v, %d bytes", err, len(got))
			}
			if !c.ok && err == nil {
				t.Fatalf("a reader of bytes that fail verification got a clean end (%d bytes)", len(got))
			}
			if isCached(b, key) != c.ok {
				t.Fatalf("listed as cached: %v, want %v", !c.ok, c.ok)
			}
		})
	}
}

// A fill's readers get their last byte once the fill's bytes are verified,
// not once its file is synced: what they wait for is bytes known to be the
// image's (issue 18: the fsync of a fill's last dirty pages was the last
// 64 ms of a storm's every download). The image is listed as cached from
// then on, as Glance lists a cache file it has committed (and never
// synced); a sync that fails drops the entry (the readers had the image's
// bytes), and the next reader fills it again.
func TestBlobReadersEndBeforeTheFillsSync(t *testing.T) {
	for _, syncFails := range []bool{false, true} {
		t.Run(fmt.Sprintf("sync fails %v", syncFails), func(t *testing.T) {
			o := blobtest.NewOrigin(t, 3<<20+17)
			syncing, release := make(chan struct{}), make(chan struct{})
			defer blob.SetSyncData(func(f *os.File) error {
				close(syncing)
				<-release
				if syncFails {
					return errors.New("injected: the disk failed the fsync")
				}
				return f.Sync()
			})()
			b := openBlobs(t, t.TempDir(), 1<<30)
			defer b.Close()
			src := o.Region(t, 5*time.Second)
			d, err := b.Open(context.Background(), key, o.Expect(), src)
			if err != nil {
				t.Fatal(err)
			}
			// Both ways the gateway reads a fill: Read, and WriteTo into a
			// writer that takes ReadFrom (a file here, a socket there).
			out, err := os.Create(filepath.Join(t.TempDir(), "out"))
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			read := make(chan error, 1)
			go func() {
				got, err := readAll(t, d)
				if err != nil || !bytes.Equal(got, o.Data) {
					read <- fmt.Errorf("Read: %v, %d bytes", err, len(got))
					return
				}
				r, err := d.(sectioner).Section(context.Background(), 0, d.Size())
				if err != nil {
					read <- err
					return
				}
				defer r.Close()
				if n, err := r.(io.WriterTo).WriteTo(out); err != nil || n != d.Size() {
					read <- fmt.Errorf("WriteTo: %d bytes, %v", n, err)
					return
				}
				read <- nil
			}()
			select {
			case err := <-read:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(time.Minute):
				close(release)
				t.Fatal("a reader's last byte still waited for the fill's fsync after a minute")
			}
			d.Close()
			<-syncing
			if !isCached(b, key) {
				t.Fatal("a verified entry whose file syncs is not listed as cached")
			}
			close(release)
			if !syncFails {
				waitUntil(t, "the entry complete once synced", func() bool { return isCached(b, key) })
				return
			}
			waitUntil(t, "the fill failed", func() bool { st := b.Stats(); return st.FillsFailed == 1 && st.FillsInFlight == 0 })
			if isCached(b, key) {
				t.Fatal("an entry whose sync failed is listed as cached")
			}
			blob.SetSyncData((*os.File).Sync)
			if sum, err := readImage(b, key, o.Expect(), src, 0, int64(len(o.Data))); err != nil || sum != md5Of(o.Data) {
				t.Fatalf("after a failed sync: %v, md5 %s, want %s", err, sum, md5Of(o.Data))
			}
			if n := o.Requests.Load(); n != 2 {
				t.Fatalf("%d origin requests, want 2 (the entry filled again)", n)
			}
		})
	}
}
