package gateway

import (
	"context"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/policy"
)

// The objects, properties and tags of a namespace are three kinds of one
// thing, an item, and Glance's controllers for them (metadef_objects.py,
// metadef_properties.py, metadef_tags.py) are copies of one another: run
// the deserializer, get the namespace, enforce the route's rule with the
// namespace as target, call the repository. An itemKind holds what differs
// between the kinds; the handlers below are the one copy of what does not.
// The routes whose steps are the kind's own (the lists, a tag created by
// its name, the tags replaced at once) stay in metadefs.go and share the
// first steps through inNamespace.

// itemRoute is one of the routes of an item; it indexes a kind's rules.
type itemRoute uint8

const (
	itemShow itemRoute = iota
	itemCreate
	itemUpdate
	itemDelete
	itemRoutes
)

// itemKind is one kind of namespace item, T its record.
type itemKind[T any] struct {
	// miss words a namespace the kind's routes cannot find.
	miss nsMiss
	// rules are the policy rules of the routes, by itemRoute.
	rules [itemRoutes]policy.Rule
	// noBody marks the routes Glance's router declares body_reject: a
	// request with a body is a 400 before anything else.
	noBody [itemRoutes]bool
	// parseCreate and parseUpdate are the deserializers of a create's and
	// an update's body.
	parseCreate, parseUpdate func(body []byte) (T, error)
	// render is an item as an answer shows it: stored, as read back from
	// the store (a show); else as a create or an update echoes it.
	render func(ns string, v T, stored bool) any
	// showName, nil for none, is the name a show asks the store for, once
	// the show's rule passed: the properties' ?resource_type= strips the
	// association's prefix.
	showName func(s *Server, c *call, md Metadefs, cur *backends.MetadefNamespace, ns, name string) (string, error)

	// The store's operations: method expressions of Metadefs (or thin
	// adapters where a kind's method takes less than its record), so a
	// request binds nothing.
	get    func(md Metadefs, ctx context.Context, ns, name string) (T, error)
	create func(md Metadefs, ctx context.Context, ns string, v T) (T, error)
	update func(md Metadefs, ctx context.Context, ns, name string, v T) (T, error)
	remove func(md Metadefs, ctx context.Context, ns, name string) error
}

var metadefObjectKind = &itemKind[*backends.MetadefObject]{
	miss:        missObjects,
	rules:       [itemRoutes]policy.Rule{policy.GetMetadefObject, policy.AddMetadefObject, policy.ModifyMetadefObject, policy.DeleteMetadefObject},
	noBody:      [itemRoutes]bool{itemShow: true, itemDelete: true},
	parseCreate: func(body []byte) (*backends.MetadefObject, error) { return ParseMetadefObject(body, true) },
	parseUpdate: func(body []byte) (*backends.MetadefObject, error) { return ParseMetadefObject(body, false) },
	render: func(ns string, o *backends.MetadefObject, stored bool) any {
		if stored {
			return storedObjectJSON(ns, o)
		}
		return objectJSONOf(ns, o, true)
	},
	get:    Metadefs.MetadefObject,
	create: Metadefs.CreateMetadefObject,
	update: Metadefs.UpdateMetadefObject,
	remove: Metadefs.DeleteMetadefObject,
}

var metadefPropertyKind = &itemKind[*backends.MetadefProperty]{
	miss:        missAny,
	rules:       [itemRoutes]policy.Rule{policy.GetMetadefProperty, policy.AddMetadefProperty, policy.ModifyMetadefProperty, policy.RemoveMetadefProperty},
	parseCreate: ParseMetadefProperty,
	parseUpdate: ParseMetadefProperty,
	render:      func(_ string, p *backends.MetadefProperty, _ bool) any { return propertyJSON(p) },
	showName: func(s *Server, c *call, md Metadefs, cur *backends.MetadefNamespace, ns, name string) (string, error) {
		rt := c.ctx.QueryArgs().Peek("resource_type")
		if len(rt) == 0 {
			return name, nil
		}
		// The name carries the association's prefix: strip it, or 404.
		if err := s.enforceMetadef(c, policy.GetMetadefResourceType, cur); err != nil {
			return "", err
		}
		return s.unprefixed(c, md, ns, string(rt), name)
	},
	get:    Metadefs.MetadefProperty,
	create: Metadefs.CreateMetadefProperty,
	update: Metadefs.UpdateMetadefProperty,
	remove: Metadefs.DeleteMetadefProperty,
}

