package blob

import "os"

// VerifyReadBack is how many bytes the cache's verifiers read back from
// their files (rather than hash as the fill wrote them).
func VerifyReadBack(b *Cache) int64 { return b.stats.verifyReadBack.Load() }

// SetSyncData replaces the fill's last fsync of its data until the func it
// returns is called.
func SetSyncData(f func(*os.File) error) (restore func()) {
	syncData = f
	return func() { syncData = (*os.File).Sync }
}
