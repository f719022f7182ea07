package gateway

import "github.com/spyglass-gateway/spyglass/backends"

// glanceSource is glance-download's source: the body's parameters, and
// the Images API endpoint of the region and interface they name in the
// caller's service catalog. An endpoint the catalog does not have is not
// refused here: Glance answers 202 and its task fails, and so does ours.
func (s *Server) glanceSource(c *call, body []byte) (backends.GlanceSource, error) {
	src, err := ParseGlanceDownload(body)
	if err != nil {
		return src, err
	}
	src.Endpoint, _ = c.id.ImageEndpoint(src.Region, src.Interface)
	return src, nil
}
