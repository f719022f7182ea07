package glance

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
)

// A namespace's objects, properties and tags are three kinds of item with
// one set of routes under the namespace: GET, PUT and DELETE
// .../<kind>/<name>, POST .../<kind>. An itemAPI holds what differs
// between the kinds (the path segment, the bodies); the functions below
// are the one copy of the calls.

// itemAPI is one kind of namespace item as the region serves it, T its
// record.
type itemAPI[T any] struct {
	// kind is the path segment: backends.MetadefObjects, ...
	kind string
	// answer reads an item shown alone (a show's, a create's or an
	// update's answer); err is the call's, returned as it is.
	answer func(r *Region, body []byte, err error) (T, error)
	// body is what a create or an update sends and its Content-Type (""
	// for a JSON body the client encodes).
	body func(v T) (reqBody any, contentType string)
}

// itemPath is the path of the item called name (url-escaped here).
func itemPath(ns, kind, name string) string {
	return nsPath(ns) + "/" + kind + "/" + url.PathEscape(name)
}

func getItem[T any](ctx context.Context, r *Region, k *itemAPI[T], ns, name string) (T, error) {
	body, _, err := r.call(lookupCtx(ctx), "GET", itemPath(ns, k.kind, name), nil, "", 200)
	return k.answer(r, body, err)
}

func createItem[T any](ctx context.Context, r *Region, k *itemAPI[T], ns string, v T) (T, error) {
	reqBody, ct := k.body(v)
	body, _, err := r.call(ctx, "POST", nsPath(ns)+"/"+k.kind, reqBody, ct, 201)
	return k.answer(r, body, err)
}

func updateItem[T any](ctx context.Context, r *Region, k *itemAPI[T], ns, name string, v T) (T, error) {
	reqBody, ct := k.body(v)
	body, _, err := r.call(ctx, "PUT", itemPath(ns, k.kind, name), reqBody, ct, 200)
	return k.answer(r, body, err)
}

func deleteItem(ctx context.Context, r *Region, kind, ns, name string) error {
	_, _, err := r.call(ctx, "DELETE", itemPath(ns, kind, name), nil, "", 204)
	return err
}

// decodeDoc reads the region's answer body as a D; err is the call's,
// returned as it is; what names the answer in a decoding error.
func decodeDoc[D any](r *Region, what string, body []byte, err error) (*D, error) {
	if err != nil {
		return nil, err
	}
	d := new(D)
	if err := json.Unmarshal(body, d); err != nil {
		return nil, r.decodeErr(what, err)
	}
	return d, nil
}

// pageQuery is a list's page as Glance's metadef indexes read it (the
// namespaces' and the tags'): a limit (0: none), a marker, a sort key and
// direction.
func pageQuery(limit int, marker, sortKey string, desc bool) url.Values {
	v := url.Values{}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	if marker != "" {
		v.Set("marker", marker)
	}
	if sortKey != "" {
		v.Set("sort_key", sortKey)
	}
	if desc {
		v.Set("sort_dir", "desc")
	} else {
		v.Set("sort_dir", "asc")
	}
	return v
}
