package gateway

import (
	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/policy"
)

// getInfo serves the discovery API: /v2/info/import, /v2/info/stores,
// /v2/info/stores/detail (admin: name nil) and /v2/info/usage; any other
// name is a 404.
func (s *Server) getInfo(c *call, name []byte) {
	buf := bytebuf(c.ctx)
	b := *buf
	switch {
	case string(name) == "import":
		b = append(b, `{"import-methods": {"description": "Import methods available.", "type": "array", "value": [`...)
		for i, m := range s.cfg.ImportMethods {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = appendJSONString(b, m)
		}
		b = append(b, "]}}"...)
	case string(name) == "stores":
		b = append(b, `{"stores": [`...)
		for i, st := range s.cat.Stores.Stores() {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = append(b, `{"id": `...)
			b = appendJSONString(b, st)
			if i == 0 {
				b = append(b, `, "default": "true"`...)
			}
			b = append(b, '}')
		}
		b = append(b, "]}"...)
	case name == nil:
		if !s.allowed(c, policy.StoresInfoDetail) {
			writeError(c.ctx, errStatus(403, "You are not authorized to complete stores_info_detail action."))
			return
		}
		b = append(b, `{"stores": [`...)
		for i, st := range s.cat.Stores.Stores() {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = append(b, `{"id": `...)
			b = appendJSONString(b, st)
			if i == 0 {
				b = append(b, `, "default": "true"`...)
			}
			b = append(b, `, "type": "file", "weight": 0, "properties": {"data_dir": "", "chunk_size": 65536, "thin_provisioning": false}}`...)
		}
		b = append(b, "]}"...)
	case string(name) == "usage":
		// Glance answers an empty usage unless keystone unified limits are
		// in use (use_keystone_limits), which Spyglass does not do yet.
		b = append(b, `{"usage": {}}`...)
	default:
		writeError(c.ctx, backends.Errorf(backends.ErrNotFound, defaultExplanations[404]))
		return
	}
	*buf = b
	c.ctx.Response.Header.SetContentTypeBytes(ctJSON)
	c.ctx.Response.SetBodyRaw(b)
}
