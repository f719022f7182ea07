package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"

	"github.com/spyglass-gateway/spyglass/backends"
)

// The handlers' contracts with the image catalog, one per resource. The
// embedded store (backends/local) and federation.Catalog satisfy them all;
// a test fake implements only the one it replaces.
//
// Authorization (who may call what) is decided by the gateway with policy
// before it calls the catalog; the catalog enforces the state rules Glance
// enforces in its domain layer (protected images cannot be deleted, members
// only on shared images, status transitions, quotas) and returns the
// sentinel errors of package backends.
//
// Every call's ctx carries the caller (backends.CallerFrom): remote regions
// forward it (the Keystone token, or the trusted identity headers), and
// tasks record it. No call takes the caller as an argument.

// Images are the image records: /v2/images, their tags and actions.
type Images interface {
	// CreateImage stores a new image. The gateway has filled id (if the
	// client gave none), owner, visibility default and validated the body;
	// the store sets status queued and the timestamps.
	CreateImage(ctx context.Context, img *backends.Image) (*backends.Image, error)
	// Image returns the image with this id, or ErrNotFound. The embedded
	// store returns it whatever its visibility to the caller (the gateway
	// decides that); a remote region, asked with the caller's identity
	// (backends.CallerFrom(ctx)), may itself answer ErrNotFound for an image
	// it hides from the caller, and a cache may return a record another
	// caller fetched. Deleted images are not found.
	Image(ctx context.Context, id string) (*backends.Image, error)
	// ListImages evaluates a listing: filters, visibility for the caller,
	// order, marker and limit. An unknown marker, or one the caller cannot
	// see, is ErrMarkerNotFound.
	ListImages(ctx context.Context, q *backends.ListQuery) ([]*backends.Image, error)
	// UpdateImage applies a JSON patch atomically.
	UpdateImage(ctx context.Context, id string, changes []backends.Change) (*backends.Image, error)
	// SetImageStatus performs deactivate/reactivate (and other transitions
	// Glance allows through actions), refusing the ones Glance refuses.
	SetImageStatus(ctx context.Context, id, status string) (*backends.Image, error)
	// DeleteImage deletes an image and its data; protected → ErrForbidden.
	DeleteImage(ctx context.Context, id string) error
	AddTag(ctx context.Context, id, tag string) error
	DeleteTag(ctx context.Context, id, tag string) error
}

// ImageData is an image's data: /file and /stage.
type ImageData interface {
	// UploadData streams r into the image (PUT /file): queued → saving →
	// active, computing size, checksum and os_hash_value on the way; never
	// holds the whole image in memory. A cut-off upload leaves the image
	// queued.
	UploadData(ctx context.Context, id string, r io.Reader, opts backends.UploadOptions) (*backends.Image, error)
	// StageData streams r into the staging area (PUT /stage): queued →
	// uploading.
	StageData(ctx context.Context, id string, r io.Reader, opts backends.UploadOptions) (*backends.Image, error)
	// OpenData opens the data of img, the record the gateway resolved and
	// authorized (Images.Image): the catalog does not look it up again. An
	// image without data (queued, saving, uploading, importing) is
	// backends.ErrNoData.
	OpenData(ctx context.Context, img *backends.Image) (backends.Data, error)
}

// Members are an image's members: /v2/images/{id}/members.
type Members interface {
	Members(ctx context.Context, imageID string) ([]*backends.Member, error)
	// Member is also asked by a show, to learn whether the caller is a
	// member of a shared image.
	Member(ctx context.Context, imageID, memberID string) (*backends.Member, error)
	AddMember(ctx context.Context, imageID, memberID string) (*backends.Member, error)
	UpdateMember(ctx context.Context, imageID, memberID, status string) (*backends.Member, error)
	DeleteMember(ctx context.Context, imageID, memberID string) error
}

// V1Members are what the Images API v1 adds to Members, over the same
// memberships (Glance Queens served both versions over one table): the
// can_share grant, the whole list replaced at once, and a project's
// memberships across images. A member added here is pending for v2; v2's
// read here with can_share false unless v1 granted it.
type V1Members interface {
	// ShareMember adds memberID to the image (pending; can_share false
	// unless canShare says otherwise) or sets an existing membership's
	// can_share (canShare nil: unchanged). A store that keeps no can_share
	// refuses true with ErrBadRequest.
	ShareMember(ctx context.Context, imageID, memberID string, canShare *bool) (*backends.Member, error)
	// ReplaceMembers makes the image's members exactly grants: the others
	// are removed, those kept keep their status.
	ReplaceMembers(ctx context.Context, imageID string, grants []backends.MemberGrant) error
	// SharedWith lists memberID's memberships as the caller in ctx may see
	// them: an admin all of them; anyone else those on images it owns, and
	// all of its own when memberID is its project.
	SharedWith(ctx context.Context, memberID string) ([]*backends.Member, error)
}

// Tasks are the asynchronous work: /v2/tasks and an image's import, which
// Glance runs as a task.
type Tasks interface {
	// Import starts an import (POST /import) and returns at once, as Glance
	// does; the work runs as a task (see ImageTasks).
	Import(ctx context.Context, id string, req backends.ImportRequest) error
	// CreateTask creates a task (POST /v2/tasks) and starts it; the task
	// records the caller in ctx as its owner.
	CreateTask(ctx context.Context, typ string, input json.RawMessage) (*backends.Task, error)
	Task(ctx context.Context, id string) (*backends.Task, error)
	// ListTasks lists the caller's tasks (an admin's: all).
	ListTasks(ctx context.Context, q *backends.TaskQuery) ([]*backends.Task, error)
	ImageTasks(ctx context.Context, imageID string) ([]*backends.Task, error)
}

