package backends

import (
	"errors"
	"testing"
)

// The messages are Glance 25's, asked of a live Glance (POST /v2/images,
// PATCH, POST .../members with a character outside the BMP).
func TestCheckImageText(t *testing.T) {
	s := func(v string) *string { return &v }
	cases := []struct {
		img  Image
		want string
	}{
		{Image{Name: s("cirros")}, ""},
		{Image{Name: s("ünïcødé ☃")}, ""}, // three bytes at most: fine
		{Image{Name: s("a😀")}, "Name can't contain 4 byte unicode characters."},
		{Image{Name: s("a"), Properties: map[string]string{"k😀": "v"}}, "Property names can't contain 4 byte unicode."},
		{Image{Name: s("a"), Properties: map[string]string{"k": "v😀"}}, "K can't contain 4 byte unicode characters."},
		{Image{Properties: map[string]string{"os_distro": "x😀"}}, "Os_Distro can't contain 4 byte unicode characters."},
		{Image{Properties: map[string]string{"hw2x-bus": "𝔁"}}, "Hw2X-Bus can't contain 4 byte unicode characters."},
		{Image{Tags: []string{"ok", "t😀"}}, "Param values can't contain 4 byte unicode."},
		{Image{Owner: s("p😀")}, "Owner can't contain 4 byte unicode characters."},
		// name comes before the properties, as in Glance's values.
		{Image{Name: s("😀"), Properties: map[string]string{"a": "😀"}}, "Name can't contain 4 byte unicode characters."},
	}
	for _, c := range cases {
		err := CheckImageText(&c.img, nil)
		if c.want == "" {
			if err != nil {
				t.Errorf("%+v: %v, want nil", c.img, err)
			}
			continue
		}
		if err == nil || err.Error() != c.want || !errors.Is(err, ErrBadRequest) {
			t.Errorf("%+v: %v, want 400 %q", c.img, err, c.want)
		}
	}
	// A tag stored before (PUT /tags) is not asked again by an update.
	prev := &Image{Tags: []string{"t😀"}}
	if err := CheckImageText(&Image{Tags: []string{"t😀", "u"}}, prev); err != nil {
		t.Errorf("update keeping a stored tag: %v", err)
	}
	if err := CheckImageText(&Image{Tags: []string{"t😀", "u😀"}}, prev); err == nil {
		t.Errorf("update adding a 4-byte tag: accepted")
	}
	if err := CheckMemberText("m😀"); err == nil || err.Error() != "Member can't contain 4 byte unicode characters." {
		t.Errorf("member: %v", err)
	}
	if err := CheckMemberText("project-1"); err != nil {
		t.Errorf("member: %v", err)
	}
}

func TestPyTitle(t *testing.T) {
	for in, want := range map[string]string{
		"name": "Name", "os_distro": "Os_Distro", "OWNER": "Owner", "k2x": "K2X", "": "", "é_b": "É_B", "x.y z": "X.Y Z",
	} {
		if got := pyTitle(in); got != want {
			t.Errorf("pyTitle(%q) = %q, want %q", in, got, want)
		}
	}
}
