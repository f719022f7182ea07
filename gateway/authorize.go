package gateway

import (
	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/policy"
)

// Authorization follows Glance 25's API layer (glance/api/v2/policy.py and
// the controllers): the compiled rules decide, and each refusal is worded
// as the controller that makes it words it.

// forbidden is the 403 of a refused rule: oslo.policy's exception as
// Glance's APIPolicyBase re-raises it.
func forbidden(r policy.Rule) error {
	return errStatus(403, "You are not authorized to complete "+r.String()+" action.")
}

// errHidden is ImageAPIPolicy's bare HTTPNotFound for an image the caller
// may not get_image.
var errHidden = errStatus(404, defaultExplanations[404])

// allowed evaluates a rule that has no image (tasks, discovery, caches).
func (s *Server) allowed(c *call, r policy.Rule) bool {
	t := policy.EmptyTarget()
	return c.pol.Allowed(r, &c.id, &t)
}

// authorizeImage is ImageAPIPolicy._enforce: nil, the bare 404 for an image
// the caller may not even get, or the rule's 403.
func (s *Server) authorizeImage(c *call, r policy.Rule, img *backends.Image) error {
	switch c.pol.Image(r, &c.id, img) {
	case policy.Allow:
		return nil
	case policy.Hide:
		return errHidden
	}
	return forbidden(r)
}

// errNotOwner is check_is_image_mutable's and the database layer's refusal.
var errNotOwner = errStatus(403, "You do not own this image")
