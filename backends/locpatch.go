package backends

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// LocationSizes are the sizes a store found for the location URLs a patch
// names (a HEAD each, made before the store takes its write lock): a URL
// missing, or with a size of 0, is not a valid location (glance.location's
// _check_location_uri wants size_from_backend > 0).
type LocationSizes map[string]int64

// LocationURLs are the URLs the location changes of a patch add or set,
// for the store to size before it applies them (LocationSizes). Changes
// whose locations are invisible name none: they are refused unread.
func LocationURLs(changes []Change) []string {
	var urls []string
	for i := range changes {
		c := &changes[i]
		if len(c.Path) == 0 || c.Path[0] != "locations" || !c.LocationsVisible || c.Op == PatchRemove {
			continue
		}
		var locs []PatchLocation
		if c.Op == PatchAdd {
			var l PatchLocation
			if json.Unmarshal(c.Value, &l) == nil {
				locs = append(locs, l)
			}
		} else {
			_ = json.Unmarshal(c.Value, &locs)
		}
		for _, l := range locs {
			urls = append(urls, l.URL)
		}
	}
	return urls
}

// PatchLocation is one location as a patch gives it (the image schema's
// locations item): the gateway has checked it against the schema.
type PatchLocation struct {
	URL      string          `json:"url"`
	Metadata json.RawMessage `json:"metadata"`
	// ValidationData sets checksum, os_hash_algo and os_hash_value of a
	// queued image (and must equal them on any other).
	ValidationData map[string]string `json:"validation_data"`
}

// HashingAlgorithm is Glance's default hashing_algorithm, the only
// os_hash_algo validation_data may give.
const HashingAlgorithm = "sha512"

// applyLocation is one change of /locations with Glance 25's semantics
// (images.py _do_add_locations, _do_replace_locations,
// _do_remove_locations and glance/location.py's StoreLocations): img is
// the working clone, changed in place.
func applyLocation(img *Image, c *Change, sizes LocationSizes, store string) error {
	verb := map[PatchOp]string{PatchAdd: "add", PatchRemove: "remove", PatchReplace: "update"}[c.Op]
	if !c.LocationsVisible {
		return Errorf(ErrForbidden, "It's not allowed to "+verb+" locations if locations are invisible.")
	}
	switch c.Op {
	case PatchAdd:
		if img.Status != StatusActive && img.Status != StatusQueued {
			return Errorf(ErrConflict, "It's not allowed to add locations if image status is "+img.Status+".")
		}
		var l PatchLocation
		if err := json.Unmarshal(c.Value, &l); err != nil {
			return Errorf(ErrBadRequest, "Invalid location")
		}
		val, err := validationData(img, []PatchLocation{l})
		if err != nil {
			return err
		}
		pos, ok := locationPos(c.Path[1], len(img.Locations), true)
		if !ok {
			return Errorf(ErrBadRequest, "Invalid position for adding a location.")
		}
		if err := ownData(img); err != nil {
			return err
		}
		if err := locationQuota(len(img.Locations) + 1); err != nil {
			return err
		}
		loc, err := checkLocation(l, sizes)
		if err != nil {
			return err
		}
		setStore(&loc, store)
		for _, have := range img.Locations {
			if sameLocation(have, loc) {
				return Errorf(ErrBadRequest, "The location "+loc.URL+" already exists")
			}
		}
		if pos > len(img.Locations) { // Python's list.insert clamps
			pos = len(img.Locations)
		}
		img.Locations = append(img.Locations, Location{})
		copy(img.Locations[pos+1:], img.Locations[pos:])
		img.Locations[pos] = loc
		setLocationSize(img, sizes, []Location{loc})
		activate(img, val, store)
	case PatchReplace:
		if img.Status != StatusActive && img.Status != StatusQueued {
			return Errorf(ErrConflict, "It's not allowed to replace locations if image status is "+img.Status+".")
		}
		var ls []PatchLocation
		if err := json.Unmarshal(c.Value, &ls); err != nil {
			return Errorf(ErrBadRequest, "Invalid locations")
		}
		val, err := validationData(img, ls)
		if err != nil {
			return err
		}
		if err := ownData(img); err != nil {
			return err
		}
		if err := locationQuota(len(ls)); err != nil {
			return err
		}
		locs := make([]Location, len(ls))
		for i, l := range ls {
			md, err := locationMetadata(l.Metadata)
			if err != nil {
				return err
			}
			locs[i] = Location{URL: l.URL, Metadata: md, Status: "active"}
			setStore(&locs[i], store)
		}
		if !sameLocations(img.Locations, locs) {
			sameURLs := slices.Equal(sortedURLs(locs), sortedURLs(img.Locations))
			if len(img.Locations) > 0 && !sameURLs {
				return Errorf(ErrBadRequest, "Original locations is not empty: "+pyLocations(img.Locations))
			}
			if !sameURLs {
				for i, l := range ls {
					if _, err := checkLocation(l, sizes); err != nil {
						return err
					}
					n := 0
					for _, o := range locs {
						if sameLocation(o, locs[i]) {
							n++
						}
					}
					if n > 1 {
						return Errorf(ErrBadRequest, "The location "+l.URL+" already exists")
					}
				}
				setLocationSize(img, sizes, locs)
			}
			img.Locations = locs
		}
		activate(img, val, store)
	case PatchRemove:
		if img.Status != StatusActive {
			return Errorf(ErrConflict, "It's not allowed to remove locations if image status is "+img.Status+".")
		}
		if len(img.Locations) == 1 || (len(img.Locations) == 0 && img.DataURL != "") {
			return Detailf(ErrForbidden, "Cannot remove last location in the image.")
		}
		pos, ok := locationPos(c.Path[1], len(img.Locations), false)
		if !ok {
			return Errorf(ErrBadRequest, "Invalid position for removing a location.")
		}
		img.Locations = append(img.Locations[:pos:pos], img.Locations[pos+1:]...)
	default:
		return Errorf(ErrBadRequest, "Invalid operation")
	}
	return nil
}

