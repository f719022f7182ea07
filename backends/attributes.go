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
	// Filter is how Glance's v2 listing filters on the attribute: the
	// query syntax of its parameter.
	Filter FilterClass
	// Target is what a policy rule's %(name)s reads when the target is an
	// image (Glance's ImageTarget).
	Target TargetClass
	// Create is what POST /v2/images does with the attribute in its body.
	Create CreateClass
	// patch is what a JSON patch may do to the attribute.
	patch attrClass
	field field

	Str  func(*Image) *string
	Int  func(*Image) *int64
	Bool func(*Image) *bool
	Time func(*Image) *time.Time
}

// FilterClass is the syntax of an attribute's filter in Glance's v2
// listing (ImagesController.index, the database layer's filters). The zero
// class is no class: every attribute of the table has one (the tests check).
type FilterClass uint8

const (
	_ FilterClass = iota
	// FilterInOrEq: "in:a,b" (quoted alternatives) or "eq:a" or "a".
	FilterInOrEq
	// FilterRange: "<name>=n" and the ranges "<name>_min=n", "<name>_max=n".
	FilterRange
	// FilterTime: "[op:]<ISO 8601 time>", op eq, neq, gt, gte, lt, lte.
	FilterTime
	// FilterEq: the value as it is, compared for equality.
	FilterEq
	// FilterBool: "true" or "false", anything else refused.
	FilterBool
	// FilterOwn: a parameter whose syntax only this key has (visibility,
	// os_hidden, tag): the listing's parser spells it out.
	FilterOwn
	// FilterProperty: no column of Glance's images table: a parameter of
	// this name filters on a custom property of that name.
	FilterProperty
	// FilterIgnored: Glance drops the parameter (deleted is forced false).
	FilterIgnored
)

// TargetClass is how Glance's ImageTarget gives an attribute to a policy
// rule's %(name)s. The zero class is no class (the tests check).
type TargetClass uint8

const (
	_ TargetClass = iota
	// TargetValue: Python's str() of the value: the string, the integer
	// in decimal, True or False, None for NULL. Read through the kind's
	// accessor (no copy, no allocation).
	TargetValue
	// TargetUnsupported: a value whose str() Spyglass does not reproduce
	// (datetimes, lists): a rule that reads it is refused when compiled.
	TargetUnsupported
	// TargetProperty: no attribute of Glance's domain image: ImageTarget
	// reads the extra property of that name.
	TargetProperty
)

// CreateClass is what Glance's POST /v2/images does with an attribute in
// the request body. The zero class is no class (the tests check).
type CreateClass uint8

