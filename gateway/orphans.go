package gateway

import (
	"errors"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
)

// A create the region did not answer in time (ErrUnavailable: a read
// timeout, a connection cut) may still complete there: a loaded Glance
// answered 201 seconds after Spyglass had told the client 503 (Tempest's
// regions profile, ImagesTagsTest). The client was told nothing was
// created and never learns the id Spyglass chose, so nobody would delete
// that image: it stays, queued and "shared", in its owner's listings —
// Glance lists a project's own shared images in its
// visibility=shared&member_status=... listings whatever the member
// status, which is how ListSharedImagesTest saw two images where it
// shared one, once the project whose create timed out played its alt.
// The gateway deletes it, as the caller, in the background; an id the
// client chose is left alone (the client can look it up, and a deleted
// id can never be used again in Glance).

// orphanTries are the delays before each delete attempt: the region may
// still be writing the image when the first runs (a 404 then is retried).
var orphanTries = []time.Duration{2 * time.Second, 10 * time.Second, 30 * time.Second, 90 * time.Second}

// dropOrphan deletes image id, created with an id Spyglass chose, whose
// create failed with err, if err says the region may have created it.
func (s *Server) dropOrphan(c *call, id string, err error) {
	if !errors.Is(err, backends.ErrUnavailable) {
		return
	}
	who := backends.CallerOf(c)
	ctx, done := s.copies.start()
	ctx = backends.WithCaller(ctx, &who)
	go func() {
		defer done()
		for _, d := range orphanTries {
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
			err := s.cat.Images.DeleteImage(ctx, id)
			s.render.forget(id)
			switch {
			case err == nil:
				s.log.Warn("deleted an image whose create had failed: the region made it after all", "image", id)
				return
			case errors.Is(err, backends.ErrNotFound), errors.Is(err, backends.ErrUnavailable):
				continue // not there yet, or the region still failing
			default:
				s.log.Warn("an image whose create had failed could not be deleted", "image", id, "err", err)
				return
			}
		}
	}()
}