// Stores are where data can go: /v2/info/stores, and the store a client
// names on upload and import.
type Stores interface {
	// Stores lists the stores (regions) data can go to; the first is the
	// default.
	Stores() []string
}

// Metadefs are the metadata definitions: /v2/metadefs. A namespace is
// found whoever may see it (the gateway decides visibility and policy, as
// Glance's API layer does); the catalog enforces names' uniqueness
// (ErrConflict), protection (ErrForbidden) and existence (ErrNotFound),
// each with Glance's explanation.
type Metadefs interface {
	ListNamespaces(ctx context.Context, q *backends.NamespaceQuery) ([]*backends.MetadefNamespace, error)
	Namespace(ctx context.Context, name string) (*backends.MetadefNamespace, error)
	// CreateNamespace creates a namespace with its contents, all or none.
	CreateNamespace(ctx context.Context, c *backends.MetadefNamespaceContent) (*backends.MetadefNamespace, error)
	UpdateNamespace(ctx context.Context, name string, ns *backends.MetadefNamespace) (*backends.MetadefNamespace, error)
	DeleteNamespace(ctx context.Context, name string) error
	// DeleteNamespaceContent deletes all of a namespace's objects,
	// properties or tags (backends.MetadefObjects, ...).
	DeleteNamespaceContent(ctx context.Context, name, kind string) error

	MetadefObjects(ctx context.Context, ns string) ([]*backends.MetadefObject, error)
	MetadefObject(ctx context.Context, ns, name string) (*backends.MetadefObject, error)
	CreateMetadefObject(ctx context.Context, ns string, o *backends.MetadefObject) (*backends.MetadefObject, error)
	UpdateMetadefObject(ctx context.Context, ns, name string, o *backends.MetadefObject) (*backends.MetadefObject, error)
	DeleteMetadefObject(ctx context.Context, ns, name string) error

	MetadefProperties(ctx context.Context, ns string) ([]*backends.MetadefProperty, error)
	MetadefProperty(ctx context.Context, ns, name string) (*backends.MetadefProperty, error)
	CreateMetadefProperty(ctx context.Context, ns string, p *backends.MetadefProperty) (*backends.MetadefProperty, error)
	UpdateMetadefProperty(ctx context.Context, ns, name string, p *backends.MetadefProperty) (*backends.MetadefProperty, error)
	DeleteMetadefProperty(ctx context.Context, ns, name string) error

	MetadefTags(ctx context.Context, ns string, q *backends.TagQuery) ([]*backends.MetadefTag, error)
	MetadefTag(ctx context.Context, ns, name string) (*backends.MetadefTag, error)
	CreateMetadefTag(ctx context.Context, ns, name string) (*backends.MetadefTag, error)
	// CreateMetadefTags adds names, replacing the namespace's tags unless
	// appending; an empty list changes nothing.
	CreateMetadefTags(ctx context.Context, ns string, names []string, appending bool) ([]*backends.MetadefTag, error)
	UpdateMetadefTag(ctx context.Context, ns, name, newName string) (*backends.MetadefTag, error)
	DeleteMetadefTag(ctx context.Context, ns, name string) error

	ResourceTypes(ctx context.Context) ([]*backends.MetadefResourceType, error)
	ResourceTypeAssociations(ctx context.Context, ns string) ([]*backends.MetadefAssociation, error)
	CreateResourceTypeAssociation(ctx context.Context, ns string, a *backends.MetadefAssociation) (*backends.MetadefAssociation, error)
	DeleteResourceTypeAssociation(ctx context.Context, ns, resourceType string) error
}

// Catalog is what a Server calls, by resource. Every field but Metadefs is
// required; CatalogOf fills them all from one value that serves every
// resource.
type Catalog struct {
	Images  Images
	Data    ImageData
	Members Members
	// V1Members is required with Config.EnableV1 only.
	V1Members V1Members
	Tasks     Tasks
	Stores    Stores
	// Metadefs nil: /v2/metadefs/* (but the schemas) answer 501.
	Metadefs Metadefs
}

// CatalogOf returns a Catalog whose every field is v, where v implements
// that field's interface; the others are left nil, and New names them.
func CatalogOf(v any) Catalog {
	var c Catalog
	c.Images, _ = v.(Images)
	c.Data, _ = v.(ImageData)
	c.Members, _ = v.(Members)
	c.V1Members, _ = v.(V1Members)
	c.Tasks, _ = v.(Tasks)
	c.Stores, _ = v.(Stores)
	c.Metadefs, _ = v.(Metadefs)
	return c
}

// check names the first resource the catalog cannot serve.
func (c *Catalog) check() error {
	switch {
	case c.Images == nil:
		return errors.New("gateway: the catalog serves no images: Catalog.Images is nil (it needs a gateway.Images)")
	case c.Data == nil:
		return errors.New("gateway: the catalog serves no image data: Catalog.Data is nil (it needs a gateway.ImageData)")
	case c.Members == nil:
		return errors.New("gateway: the catalog serves no members: Catalog.Members is nil (it needs a gateway.Members)")
	case c.Tasks == nil:
		return errors.New("gateway: the catalog serves no tasks: Catalog.Tasks is nil (it needs a gateway.Tasks)")
	case c.Stores == nil:
		return errors.New("gateway: the catalog names no stores: Catalog.Stores is nil (it needs a gateway.Stores)")
	}
	return nil
}
