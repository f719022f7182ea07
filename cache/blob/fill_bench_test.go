package blob_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/cache/blob"
	"github.com/spyglass-gateway/spyglass/cache/blob/blobtest"
)

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
	const size = 32 << 20
	o := blobtest.NewOrigin(b, size)
	src := o.Region(b, 10*time.Second)
	exp := o.Expect() // hashes the image: once
	c, err := blob.Open(blob.Config{Dir: b.TempDir(), MaxSize: 8 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	img := 0
	run := func(readers int) (fill, complete time.Duration) {
		img++
		k := blob.Key{Region: "r1", Image: fmt.Sprintf("img-%d", img)}
		conns := make([]net.Conn, readers)
		var drained sync.WaitGroup
		for i := range conns {
			conns[i] = loopbackPair(b, &drained)
		}
		before := o.Sent.Load()
		var wg sync.WaitGroup
		start := time.Now()
		var origin time.Duration
		doneOrigin := make(chan struct{})
		go func() {
			defer close(doneOrigin)
			for o.Sent.Load()-before < size {
				time.Sleep(200 * time.Microsecond)
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
		<-doneOrigin
		for c.Stats().FillsInFlight != 0 {
			time.Sleep(200 * time.Microsecond)
		}
		complete = time.Since(start)
		wg.Wait()
		drained.Wait()
		c.Delete(k)
		return origin, complete
	}
	var one, many, oneC, manyC []float64
	for i := 0; i < b.N; i++ {
		f, cp := run(1)
		one, oneC = append(one, f.Seconds()*1e3), append(oneC, cp.Seconds()*1e3)
		f, cp = run(100)
		many, manyC = append(many, f.Seconds()*1e3), append(manyC, cp.Seconds()*1e3)
	}
	b.ReportMetric(median(one), "fill1-ms")
	b.ReportMetric(median(many), "fill100-ms")
	b.ReportMetric(median(many)/median(one), "fill-ratio")
	b.ReportMetric(median(manyC)/median(oneC), "complete-ratio")
	b.ReportMetric(0, "ns/op")
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// loopbackPair is a client connection's server side: what is written to
// it is read and dropped by the client end.
func loopbackPair(t testing.TB, drained *sync.WaitGroup) net.Conn {
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
	drained.Add(1)
	go func() {
		defer drained.Done()
		defer client.Close()
		buf := make([]byte, 256<<10)
		for {
			if _, err := client.Read(buf); err != nil {
				return
			}
		}
	}()
	return server
}
