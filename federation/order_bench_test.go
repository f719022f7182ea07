package federation

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
)

// benchImages are images with every sort key varied, NULLs included, so a
// comparison goes past the first key often enough to matter.
func benchImages(n int) []*backends.Image {
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	str := func(vs ...string) *string {
		v := vs[rng.IntN(len(vs))]
		if v == "" {
			return nil
		}
		return &v
	}
	out := make([]*backends.Image, n)
	for i := range out {
		img := &backends.Image{
			ID: fmt.Sprintf("%08x-%04d", rng.Uint32(), i), Name: str("cirros", "Cirros", "ubuntu", "", "zeta"),
			Status: []string{"active", "queued"}[rng.IntN(2)], Visibility: "public",
			DiskFormat: str("raw", "qcow2", ""), ContainerFormat: str("bare", ""),
			MinDisk: int64(rng.IntN(3)), CreatedAt: base.Add(time.Duration(rng.IntN(n/4+1)) * time.Second),
		}
		if rng.IntN(3) > 0 {
			sz := int64(rng.IntN(5) * 1024)
			img.Size = &sz
		}
		img.UpdatedAt = img.CreatedAt.Add(time.Duration(rng.IntN(3)) * time.Second)
		out[i] = img
	}
	return out
}

// BenchmarkOrderCompare sorts a merged page's worth of images with the
// merge's comparator, per sort a merge sees: the cost of the merge's inner
// loop (one comparison per image taken per region).
func BenchmarkOrderCompare(b *testing.B) {
	imgs := benchImages(1000)
	tie := []backends.SortKey{{Key: "created_at", Desc: true}, {Key: "id", Desc: true}}
	for _, tc := range []struct {
		name string
		keys []backends.SortKey
	}{
		{"default", tie},
		{"name", append([]backends.SortKey{{Key: "name"}}, tie...)},
		{"size", append([]backends.SortKey{{Key: "size", Desc: true}}, tie...)},
		{"formats", append([]backends.SortKey{{Key: "disk_format"}, {Key: "container_format"}, {Key: "status"}}, tie...)},
	} {
		for _, o := range []Order{{}, {NullsLast: true, Collation: "nocase"}} {
			b.Run(fmt.Sprintf("%s/nocase=%v", tc.name, o.nocase()), func(b *testing.B) {
				buf := make([]*backends.Image, len(imgs))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					copy(buf, imgs)
					st := benchOrder(o, tc.keys)
					slices.SortFunc(buf, func(x, y *backends.Image) int { return benchCompare(st, x, 0, y, 1) })
				}
			})
		}
	}
}

// BenchmarkOrderPagesFrom is the check a stream makes on every image it
// passes.
func BenchmarkOrderPagesFrom(b *testing.B) {
	imgs := benchImages(1000)
	keys := []backends.SortKey{{Key: "name"}, {Key: "size"}, {Key: "created_at", Desc: true}, {Key: "id", Desc: true}}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		st := benchOrder(Order{}, keys)
		for _, img := range imgs {
			if benchPagesFrom(st, img) {
				n++
			}
		}
	}
	_ = n
}