const (
	_ CreateClass = iota
	// CreateSet: the client sets it.
	CreateSet
	// CreateIgnored: accepted by the schema, dropped by the image factory.
	CreateIgnored
	// CreateReadOnly: accepted by the schema, then refused 403 read-only.
	CreateReadOnly
	// CreateDisallowed: the deserializer's _disallowed_properties, refused
	// 403 read-only before the schema is checked, in the table's order.
	CreateDisallowed
	// CreateReserved: Glance's _reserved_properties, refused 403 reserved.
	CreateReserved
)

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
	{field: fName, Name: "name", Filter: FilterInOrEq, Target: TargetValue, Create: CreateSet, Kind: KindString, Nullable: true, Sortable: true, patch: attrBase, Str: func(im *Image) *string { return im.Name }},
	{field: fStatus, Name: "status", Filter: FilterInOrEq, Target: TargetValue, Create: CreateReadOnly, Kind: KindString, Sortable: true, patch: attrReadOnly, Str: func(im *Image) *string { return &im.Status }},
	{field: fContainerFormat, Name: "container_format", Filter: FilterInOrEq, Target: TargetValue, Create: CreateSet, Kind: KindString, Nullable: true, Sortable: true, patch: attrFormat, Str: func(im *Image) *string { return im.ContainerFormat }},
	{field: fDiskFormat, Name: "disk_format", Filter: FilterInOrEq, Target: TargetValue, Create: CreateSet, Kind: KindString, Nullable: true, Sortable: true, patch: attrFormat, Str: func(im *Image) *string { return im.DiskFormat }},
	{field: fSize, Name: "size", Filter: FilterRange, Target: TargetValue, Create: CreateReadOnly, Kind: KindInt, Nullable: true, Sortable: true, patch: attrReadOnly, Int: func(im *Image) *int64 { return im.Size }},
	{field: fID, Name: "id", Filter: FilterInOrEq, Target: TargetValue, Create: CreateSet, Kind: KindString, Sortable: true, patch: attrReadOnly, Str: func(im *Image) *string { return &im.ID }},
	{field: fCreatedAt, Name: "created_at", Filter: FilterTime, Target: TargetUnsupported, Create: CreateReadOnly, Kind: KindTime, Sortable: true, patch: attrReadOnly, Time: func(im *Image) *time.Time { return &im.CreatedAt }},
	{field: fUpdatedAt, Name: "updated_at", Filter: FilterTime, Target: TargetUnsupported, Create: CreateReadOnly, Kind: KindTime, Sortable: true, patch: attrReadOnly, Time: func(im *Image) *time.Time { return &im.UpdatedAt }},
	// The others.
	{field: fVisibility, Name: "visibility", Filter: FilterOwn, Target: TargetValue, Create: CreateSet, Kind: KindString, patch: attrBase, Str: func(im *Image) *string { return &im.Visibility }},
	{field: fProtected, Name: "protected", Filter: FilterBool, Target: TargetValue, Create: CreateSet, Kind: KindBool, patch: attrBase, Bool: func(im *Image) *bool { return &im.Protected }},
	{field: fOSHidden, Name: "os_hidden", Filter: FilterOwn, Target: TargetValue, Create: CreateSet, Kind: KindBool, patch: attrBase, Bool: func(im *Image) *bool { return &im.OSHidden }},
	{field: fOwner, Name: "owner", Filter: FilterEq, Target: TargetValue, Create: CreateSet, Kind: KindString, Nullable: true, patch: attrAdminOnly, Str: func(im *Image) *string { return im.Owner }},
	{field: fChecksum, Name: "checksum", Filter: FilterEq, Target: TargetValue, Create: CreateReadOnly, Kind: KindString, Nullable: true, patch: attrReadOnly, Str: func(im *Image) *string { return im.Checksum }},
	{field: fOSHashAlgo, Name: "os_hash_algo", Filter: FilterEq, Target: TargetValue, Create: CreateIgnored, Kind: KindString, Nullable: true, patch: attrReadOnly, Str: func(im *Image) *string { return im.OSHashAlgo }},
	{field: fOSHashValue, Name: "os_hash_value", Filter: FilterEq, Target: TargetValue, Create: CreateIgnored, Kind: KindString, Nullable: true, patch: attrReadOnly, Str: func(im *Image) *string { return im.OSHashValue }},
	{field: fVirtualSize, Name: "virtual_size", Filter: FilterRange, Target: TargetValue, Create: CreateReadOnly, Kind: KindInt, Nullable: true, patch: attrReadOnly, Int: func(im *Image) *int64 { return im.VirtualSize }},
	{field: fMinDisk, Name: "min_disk", Filter: FilterRange, Target: TargetValue, Create: CreateSet, Kind: KindInt, patch: attrBase, Int: func(im *Image) *int64 { return &im.MinDisk }},
	{field: fMinRAM, Name: "min_ram", Filter: FilterRange, Target: TargetValue, Create: CreateSet, Kind: KindInt, patch: attrBase, Int: func(im *Image) *int64 { return &im.MinRAM }},
	// The listing's tag filter is the parameter "tag" (the parser's own);
	// a parameter "tags" filters on a custom property, as any unknown name.
	{Name: "tags", Filter: FilterProperty, Target: TargetUnsupported, Create: CreateSet, Kind: KindList, patch: attrBase},
	// Rendered, never stored: read-only to a patch.
	{Name: "direct_url", Filter: FilterProperty, Target: TargetProperty, Create: CreateDisallowed, patch: attrReadOnly},
	{Name: "self", Filter: FilterProperty, Target: TargetProperty, Create: CreateDisallowed, patch: attrReadOnly},
	{Name: "file", Filter: FilterProperty, Target: TargetProperty, Create: CreateDisallowed, patch: attrReadOnly},
	{Name: "schema", Filter: FilterProperty, Target: TargetProperty, Create: CreateDisallowed, patch: attrReadOnly},
	// After the rendered ones: create refuses the first of direct_url,
	// self, file, schema, stores it finds, in Glance's order
	// (_disallowed_properties). A patch of stores is a custom property's,
	// as in Glance (where stores is no attribute of the domain image);
	// locations, not listed, has rules of its own (ApplyChanges).
	{Name: "stores", Filter: FilterProperty, Target: TargetUnsupported, Create: CreateDisallowed, Kind: KindList, patch: attrProperty},
	// Glance's _reserved_properties.
	{Name: "location", Filter: FilterProperty, Target: TargetProperty, Create: CreateReserved, patch: attrReserved},
	{Name: "deleted", Filter: FilterIgnored, Target: TargetProperty, Create: CreateReserved, patch: attrReserved},
	{Name: "deleted_at", Filter: FilterIgnored, Target: TargetProperty, Create: CreateReserved, patch: attrReserved},
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

// Attributes returns the table, in its order: the *Attribute are the
// table's own (do not modify them). For set-up and tests, not per request.
func Attributes() []*Attribute {
	all := make([]*Attribute, len(attributes))
	for i := range attributes {
		all[i] = &attributes[i]
	}
	return all
}

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
