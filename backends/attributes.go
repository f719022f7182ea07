package backends

import "time"

// AttrKind is the type of an image attribute's value.
type AttrKind uint8

const (
	// KindNone: the attribute has no value in the record (self, file,
	// schema, direct_url, locations, and the reserved names): it exists
	// only for what a patch may do with it.
	KindNone AttrKind = iota
	KindString
	KindInt
	KindBool
	KindTime
	KindList // tags, stores
)

// Attribute is one image attribute as every layer sees it: its type,
// whether it may be NULL, whether a listing sorts by it, what a JSON patch
// may do to it, and how to read it from a record. The accessor of the
// attribute's kind is set (Str for KindString, ...); it returns a pointer
// into the record (no copy, no allocation), nil for NULL. Callers that use
// an attribute per image (a merge's comparisons, a SQL marker) look it up
// once per query with LookupAttribute, never per image.
type Attribute struct {
	Name     string
	Kind     AttrKind
	Nullable bool
	// Sortable: one of the sort keys Glance's v2 listing takes (SortKeys).
	// Stores and the merge order by any scalar attribute.
	Sortable bool
	// patch is what a JSON patch may do to the attribute.
	patch attrClass
	field field

	Str  func(*Image) *string
	Int  func(*Image) *int64
	Bool func(*Image) *bool
	Time func(*Image) *time.Time
}

// field names the record field behind an attribute, for the switches that
// must not pay an indirect call per image (Blank).
type field uint8

const (
	fNone field = iota
	fID
	fName
	fStatus
	fVisibility
	fProtected
	fOSHidden
	fOwner
	fChecksum
	fOSHashAlgo
	fOSHashValue
	fSize
	fVirtualSize
	fMinDisk
	fMinRAM
	fContainerFormat
	fDiskFormat
	fCreatedAt
	fUpdatedAt
)

// attributes is the one table of image attributes.
var attributes = []Attribute{
	// Glance's sort keys first, in its order (its error message lists them so).
	{field: fName, Name: "name", Kind: KindString, Nullable: true, Sortable: true, patch: attrBase, Str: func(im *Image) *string { return im.Name }},
	{field: fStatus, Name: "status", Kind: KindString, Sortable: true, patch: attrReadOnly, Str: func(im *Image) *string { return &im.Status }},
	{field: fContainerFormat, Name: "container_format", Kind: KindString, Nullable: true, Sortable: true, patch: attrFormat, Str: func(im *Image) *string { return im.ContainerFormat }},
	{field: fDiskFormat, Name: "disk_format", Kind: KindString, Nullable: true, Sortable: true, patch: attrFormat, Str: func(im *Image) *string { return im.DiskFormat }},
	{field: fSize, Name: "size", Kind: KindInt, Nullable: true, Sortable: true, patch: attrReadOnly, Int: func(im *Image) *int64 { return im.Size }},
	{field: fID, Name: "id", Kind: KindString, Sortable: true, patch: attrReadOnly, Str: func(im *Image) *string { return &im.ID }},
	{field: fCreatedAt, Name: "created_at", Kind: KindTime, Sortable: true, patch: attrReadOnly, Time: func(im *Image) *time.Time { return &im.CreatedAt }},
	{field: fUpdatedAt, Name: "updated_at", Kind: KindTime, Sortable: true, patch: attrReadOnly, Time: func(im *Image) *time.Time { return &im.UpdatedAt }},
	// The others.
	{field: fVisibility, Name: "visibility", Kind: KindString, patch: attrBase, Str: func(im *Image) *string { return &im.Visibility }},
	{field: fProtected, Name: "protected", Kind: KindBool, patch: attrBase, Bool: func(im *Image) *bool { return &im.Protected }},
	{field: fOSHidden, Name: "os_hidden", Kind: KindBool, patch: attrBase, Bool: func(im *Image) *bool { return &im.OSHidden }},
	{field: fOwner, Name: "owner", Kind: KindString, Nullable: true, patch: attrAdminOnly, Str: func(im *Image) *string { return im.Owner }},
	{field: fChecksum, Name: "checksum", Kind: KindString, Nullable: true, patch: attrReadOnly, Str: func(im *Image) *string { return im.Checksum }},
	{field: fOSHashAlgo, Name: "os_hash_algo", Kind: KindString, Nullable: true, patch: attrReadOnly, Str: func(im *Image) *string { return im.OSHashAlgo }},
	{field: fOSHashValue, Name: "os_hash_value", Kind: KindString, Nullable: true, patch: attrReadOnly, Str: func(im *Image) *string { return im.OSHashValue }},
	{field: fVirtualSize, Name: "virtual_size", Kind: KindInt, Nullable: true, patch: attrReadOnly, Int: func(im *Image) *int64 { return im.VirtualSize }},
	{field: fMinDisk, Name: "min_disk", Kind: KindInt, patch: attrBase, Int: func(im *Image) *int64 { return &im.MinDisk }},
	{field: fMinRAM, Name: "min_ram", Kind: KindInt, patch: attrBase, Int: func(im *Image) *int64 { return &im.MinRAM }},
	{Name: "tags", Kind: KindList, patch: attrBase},
	// A patch of stores is a custom property's, as in Glance (where stores
	// is no attribute of the domain image); locations, not listed, has
	// rules of its own (ApplyChanges).
	{Name: "stores", Kind: KindList, patch: attrProperty},
	// Rendered, never stored: read-only to a patch.
	{Name: "direct_url", patch: attrReadOnly},
	{Name: "self", patch: attrReadOnly},
	{Name: "file", patch: attrReadOnly},
	{Name: "schema", patch: attrReadOnly},
	// Glance's _reserved_properties.
	{Name: "location", patch: attrReserved},
	{Name: "deleted", patch: attrReserved},
	{Name: "deleted_at", patch: attrReserved},
}

