package blob_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends/glance"
	"github.com/spyglass-gateway/spyglass/cache/blob"
	"github.com/spyglass-gateway/spyglass/cache/blob/blobtest"
)

// TestMain runs the benchmark's helper process when asked (fillHelperEnv).
func TestMain(m *testing.M) {
	if mode := os.Getenv(fillHelperEnv); mode != "" {
		fillHelper(mode)
		return
	}
	os.Exit(m.Run())
}

// fillHelperEnv makes the test binary one of BenchmarkFillWithReaders's
// helpers ("origin" or "clients"): the origin and the clients live in
// processes of their own, as they do in a site (the origin a region away,
// the clients compute hosts), so that the goroutines measured are the
// cache's alone, and the origin's pace is not the clients'.
const fillHelperEnv = "SPYGLASS_BLOB_FILL_HELPER"

const fillSize = 32 << 20

// fillImage is the benchmark's image, the same in both processes.
func fillImage() []byte {
	data := make([]byte, fillSize)
	rng := rand.New(rand.NewPCG(18, 18))
	for i := 0; i < len(data); i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8; j++ {
			data[i+j] = byte(v >> (8 * j))
		}
	}
	return data
}

// fillHelper, as the origin, serves the image over HTTP with ranges; as
// the clients, reads and drops whatever its listener's connections send. It
// prints its address, and exits when its stdin closes.
func fillHelper(mode string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	if mode == "origin" {
		data := fillImage()
		go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
		}))
	}
	dln := ln
	go func() {
		for {
			c, err := dln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 256<<10)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	fmt.Println(ln.Addr())
	io.Copy(io.Discard, os.Stdin)
}

type fillOrigin struct {
	r *glance.Region
}

func (o fillOrigin) Fetch(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	return o.r.Fetch(ctx, "img", off, n)
}