// metadefTagKind's create is the route's by name (POST .../tags/{name},
// no body), which createMetadefTag runs, not createItem.
var metadefTagKind = &itemKind[*backends.MetadefTag]{
	miss:   missAny,
	rules:  [itemRoutes]policy.Rule{policy.GetMetadefTag, policy.AddMetadefTag, policy.ModifyMetadefTag, policy.DeleteMetadefTag},
	noBody: [itemRoutes]bool{itemShow: true, itemCreate: true, itemDelete: true},
	// A tag's update body is its new name, all a tag has.
	parseUpdate: func(body []byte) (*backends.MetadefTag, error) {
		name, err := ParseMetadefTag(body)
		if err != nil {
			return nil, err
		}
		return &backends.MetadefTag{Name: name}, nil
	},
	render: func(_ string, t *backends.MetadefTag, _ bool) any { return tagJSONOf(t) },
	get:    Metadefs.MetadefTag,
	update: func(md Metadefs, ctx context.Context, ns, name string, t *backends.MetadefTag) (*backends.MetadefTag, error) {
		return md.UpdateMetadefTag(ctx, ns, name, t.Name)
	},
	remove: Metadefs.DeleteMetadefTag,
}

// inNamespace runs the steps every route inside a namespace begins with,
// in the order of Glance's: the body check of a body_reject route (noBody),
// the catalog, the deserializer (read; nil for none), the namespace
// (worded as miss says), the rule with the namespace as target. Not ok: it
// has answered.
func (s *Server) inNamespace(c *call, ns string, noBody bool, read func() error, miss nsMiss, rule policy.Rule) (md Metadefs, cur *backends.MetadefNamespace, ok bool) {
	if noBody {
		md, ok = s.metadefsNoBody(c)
	} else {
		md, ok = s.metadefs(c)
	}
	if !ok {
		return nil, nil, false
	}
	var err error
	if read != nil {
		err = read()
	}
	if err == nil {
		cur, err = s.findNamespace(c, md, ns, miss)
	}
	if err == nil {
		err = s.enforceMetadef(c, rule, cur)
	}
	if err != nil {
		writeError(c.ctx, err)
		return nil, nil, false
	}
	return md, cur, true
}

func showItem[T any](s *Server, c *call, k *itemKind[T], ns, name string) {
	md, cur, ok := s.inNamespace(c, ns, k.noBody[itemShow], nil, k.miss, k.rules[itemShow])
	if !ok {
		return
	}
	var err error
	if k.showName != nil {
		name, err = k.showName(s, c, md, cur, ns, name)
	}
	var v T
	if err == nil {
		v, err = k.get(md, c, ns, name)
	}
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	s.writeJSON(c, 0, k.render(ns, v, true))
}

// readBody is the deserializer step of a route with a body (inNamespace's
// read): parse fills *v.
func readBody[T any](s *Server, c *call, parse func(body []byte) (T, error), v *T) func() error {
	return func() error {
		body, err := s.jsonBody(c)
		if err == nil {
			*v, err = parse(body)
		}
		return err
	}
}

func createItem[T any](s *Server, c *call, k *itemKind[T], ns string) {
	var v T
	md, _, ok := s.inNamespace(c, ns, k.noBody[itemCreate], readBody(s, c, k.parseCreate, &v), k.miss, k.rules[itemCreate])
	if !ok {
		return
	}
	v, err := k.create(md, c, ns, v)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	s.writeJSON(c, 201, k.render(ns, v, false))
}

func updateItem[T any](s *Server, c *call, k *itemKind[T], ns, name string) {
	var v T
	md, _, ok := s.inNamespace(c, ns, k.noBody[itemUpdate], readBody(s, c, k.parseUpdate, &v), k.miss, k.rules[itemUpdate])
	if !ok {
		return
	}
	v, err := k.update(md, c, ns, name, v)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	s.writeJSON(c, 200, k.render(ns, v, false))
}

func deleteItem[T any](s *Server, c *call, k *itemKind[T], ns, name string) {
	md, _, ok := s.inNamespace(c, ns, k.noBody[itemDelete], nil, k.miss, k.rules[itemDelete])
	if !ok {
		return
	}
	noContentOr(c, k.remove(md, c, ns, name))
}
