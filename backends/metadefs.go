package backends

import (
	"encoding/json"
	"time"
)

// The metadata definitions catalog (Glance's /v2/metadefs): namespaces
// holding objects, properties and tags, associated with resource types.
// Every name is unique within its namespace; a namespace name is unique in
// the catalog. Times are UTC; Glance shows them to the second.

// MetadefNamespace is one namespace, without its contents.
type MetadefNamespace struct {
	Namespace   string
	DisplayName *string // nil: not set (Glance omits it)
	Description *string
	Visibility  string // "public" or "private"
	Protected   bool
	Owner       string // "" only for a namespace loaded without one
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// MetadefObject is an object of a namespace: a named set of properties.
type MetadefObject struct {
	Name        string
	Description *string
	Required    []string // nil: not set
	// Properties is the JSON object of the object's properties, name →
	// property schema, as the gateway normalized it; nil: not set.
	Properties json.RawMessage
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// MetadefProperty is a property of a namespace.
type MetadefProperty struct {
	Name string
	// Schema is the property's JSON object without its name, as the
	// gateway normalized it (Glance's PropertyType).
	Schema    json.RawMessage
	CreatedAt time.Time
	UpdatedAt time.Time
}

// MetadefTag is a tag of a namespace.
type MetadefTag struct {
	Name      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// MetadefResourceType is a kind of resource a namespace applies to
// ("OS::Glance::Image"); one exists once a namespace was associated with
// it (or a loader seeded it).
type MetadefResourceType struct {
	Name      string
	Protected bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// MetadefAssociation associates a namespace with a resource type.
type MetadefAssociation struct {
	Name             string  // the resource type's
	Prefix           *string // nil: not set
	PropertiesTarget *string
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// MetadefNamespaceContent is a namespace with the contents a create makes
// together with it (POST /v2/metadefs/namespaces with objects, properties,
// tags and associations), in the order the client gave them.
type MetadefNamespaceContent struct {
	MetadefNamespace
	Associations []*MetadefAssociation
	Objects      []*MetadefObject
	Properties   []*MetadefProperty
	Tags         []*MetadefTag
}

// NamespaceQuery is a listing of namespaces (GET /v2/metadefs/namespaces).
type NamespaceQuery struct {
	// AllVisible: the caller sees every namespace (an admin); otherwise
	// the public ones, those without owner and those Owner owns.
	AllVisible bool
	Owner      string
	// Visibility filters on it; "": any.
	Visibility string
	// ResourceTypes keeps the namespaces associated with one of them; nil:
	// no filter.
	ResourceTypes []string
	SortKey       string // a column: created_at, updated_at, namespace, ...
	Desc          bool
	Marker        string // a namespace name; "": from the start
	Limit         int    // <= 0: no limit
}

// TagQuery is a listing of a namespace's tags.
type TagQuery struct {
	SortKey string
	Desc    bool
	Marker  string // a tag name of the namespace; "": from the start
	Limit   int    // <= 0: no limit
}

// The content kinds of DeleteNamespaceContent.
const (
	MetadefObjects    = "objects"
	MetadefProperties = "properties"
	MetadefTags       = "tags"
)