// LocationQuota is Glance's default image_location_quota: the most
// locations an image may have.
const LocationQuota = 10

// locationQuota is _enforce_image_location_quota (a 413), checked
// before the locations themselves.
func locationQuota(attempted int) error {
	if attempted > LocationQuota {
		return Errorf(ErrQuota, fmt.Sprintf("The limit has been exceeded on the number of allowed image locations. Attempted: %d, Maximum: %d", attempted, LocationQuota))
	}
	return nil
}

// ownData refuses a location for an active image whose data this store
// holds itself: Glance would list that data's own location (file://…)
// beside it; here the image's bytes would silently become the
// location's. Spyglass answers a conflict instead.
func ownData(img *Image) error {
	if img.Status == StatusActive && len(img.Locations) == 0 {
		return Errorf(ErrConflict, "The image's data is held by this store: its locations cannot be changed.")
	}
	return nil
}

// setStore names the store in a location's metadata, as a multi-store
// Glance does (store_utils.get_updated_store_location: its http store
// claims every http URL): Spyglass's stores are its regions, and the
// embedded one serves its http locations.
func setStore(l *Location, store string) {
	if store == "" {
		return
	}
	if l.Metadata == nil {
		l.Metadata = map[string]string{}
	}
	l.Metadata["store"] = store
}

// locationPos is _get_locations_op_pos.
func locationPos(s string, n int, allowMax bool) (int, bool) {
	pos := n - 1
	if allowMax {
		pos = n
	}
	if isDigits(s) {
		v, err := strconv.Atoi(s)
		if err != nil {
			// Python's int has no bound: a huge position is past any
			// list's end (an add appends, a remove is refused).
			v = math.MaxInt
		}
		pos = v
	} else if s != "-" {
		return 0, false
	}
	if !allowMax && (pos < 0 || pos >= n) {
		return 0, false
	}
	return pos, true
}

// isDigits is Python's str.isdigit for ASCII: at least one digit, only
// digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// checkLocation is _check_image_location: a URL the store could size
// (non-zero), metadata of strings.
func checkLocation(l PatchLocation, sizes LocationSizes) (Location, error) {
	if sizes[l.URL] <= 0 {
		return Location{}, Errorf(ErrBadRequest, "Invalid location")
	}
	md, err := locationMetadata(l.Metadata)
	if err != nil {
		return Location{}, err
	}
	return Location{URL: l.URL, Metadata: md, Status: "active"}, nil
}

// locationMetadata decodes a location's metadata object. The store keeps
// string values only (Glance's would take nested JSON too): another value
// is refused, never altered.
func locationMetadata(raw json.RawMessage) (map[string]string, error) {
	var md map[string]string
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &md); err != nil {
			return nil, Errorf(ErrBadRequest, "Invalid location metadata: this store keeps string values only")
		}
	}
	if len(md) == 0 {
		md = nil
	}
	return md, nil
}

