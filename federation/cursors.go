package federation

import (
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// cursors is the cursor store: for a listing walk and the marker of its
// last page, where each region stands (in process; the shared Redis tier
// comes with issue 6). Losing an entry costs the next page a positioning
// from the marker's sort values, never a wrong page.
type cursors struct {
	c   *ristretto.Cache[string, *cursor]
	ttl time.Duration
}

func newCursors(max int64, ttl time.Duration) (*cursors, error) {
	c, err := ristretto.NewCache(&ristretto.Config[string, *cursor]{
		NumCounters: max * 10, MaxCost: max, BufferItems: 64,
	})
	if err != nil {
		return nil, err
	}
	return &cursors{c: c, ttl: ttl}, nil
}

func (s *cursors) get(key string) (*cursor, bool) { return s.c.Get(key) }

// put remembers cur under key; cost is 1 plus the images it holds, so the
// store bounds the images kept read ahead, not just the walks.
func (s *cursors) put(key string, cur *cursor, cost int64) {
	// Wait: the client asks for the next page as soon as it has this one.
	s.c.SetWithTTL(key, cur, cost, s.ttl)
	s.c.Wait()
}

func (s *cursors) close() { s.c.Close() }
