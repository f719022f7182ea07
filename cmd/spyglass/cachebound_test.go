package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
)

// cacheDiskUsage is what du says of dir: the apparent size of everything
// under it (itself included) and the blocks it takes.
func cacheDiskUsage(dir string) (apparent, allocated int64) {
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // gone while walked
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		apparent += info.Size()
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			allocated += st.Blocks * 512
		}
		return nil
	})
	return apparent, allocated
}

// TestCacheMaxSizeUnderConcurrentDownloads is the reproduction
// through a real Glance region: with a small cache.max_size, concurrent
// downloads of more distinct images than it holds, over a slow link so that
// their fills overlap. The cache directory stays under max_size at every
// sample (du's apparent size and its blocks), every download is the image,
// and what found no room is counted as bypassed, not cached.
func TestCacheMaxSizeUnderConcurrentDownloads(t *testing.T) {
	bin := buildBinary(t)
	g := glancetest.SharedT(t)
	proxy := startOriginProxy(t, g.URL)
	const maxSize, size, images = 16 << 20, 4 << 20, 6
	var ids []string
	var datas [][]byte
	for i := range images {
		id, data := uploadToGlance(t, g, fmt.Sprintf("bound-%d", i), size)
		ids, datas = append(ids, id), append(datas, data)
	}
	dir := t.TempDir()
	cacheDir := filepath.Join(dir, "cache")
	cfgPath := filepath.Join(dir, "spyglass.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(`listen: 127.0.0.1:0
auth: {mode: trusted}
regions:
  - {name: origin, kind: glance, endpoint: %q}
cache: {dir: %q, max_size: 16MiB}
`, proxy.url, cacheDir)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startWithConfig(t, bin, cfgPath)
	proxy.rate.Store(4 << 20) // a 1 s fill per image: they all run at once

	var samples, maxDu atomic.Int64
	var over []string
	stop, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			default:
			}
			apparent, allocated := cacheDiskUsage(cacheDir)
			samples.Add(1)
			maxDu.Store(max(maxDu.Load(), allocated))
			if (apparent > maxSize || allocated > maxSize) && len(over) < 10 {
				over = append(over, fmt.Sprintf("apparent %d, on disk %d", apparent, allocated))
			}
			time.Sleep(time.Millisecond)
		}
	}()
	var wg sync.WaitGroup
	for i := range images {
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := fetchImage(t, "http://"+p.addr, ids[i], "")
				if err != nil || !bytes.Equal(got, datas[i]) {
					t.Errorf("image %d: %d bytes, %v", i, len(got), err)
				}
			}()
		}
	}
	wg.Wait()
	close(stop)
	<-sampled
	for _, o := range over {
		t.Errorf("the cache directory over cache.max_size (%d): %s", maxSize, o)
	}
	t.Logf("%d samples; at most %.1f MiB on disk under a %d MiB bound", samples.Load(), float64(maxDu.Load())/(1<<20), maxSize>>20)
	m := scrape(t, p)
	if got := m.must(t, "spyglass_image_cache_bypasses_total", "reason", "full"); got == 0 {
		t.Error("no download was counted as bypassed for want of room")
	}
	if used, limit := m.must(t, "spyglass_image_cache_used_bytes"), m.must(t, "spyglass_image_cache_limit_bytes", "limit", "max"); used > limit {
		t.Errorf("the cache counts %v bytes under a %v bound", used, limit)
	}
}