// BenchmarkFillWithReaders: how long one fill takes from a loopback origin
// at full speed with 1 reader and with 100 readers attached, in the same
// run (interleaved, so the machine's drift hits both alike). Each reader
// streams the image into a loopback TCP connection as the gateway does
// (io.Copy: WriteTo when the section has one), drained by a client. The
// fill is the origin's transfer: from Open to the origin's last byte sent;
// "complete" adds the verification. The target is ratio ≈ 1: the fill runs
// at the origin's speed whatever the number of readers (issue 18).
//
//	go test -run XXX -bench FillWithReaders -benchtime 3x ./cache/blob/
func BenchmarkFillWithReaders(b *testing.B) {
	const size = fillSize
	data := fillImage()
	m, h := md5.Sum(data), sha512.Sum512(data)
	exp := blob.Expect{Size: size, Checksum: hex.EncodeToString(m[:]), HashAlgo: "sha512", HashValue: hex.EncodeToString(h[:])}
	originAddr := startFillHelper(b, "origin")
	drainAddr := startFillHelper(b, "clients")
	region, err := glance.New(glance.Config{Name: "r1", Endpoint: "http://" + originAddr, ReadTimeout: 30 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	var got atomic.Int64 // bytes the fill has read from the origin
	src := countingOrigin{fillOrigin{region}, &got}
	c, err := blob.Open(blob.Config{Dir: b.TempDir(), MaxSize: 8 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	img := 0
	var readBack1, readBack100 []float64 // bytes the verifiers read back, per image byte
	run := func(readers int, warm bool) (fill, complete, wall, cpu time.Duration) {
		if !warm {
			img++
		}
		k := blob.Key{Region: "r1", Image: fmt.Sprintf("img-%d", img)}
		conns := make([]net.Conn, readers)
		for i := range conns {
			if conns[i], err = net.Dial("tcp", drainAddr); err != nil {
				b.Fatal(err)
			}
		}
		before := got.Load()
		cpu0, rb0 := processCPU(), blob.VerifyReadBack(c)
		var wg sync.WaitGroup
		start := time.Now()
		var origin time.Duration
		doneOrigin := make(chan struct{})
		readersDone := make(chan struct{})
		go func() {
			defer close(doneOrigin)
			// Until the origin sent the image, or every reader is done
			// without it (a failed fill, which the readers report): never
			// a wait that outlives the run.
			for !warm && got.Load()-before < size {
				select {
				case <-readersDone:
					return
				case <-time.After(200 * time.Microsecond):
				}
			}
			origin = time.Since(start)
		}()
		for i := 0; i < readers; i++ {
			wg.Add(1)
			go func(conn net.Conn) {
				defer wg.Done()
				defer conn.Close()
				d, err := c.Open(context.Background(), k, exp, src)
				if err != nil {
					b.Error(err)
					return
				}
				defer d.Close()
				if fd, ok := d.(interface{ File() *os.File }); ok {
					// Complete: the gateway sends the file (sendfile).
					if n, err := io.Copy(conn, fd.File()); err != nil || n != size {
						b.Errorf("reader: %d bytes, %v", n, err)
					}
					return
				}
				r, err := d.(sectioner).Section(context.Background(), 0, d.Size())
				if err != nil {
					b.Error(err)
					return
				}
				defer r.Close()
				if n, err := io.Copy(conn, r); err != nil || n != size {
					b.Errorf("reader: %d bytes, %v", n, err)
				}
			}(conns[i])
		}
		go func() { wg.Wait(); close(readersDone) }()
		<-doneOrigin // read origin only once its writer is done (warm too)
		for c.Stats().FillsInFlight != 0 {
			select {
			case <-readersDone:
				// A reader's last byte waits for the verification: a fill
				// still in flight once all are done is a stuck one.
				if deadline := time.Now().Add(10 * time.Second); c.Stats().FillsInFlight != 0 {
					for c.Stats().FillsInFlight != 0 && time.Now().Before(deadline) {
						time.Sleep(time.Millisecond)
					}
					if c.Stats().FillsInFlight != 0 {
						b.Fatalf("%d fills still in flight 10 s after every reader was done", c.Stats().FillsInFlight)
					}
				}
			case <-time.After(200 * time.Microsecond):
			}
		}
		complete = time.Since(start)
		<-readersDone
		wall = time.Since(start)
		if rb := float64(blob.VerifyReadBack(c)-rb0) / size; readers == 1 && !warm {
			readBack1 = append(readBack1, rb)
		} else if !warm {
			readBack100 = append(readBack100, rb)
		}
		return origin, complete, wall, processCPU() - cpu0
	}
	var one, many, oneC, manyC, coldWall, warmWall, cpu1, cpu100, cpuWarm []float64
	for i := 0; i < b.N; i++ {
		f, cp, _, cpu := run(1, false)
		one, oneC, cpu1 = append(one, f.Seconds()*1e3), append(oneC, cp.Seconds()*1e3), append(cpu1, cpu.Seconds()*1e3)
		f, cp, w, cpu := run(100, false)
		many, manyC, coldWall = append(many, f.Seconds()*1e3), append(manyC, cp.Seconds()*1e3), append(coldWall, w.Seconds()*1e3)
		cpu100 = append(cpu100, cpu.Seconds()*1e3)
		_, _, w, cpu = run(100, true)
		warmWall, cpuWarm = append(warmWall, w.Seconds()*1e3), append(cpuWarm, cpu.Seconds()*1e3)
	}
	b.ReportMetric(median(one), "fill1-ms")
	b.ReportMetric(median(many), "fill100-ms")
	b.ReportMetric(median(many)/median(one), "fill-ratio")
	b.ReportMetric(median(manyC)/median(oneC), "complete-ratio")
	b.ReportMetric(median(coldWall)/median(warmWall), "cold/warm-wall")
	b.ReportMetric(median(warmWall), "warm100-ms")
	// The cache process's CPU (user + system; the origin and the clients
	// run in processes of their own): with 1 reader it is the fill's
	// (reading the origin, writing, verifying), with 100 the readers'
	// sends are added, which the warm storm's CPU is alone. Less noisy
	// than the times on a shared host.
	b.ReportMetric(median(cpu1), "cpu1-ms")
	b.ReportMetric(median(cpu100), "cpu100-ms")
	b.ReportMetric(median(cpu100)-median(cpuWarm), "cpu100-warm-ms")
	// Bytes the verifier read back from the file rather than hashed from
	// the fill's buffers, per byte of the image (one checksum is verified:
	// Expect.strongest).
	b.ReportMetric(median(readBack1), "readback1/B")
	b.ReportMetric(median(readBack100), "readback100/B")
	b.ReportMetric(0, "ns/op")
}

// processCPU is the user and system time this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// countingOrigin counts the bytes its streams deliver.
type countingOrigin struct {
	o blob.Origin
	n *atomic.Int64
}

func (o countingOrigin) Fetch(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	rc, err := o.o.Fetch(ctx, off, n)
	if err != nil {
		return nil, err
	}
	return countingStream{rc, o.n}, nil
}

type countingStream struct {
	io.ReadCloser
	n *atomic.Int64
}

func (s countingStream) Read(p []byte) (int, error) {
	n, err := s.ReadCloser.Read(p)
	s.n.Add(int64(n))
	return n, err
}

// startFillHelper starts a helper process and returns its address.
func startFillHelper(b *testing.B, mode string) string {
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	helper := exec.Command(self)
	helper.Env = append(os.Environ(), fillHelperEnv+"="+mode)
	stdin, _ := helper.StdinPipe()
	stdout, _ := helper.StdoutPipe()
	helper.Stderr = os.Stderr
	if err := helper.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); helper.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	return strings.TrimSpace(line)
}

// Readers attached to a fill that send through WriteTo into a TCP
// connection (sendfile, lock-free at the fill's front) get exactly the
// image, while the fill is slower than they are (they wait at its front)
// and whatever their number.
func TestBlobReadersSendAsBytesLand(t *testing.T) {
	o := blobtest.NewOrigin(t, 4<<20+123)
	o.BytesPerS.Store(16 << 20)
	b := openBlobs(t, t.TempDir(), 1<<30)
	defer b.Close()
	src := o.Region(t, 5*time.Second)
	exp := o.Expect()
	want := md5.Sum(o.Data)
	const readers = 20
	var wg sync.WaitGroup
	for i := 0; i < readers; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		server, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			defer client.Close()
			h := md5.New()
			n, err := io.Copy(h, client)
			if err != nil || n != int64(len(o.Data)) || !bytes.Equal(h.Sum(nil), want[:]) {
				t.Errorf("client got %d bytes (%v), or not the image's", n, err)
			}
		}()
		go func() {
			defer wg.Done()
			defer server.Close()
			d, err := b.Open(context.Background(), key, exp, src)
			if err != nil {
				t.Error(err)
				return
			}
			defer d.Close()
			r, err := d.(sectioner).Section(context.Background(), 0, d.Size())
			if err != nil {
				t.Error(err)
				return
			}
			defer r.Close()
			if _, ok := r.(io.WriterTo); !ok {
				t.Error("a section of a fill has no WriteTo")
			}
			if n, err := io.Copy(server, r); err != nil || n != int64(len(o.Data)) {
				t.Errorf("reader sent %d bytes, %v", n, err)
			}
		}()
	}
	wg.Wait()
	if sent := o.Sent.Load(); sent != int64(len(o.Data)) {
		t.Fatalf("origin sent %d bytes for a %d-byte image", sent, len(o.Data))
	}
}
