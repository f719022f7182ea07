package blob

// VerifyReadBack is how many bytes the cache's verifiers read back from
// their files (rather than hash as the fill wrote them).
func VerifyReadBack(b *Cache) int64 { return b.stats.verifyReadBack.Load() }