func sameLocation(a, b Location) bool {
	if a.URL != b.URL || len(a.Metadata) != len(b.Metadata) {
		return false
	}
	for k, v := range a.Metadata {
		if w, ok := b.Metadata[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func sameLocations(a, b []Location) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !sameLocation(a[i], b[i]) {
			return false
		}
	}
	return true
}

func sortedURLs(ls []Location) []string {
	urls := make([]string, len(ls))
	for i, l := range ls {
		urls[i] = l.URL
	}
	sort.Strings(urls)
	return urls
}

// pyLocations renders locations the way Glance's message shows its
// list of location dicts (url, metadata, status).
func pyLocations(ls []Location) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, l := range ls {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("{'url': '" + l.URL + "', 'metadata': {")
		keys := make([]string, 0, len(l.Metadata))
		for k := range l.Metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for j, k := range keys {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("'" + k + "': '" + l.Metadata[k] + "'")
		}
		status := l.Status
		if status == "" {
			status = "active"
		}
		b.WriteString("}, 'status': '" + status + "'}")
	}
	b.WriteByte(']')
	return b.String()
}

// setLocationSize is _set_image_size: an image with no size takes the
// first non-zero size of the locations.
func setLocationSize(img *Image, sizes LocationSizes, locs []Location) {
	if img.Size != nil && *img.Size != 0 {
		return
	}
	for _, l := range locs {
		if n := sizes[l.URL]; n > 0 {
			img.Size = &n
			return
		}
	}
}

// activate is the end of _do_add_locations and _do_replace_locations: a
// queued image takes the validation data and becomes active, its data
// in store.
func activate(img *Image, val map[string]string, store string) {
	if img.Status != StatusQueued {
		return
	}
	for k, v := range val {
		v := v
		switch k {
		case "checksum":
			img.Checksum = &v
		case "os_hash_algo":
			img.OSHashAlgo = &v
		case "os_hash_value":
			img.OSHashValue = &v
		}
	}
	img.Status = StatusActive
	if store != "" {
		img.Stores = []string{store}
	}
}

// validationData is _validate_validation_data.
func validationData(img *Image, locs []PatchLocation) (map[string]string, error) {
	val := map[string]string{}
	var order []string
	for _, l := range locs {
		keys := make([]string, 0, len(l.ValidationData))
		for k := range l.ValidationData {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := l.ValidationData[k]
			if have, ok := val[k]; ok && have != v {
				return nil, Errorf(ErrConflict, "Conflicting values for "+k)
			}
			if _, ok := val[k]; !ok {
				order = append(order, k)
			}
			val[k] = v
		}
	}
	current := func(k string) *string {
		switch k {
		case "checksum":
			return img.Checksum
		case "os_hash_algo":
			return img.OSHashAlgo
		case "os_hash_value":
			return img.OSHashValue
		}
		return nil
	}
	out := map[string]string{}
	var newKeys []string
	for _, k := range order {
		v := val[k]
		cur := current(k)
		if cur != nil && *cur == v {
			continue
		}
		if cur != nil && *cur != "" {
			return nil, Errorf(ErrConflict, k+" is already set with a different value")
		}
		out[k] = v
		newKeys = append(newKeys, k)
	}
	if len(out) == 0 {
		return nil, nil
	}
	if img.Status != StatusQueued {
		return nil, Errorf(ErrConflict, "New value(s) for "+strings.Join(newKeys, ", ")+" may only be provided when image status is 'queued'")
	}
	if sum, ok := out["checksum"]; ok {
		b, err := hex.DecodeString(sum)
		if err != nil {
			return nil, Errorf(ErrConflict, "checksum ("+sum+") is not a valid hexadecimal value")
		}
		if len(b) != 16 {
			return nil, Errorf(ErrConflict, "checksum ("+sum+") is not the correct size for md5 (should be 16 bytes)")
		}
	}
	algo, ok := out["os_hash_algo"]
	if algo != HashingAlgorithm {
		got := "None"
		if ok {
			got = algo
		}
		return nil, Errorf(ErrConflict, "os_hash_algo must be "+HashingAlgorithm+", not "+got)
	}
	hv := out["os_hash_value"]
	b, err := hex.DecodeString(hv)
	if err != nil {
		return nil, Errorf(ErrConflict, "os_hash_value ("+hv+") is not a valid hexadecimal value")
	}
	if len(b) != 64 {
		return nil, Errorf(ErrConflict, fmt.Sprintf("os_hash_value (%s) is not the correct size for %s (should be %d bytes)", hv, algo, 64))
	}
	return out, nil
}
