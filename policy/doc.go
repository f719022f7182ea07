// Package policy decides who is calling and what they may do, as Glance 25
// does.
//
// Authenticators turn a request's headers into an Identity: noauth (Glance's
// unauthenticated admin context), trusted (Glance's context middleware,
// which believes X-Identity-Status/X-Project-Id/X-User-Id/X-Roles set by
// something in front) and keystone (the caller's token validated against
// Keystone with the gateway's service credentials and cached, as
// keystonemiddleware does).
//
// A Policy is Glance's oslo.policy rule set compiled once: Glance's rule
// names and check language, evaluated without allocating. New starts from
// one of two sets of defaults and lets an oslo.policy YAML or JSON file
// override any rule:
//
//   - Current (the default): Glance's secure-RBAC rules, as Glance runs with
//     enforce_new_defaults, enforce_scope and enforce_secure_rbac: reader,
//     member and admin roles in the caller's project; readers read, members
//     write what their project owns, admins everything.
//   - Legacy: a stock Glance 25 (enforce_new_defaults=false): every rule ORed
//     with its deprecated default, so anyone may read and create, plus the
//     ownership checks Glance makes in code in that mode (Mutable,
//     LegacyMutable).
//
// On top of the rules, Visible is Glance's is_image_visible, the one
// visibility function every path (show, list, download, members, caches)
// uses, and Policy.Image answers an image-level rule with Glance's way of
// refusing: Hide (404) when the caller must not learn the image exists,
// Deny (403) otherwise.
//
//	auth, err := policy.NewAuthenticator("trusted")
//	if err != nil { … }
//	id, err := auth.Authenticate(ctx, &req.Header) // ErrUnauthenticated → 401
//	if err != nil { … }
//	rules := policy.MustNew(policy.Options{Defaults: policy.Current})
//	id.IsAdmin = id.IsAdmin || rules.IsAdmin(&id)
//	switch rules.Image(policy.GetImage, &id, img) {
//	case policy.Hide: // 404
//	case policy.Deny: // 403
//	}
package policy
