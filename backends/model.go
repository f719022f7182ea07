package backends

import (
	"encoding/json"
	"strings"
	"time"
)

// Image statuses, as Glance names them.
const (
	StatusQueued        = "queued"
	StatusSaving        = "saving"
	StatusUploading     = "uploading" // staged through PUT /stage
	StatusImporting     = "importing"
	StatusActive        = "active"
	StatusDeactivated   = "deactivated"
	StatusKilled        = "killed"
	StatusDeleted       = "deleted"
	StatusPendingDelete = "pending_delete"
)

// Image visibilities.
const (
	VisibilityPublic    = "public"
	VisibilityPrivate   = "private"
	VisibilityShared    = "shared"
	VisibilityCommunity = "community"
)

// Member statuses.
const (
	MemberPending  = "pending"
	MemberAccepted = "accepted"
	MemberRejected = "rejected"
)

// Image is one image record. A *Image handed out by a store is an immutable
// snapshot: callers must not modify it; a write produces a new snapshot. That
// lets the gateway memoize what it renders from a snapshot by pointer.
//
// Pointer fields are nil where Glance shows JSON null.
type Image struct {
	ID              string
	Name            *string
	Status          string
	Visibility      string
	Protected       bool
	OSHidden        bool
	Owner           *string
	Checksum        *string // MD5 of the data, hex
	OSHashAlgo      *string // "sha512"
	OSHashValue     *string // hex
	Size            *int64
	VirtualSize     *int64
	MinDisk         int64
	MinRAM          int64
	ContainerFormat *string
	DiskFormat      *string
	CreatedAt       time.Time
	UpdatedAt       time.Time
	// Tags in insertion order, unique.
	Tags []string
	// Properties are the extra (custom) properties, including os_glance_*
	// ones the server sets. Glance stores every value as a string.
	Properties map[string]string
	// Stores names the regions (Glance "stores") that hold the image's data;
	// empty until the image has data.
	Stores []string
	// Locations are where the image's data lives outside the store's own
	// files, in order (Glance's image_locations): today an http(s) URL
	// served read-only (backends/httpstore), set by v1's
	// x-image-meta-location. Nil for an image whose data the store holds.
	// Never rendered unless the API says so (Glance hides them unless
	// show_multiple_locations or show_image_direct_url): the URL may
	// carry credentials.
	Locations []Location
	// DataURL is where the store keeps the image's own data when it does
	// (the embedded store: file:///…/images/<id>), "" otherwise. Glance's
	// file store records that file as the image's one location, and shows
	// it as such when locations are shown; so does Spyglass. It is not in
	// Locations: no patch may move or drop the store's own file (see
	// ownData), and its reads never go through a location.
	DataURL string
}

// Location is one place an image's data can be read from.
type Location struct {
	// URL is where the bytes are, e.g. https://example.com/cirros.img.
	URL string
	// Metadata is the location's metadata as Glance records it (a JSON
	// object); nil is {}.
	Metadata map[string]string
	// Status is Glance's location status: "active" (served) or
	// "deleted"; "" is active.
	Status string
}

// HTTPLocation is the URL of the first active http(s) location of im, or
// "" when its data is the store's own.
func (im *Image) HTTPLocation() string {
	for i := range im.Locations {
		l := &im.Locations[i]
		if l.Status != "" && l.Status != "active" {
			continue
		}
		if hasPrefixFold(l.URL, "http://") || hasPrefixFold(l.URL, "https://") {
			return l.URL
		}
	}
	return ""
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// Clone returns a deep copy, for building the next snapshot.
func (im *Image) Clone() *Image {
	c := *im
	c.Tags = append([]string(nil), im.Tags...)
	c.Stores = append([]string(nil), im.Stores...)
	if im.Locations != nil {
		c.Locations = make([]Location, len(im.Locations))
		for i, l := range im.Locations {
			c.Locations[i] = l
			if l.Metadata != nil {
				c.Locations[i].Metadata = make(map[string]string, len(l.Metadata))
				for k, v := range l.Metadata {
					c.Locations[i].Metadata[k] = v
				}
			}
		}
	}
	if im.Properties != nil {
		c.Properties = make(map[string]string, len(im.Properties))
		for k, v := range im.Properties {
			c.Properties[k] = v
		}
	}
	return &c
}

// Member is one image membership: the image is shared with project MemberID.
type Member struct {
	ImageID  string
	MemberID string
	Status   string
	// CanShare is the Images API v1's grant: the member may change the
	// image's members (Queens' registry is_image_sharable). v2 has no such
	// field; false where the store keeps none (a Glance region).
	CanShare  bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// MemberGrant is one entry of a v1 membership list (PUT
// /v1/images/{id}/members): a project, and its can_share when the client
// gave one (nil: a member kept keeps its grant, a new one gets false).
type MemberGrant struct {
	MemberID string
	CanShare *bool
}

// Task is one Glance task (the Tasks API and the import flow).
type Task struct {
	ID        string
	Type      string // "import", "api_image_import", ...
	Status    string // pending, processing, success, failure
	Owner     string
	UserID    string
	RequestID string
	ImageID   string // the image the task works on, if any
	Input     json.RawMessage
	Result    json.RawMessage // nil renders as null
	Message   string
	ExpiresAt *time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Task statuses.
const (
	TaskPending    = "pending"
	TaskProcessing = "processing"
	TaskSuccess    = "success"
	TaskFailure    = "failure"
)

// Caller is who a store call is made for, as far as a store needs to know:
// listing applies visibility, and stores record owners. The policy package
// builds it from the request's identity.
type Caller struct {
	// Project is the caller's project id; empty for an anonymous caller.
	Project string
	// User is the caller's user id; may be empty.
	User string
	// Admin is true when the caller has the admin role (Glance's is_admin).
	Admin bool
	// RequestID is the request's x-openstack-request-id, which Glance
	// records on the tasks a request starts; may be empty.
	RequestID string
	// Roles are the caller's roles, lower-cased; a remote region is told
	// them (X-Roles) in trusted mode.
	Roles []string
	// Token is the caller's Keystone token in keystone mode, forwarded to
	// remote regions as X-Auth-Token; empty otherwise. Never log it.
	Token string
}

// CachedImage is one image whose data a gateway's cache holds, as Glance's
// cache-management API lists it.
type CachedImage struct {
	ImageID      string
	Hits         int64
	LastAccessed time.Time
	LastModified time.Time
	Size         int64
}

// HasData reports whether the image has data to read: it is active or
// deactivated (Glance keeps a deactivated image's data) and its size is
// known. Queued, saving, uploading and importing images have none yet; a
// store answers ErrNoData for them (GET /file: 204).
func (im *Image) HasData() bool {
	return im.Size != nil && (im.Status == StatusActive || im.Status == StatusDeactivated)
}

// AcceptsMembers is Glance's check that only a shared image has members:
// nil for a shared image, else ErrForbidden with Glance's message. The
// gateway answers each member call's own status and text for it.
func (im *Image) AcceptsMembers() error {
	if im.Visibility != VisibilityShared {
		return Errorf(ErrForbidden, "Only shared images have members.")
	}
	return nil
}
