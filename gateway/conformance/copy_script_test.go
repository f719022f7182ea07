package conformance

// copySteps are copy-image imports into the one store the image is in
// already, and the store choices Glance refuses, on the active image the
// cache steps made (c_cache) and the queued one (c_cache_q).
func copySteps() []step {
	imp := func(name, as, img, body string) step {
		return named("copy-image: "+name, post(as, "/v2/images/{{"+img+"}}/import", body))
	}
	return []step{
		imp("no stores", "admin", "c_cache", `{"method":{"name":"copy-image"}}`),
		imp("its store", "admin", "c_cache", `{"method":{"name":"copy-image"},"stores":["local"]}`),
		imp("all stores", "admin", "c_cache", `{"method":{"name":"copy-image"},"all_stores":true}`),
		imp("all stores must succeed", "admin", "c_cache", `{"method":{"name":"copy-image"},"all_stores":true,"all_stores_must_succeed":true}`),
		imp("unknown store", "admin", "c_cache", `{"method":{"name":"copy-image"},"stores":["nope"]}`),
		imp("all stores and stores", "admin", "c_cache", `{"method":{"name":"copy-image"},"all_stores":true,"stores":["local"]}`),
		withHeader(imp("header store", "admin", "c_cache", `{"method":{"name":"copy-image"}}`), "X-Image-Meta-Store", "local"),
		withHeader(imp("header and stores", "admin", "c_cache", `{"method":{"name":"copy-image"},"stores":["local"]}`), "X-Image-Meta-Store", "local"),
		imp("queued image", "admin", "c_cache_q", `{"method":{"name":"copy-image"},"stores":["local"]}`),
		imp("as its owner's member", "p1", "c_cache", `{"method":{"name":"copy-image"},"stores":["local"]}`),
		named("copy-image: image after", get("admin", "/v2/images/{{c_cache}}")),
		named("copy-image: tasks after", step{as: "admin", method: "GET", path: "/v2/images/{{c_cache}}/tasks"}),
	}
}
