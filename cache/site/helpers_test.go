package site_test

import (
	"context"
	"io"
	"testing"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/cache/blob"
)

var key = blob.Key{Region: "r1", Image: "img"}

func readAll(t testing.TB, d backends.Data) ([]byte, error) {
	t.Helper()
	sd := d.(interface {
		Section(ctx context.Context, off, n int64) (io.ReadCloser, error)
	})
	r, err := sd.Section(context.Background(), 0, d.Size())
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func isCached(b *blob.Cache, k blob.Key) bool {
	cached, _ := b.List()
	for _, c := range cached {
		if c.Key == k {
			return true
		}
	}
	return false
}
