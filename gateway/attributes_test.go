package gateway

import (
	"encoding/json"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/spyglass-gateway/spyglass/backends"
)

// createSamples is a valid create value of each attribute create sets.
var createSamples = map[string]string{
	"id": `"6f6b7c3e-1f0a-4e1c-9f1e-2a3b4c5d6e7f"`, "name": `"n"`, "owner": `"p"`, "visibility": `"shared"`,
	"container_format": `"bare"`, "disk_format": `"qcow2"`, "protected": `true`, "os_hidden": `true`,
	"min_ram": `5`, "min_disk": `7`, "tags": `["t"]`,
}

// TestAttributeClassesGateway: every attribute of the table has its line
// in the image schema's checks (validateImageAttr), create sets every one
// of class CreateSet (and refuses the others as its class says), and the
// listing parses a filter on each by its filter class. An attribute added
// to the table without these fails here.
func TestAttributeClassesGateway(t *testing.T) {
	props, _ := imageSchema["properties"].(map[string]any)
	for _, a := range backends.Attributes() {
		t.Run(a.Name, func(t *testing.T) {
			// Schema: a value of no type of the schema fails under the
			// attribute's own schema path when the schema has it.
			path := "in schema['additionalProperties']"
			if _, ok := props[a.Name]; ok {
				path = "in schema['properties'][" + pyRepr(a.Name) + "]"
			}
			if err := validateImageAttr(a.Name, map[string]any{}); err == nil || !strings.Contains(err.Error(), path) {
				t.Errorf("validateImageAttr(%s, {}) = %v, want a failure %s", a.Name, err, path)
			}

			// Create.
			sample, ok := createSamples[a.Name]
			if a.Create == backends.CreateSet && !ok {
				t.Fatalf("no create sample for %s: add one to createSamples", a.Name)
			}
			if !ok {
				sample = sampleOfKind(a)
			}
			img, err := ParseCreateImage([]byte(`{"` + a.Name + `":` + sample + `}`))
			switch a.Create {
			case backends.CreateSet:
				if err != nil {
					t.Fatalf("create with %s: %v", a.Name, err)
				}
				if got := createdValue(a, img); got != strings.Trim(sample, `"[]`) {
					t.Errorf("create set %s to %q, want %s", a.Name, got, sample)
				}
			case backends.CreateIgnored:
				if err != nil || !reflect.DeepEqual(img, &backends.Image{}) {
					t.Errorf("create with %s: %+v, %v; want it ignored", a.Name, img, err)
				}
			case backends.CreateReadOnly, backends.CreateDisallowed:
				if err == nil || !strings.Contains(err.Error(), "is read-only") {
					t.Errorf("create with %s: %v, want read-only", a.Name, err)
				}
			case backends.CreateReserved:
				if err == nil || !strings.Contains(err.Error(), "is reserved") {
					t.Errorf("create with %s: %v, want reserved", a.Name, err)
				}
			}

			// Listing. FilterOwn keys are spelled out by the parser.
			if a.Filter == backends.FilterOwn {
				return
			}
			q, err := parseList(t, url.QueryEscape(a.Name)+"=1")
			if a.Filter == backends.FilterTime || a.Filter == backends.FilterBool {
				if err == nil {
					t.Errorf("filter %s=1 accepted", a.Name)
				}
				return
			}
			if err != nil {
				t.Fatalf("filter %s=1: %v", a.Name, err)
			}
			var f *backends.Filter
			for i := range q.Filters {
				if q.Filters[i].Key == a.Name && a.Name != "os_hidden" {
					f = &q.Filters[i]
				}
			}
			switch a.Filter {
			case backends.FilterIgnored:
				if f != nil {
					t.Errorf("filter %s kept: %+v", a.Name, f)
				}
			case backends.FilterProperty:
				if f == nil || !f.Property {
					t.Errorf("filter %s: %+v, want a property's", a.Name, f)
				}
			case backends.FilterEq, backends.FilterRange, backends.FilterInOrEq:
				if f == nil || f.Property || f.Op != backends.OpEq {
					t.Errorf("filter %s: %+v, want the attribute's", a.Name, f)
				}
			}
		})
	}
}

func createdValue(a *backends.Attribute, img *backends.Image) string {
	switch a.Kind {
	case backends.KindString:
		if p := a.Str(img); p != nil {
			return *p
		}
	case backends.KindInt:
		return n2s(*a.Int(img))
	case backends.KindBool:
		b, _ := json.Marshal(*a.Bool(img))
		return string(b)
	case backends.KindList:
		return strings.Join(img.Tags, ",")
	}
	return ""
}

// sampleOfKind is a value the schema takes for an attribute create does
// not set.
func sampleOfKind(a *backends.Attribute) string {
	switch {
	case a.Kind == backends.KindInt:
		return "1"
	case a.Kind == backends.KindTime:
		return `"2020-01-01T00:00:00Z"`
	case a.Name == "status":
		return `"active"`
	case a.Nullable:
		return "null"
	}
	return `"x"`
}
