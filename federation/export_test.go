package federation

import "io"

// CappedForTest is r read through the gateway's downloads' size cap.
func CappedForTest(r io.Reader, capBytes int64) io.Reader {
	return &cappedReader{r: r, left: capBytes}
}
