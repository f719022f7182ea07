// Package policy decides who is calling and what they may do.
//
// Authenticators turn a request's headers into an Identity (noauth: Glance's
// unauthenticated admin context; trusted: Glance's context middleware, which
// believes X-Identity-Status/X-Project-Id/X-User-Id/X-Roles). Rules answers
// Glance's authorization questions for an Identity, and Visible is the one
// visibility function every path (show, list, download, members, caches)
// uses.
//
// The rules here are Glance 25's defaults as a stock deployment runs them
// (oslo.policy legacy defaults, enforce_new_defaults=false): anyone may read
// and create, only an image's owner or an admin may change it, publicizing an
// image and the Tasks API need the admin role.
//
//	auth, _ := policy.NewAuthenticator("trusted")
//	id, err := auth.Authenticate(ctx, &req.Header)
//	if !policy.Visible(&id, img, memberStatus) { /* 404 */ }
package policy
