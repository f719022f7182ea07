// Package admin is the operators' listener (admin.listen), apart from the
// Images API so it can stay private: GET /healthcheck, GET /ready (should
// this instance receive traffic), GET /metrics (Prometheus text format,
// through the OpenTelemetry SDK), the image data cache's controls (GET
// /cache, PUT and DELETE /cache/{region}/{id}, used by `spyglass cache`) and
// the peer route the site's instances stream fills over (site.PeerRoute).
//
// Everything but /healthcheck and /ready (and /metrics, as the operator
// chooses) needs the admin token, sent as "Authorization: Bearer <token>";
// a request without it, or with another, gets 401. Without a token the
// listener binds loopback addresses only. Errors are Glance-shaped JSON
// rendered through the gateway's one error map (gateway.ErrorJSON).
//
// It is net/http, not fasthttp: nothing on it is a hot path, and what it
// serves (Prometheus' handler, the peer fill stream) is written for
// net/http.
//
//	inst := &admin.Instance{Regions: regions, Images: catalog, Blobs: blobs, Prefetch: catalog}
//	srv, err := admin.New(admin.Config{Token: token, Instance: inst, Requests: requestMetrics})
//	if err != nil { ... }
//	addr, err := srv.Listen("127.0.0.1:9293")
//	if err != nil { ... }
//	failed := srv.Serve()
//	...
//	inst.Drain() // on SIGTERM: /ready answers 503
//	srv.Shutdown(ctx)
package admin
