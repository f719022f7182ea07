package backends

import "time"

// ListQuery is one parsed, validated image listing request. The gateway
// builds it exactly as Glance's request deserializer and database layer do;
// a store only has to evaluate it.
//
// The caller, in ctx (CallerFrom), decides visibility: admins see
// everything the other filters allow; others see public, community (when
// asked for), their own and images shared with them (see MemberStatus).
type ListQuery struct {
	// Visibility is "" (Glance's default: no community images except the
	// caller's own), or public, private, shared, community, all.
	Visibility string
	// MemberStatus selects which shared images a non-admin sees through
	// membership: accepted (the default when empty), pending, rejected, all.
	MemberStatus string
	// Tags: the image must carry every one of them.
	Tags []string
	// Filters are ANDed.
	Filters []Filter
	// Sort is the complete ordering, Glance's tie-breaks (created_at, then id)
	// already appended by the parser. Never empty when built by the gateway.
	Sort []SortKey
	// Limit is the page size; 0 means no limit (stores may still bound it).
	Limit int
	// Marker is the id of the last image of the previous page, or "".
	Marker string
}

// FilterOp is a comparison in a listing filter.
type FilterOp uint8

const (
	OpEq FilterOp = iota
	OpNeq
	OpIn // Values holds the alternatives
	OpGt
	OpGte
	OpLt
	OpLte
)

// Filter is one condition. Key is an image attribute (id, name, owner,
// status, container_format, disk_format, checksum, os_hash_value, size,
// virtual_size, min_disk, min_ram, protected, os_hidden, created_at,
// updated_at) unless Property is set, in which case it names a custom
// property. Values are the raw strings from the query; numeric attributes
// compare as integers, booleans are "true"/"false"; for created_at and
// updated_at Time holds the parsed instant (UTC) and Values is unused.
type Filter struct {
	Key      string
	Property bool
	Op       FilterOp
	Values   []string
	Time     time.Time
}

// SortKey is one ordering term. Key is one of Glance's sort keys: name,
// status, container_format, disk_format, size, id, created_at, updated_at.
type SortKey struct {
	Key  string
	Desc bool
}