// SortKeys are the sort keys Glance's v2 listing takes, in Glance's order.
var SortKeys = func() []string {
	var keys []string
	for _, a := range attributes {
		if a.Sortable {
			keys = append(keys, a.Name)
		}
	}
	return keys
}()

var attributeIndex = func() map[string]*Attribute {
	m := make(map[string]*Attribute, len(attributes))
	for i := range attributes {
		m[attributes[i].Name] = &attributes[i]
	}
	return m
}()

// LookupAttribute returns the image attribute called name, or nil when
// name is not one (a custom property). The *Attribute is the table's own,
// the same for every call: compare it, keep it, do not modify it.
func LookupAttribute(name string) *Attribute { return attributeIndex[name] }

// Blanks is a set of attributes whose values are checked for blanks: NULL,
// or the value Glance's marker predicate takes NULL for ("" for a string,
// 0 for an integer). Build it once (BlanksOf) and ask it of every image:
// the merge does, and one straight test per field, with no loop, call or
// lookup per attribute, is what keeps that as cheap as it was.
type Blanks uint32

// BlanksOf is the set of attrs with a string or integer value; the others
// are never blank.
func BlanksOf(attrs ...*Attribute) Blanks {
	var b Blanks
	for _, a := range attrs {
		if a != nil && (a.Kind == KindString || a.Kind == KindInt) {
			b |= 1 << a.field
		}
	}
	return b
}

// Any reports whether any attribute of the set is blank in img.
func (b Blanks) Any(img *Image) bool {
	if b == 0 {
		return false
	}
	has := func(f field) bool { return b&(1<<f) != 0 }
	return has(fName) && blankString(img.Name) ||
		has(fContainerFormat) && blankString(img.ContainerFormat) ||
		has(fDiskFormat) && blankString(img.DiskFormat) ||
		has(fSize) && blankInt(img.Size) ||
		has(fID) && img.ID == "" ||
		has(fStatus) && img.Status == "" ||
		has(fVisibility) && img.Visibility == "" ||
		has(fOwner) && blankString(img.Owner) ||
		has(fChecksum) && blankString(img.Checksum) ||
		has(fOSHashAlgo) && blankString(img.OSHashAlgo) ||
		has(fOSHashValue) && blankString(img.OSHashValue) ||
		has(fVirtualSize) && blankInt(img.VirtualSize) ||
		has(fMinDisk) && img.MinDisk == 0 ||
		has(fMinRAM) && img.MinRAM == 0
}

func blankString(p *string) bool { return p == nil || *p == "" }
func blankInt(p *int64) bool     { return p == nil || *p == 0 }

// Scalar reports whether the attribute has one comparable value per record
// (a string, an integer, a boolean or a time).
func (a *Attribute) Scalar() bool { return a.Kind >= KindString && a.Kind <= KindTime }
