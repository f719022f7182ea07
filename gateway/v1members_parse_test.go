package gateway

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestParseV1Member: the v1 API's reading of PUT .../members/{member}'s
// body (members.py update), Python's semantics included.
func TestParseV1Member(t *testing.T) {
	tr, fa := true, false
	for _, c := range []struct {
		body string
		want *bool
		bad  bool
	}{
		{"", nil, false},
		{"  ", nil, false},
		{`{"member": {"can_share": true}}`, &tr, false},
		{`{"member": {"can_share": false}}`, &fa, false},
		{`{"member": {"can_share": "false"}}`, &tr, false}, // bool("false")
		{`{"member": {"can_share": ""}}`, &fa, false},
		{`{"member": {"can_share": 0}}`, &fa, false},
		{`{"member": {"can_share": 0.0}}`, &fa, false},
		{`{"member": {"can_share": 2}}`, &tr, false},
		{`{"member": {"can_share": 1e999}}`, &tr, false}, // inf
		{`{"member": {"can_share": null}}`, &fa, false},
		{`{"member": {"can_share": []}}`, &fa, false},
		{`{"member": {"can_share": {"a": 1}}}`, &tr, false},
		{`{"member": {}}`, nil, false},
		{`{"member": "x"}`, nil, false},
		{`{"member": ["x"]}`, nil, false},
		{`{}`, nil, false},
		{`[]`, nil, false},
		{`null`, nil, false},
		{`0`, nil, false},
		{`"x"`, nil, false},
		{`["x"]`, nil, false},
		{`{"member": "can_share"}`, nil, true},   // str indexed by "can_share"
		{`{"member": ["can_share"]}`, nil, true}, // list indexed so
		{`{"member": null}`, nil, true},          // 'can_share' in None
		{`{"member": 1}`, nil, true},
		{`"a member"`, nil, true}, // str indexed by "member"
		{`["member"]`, nil, true},
		{`1`, nil, true}, // 'member' in 1
		{`true`, nil, true},
		{`{`, nil, true},
	} {
		got, err := ParseV1Member([]byte(c.body))
		if (err != nil) != c.bad {
			t.Errorf("%s: err %v, want bad %v", c.body, err, c.bad)
			continue
		}
		if err != nil {
			if st, _ := statusOf(err); st != 400 {
				t.Errorf("%s: status %d", c.body, st)
			}
			continue
		}
		if (got == nil) != (c.want == nil) || got != nil && *got != *c.want {
			t.Errorf("%s: %v, want %v", c.body, ptrStr(got), ptrStr(c.want))
		}
	}
}

func ptrStr(b *bool) string {
	if b == nil {
		return "nil"
	}
	if *b {
		return "true"
	}
	return "false"
}

func TestParseV1Memberships(t *testing.T) {
	for _, c := range []struct {
		body string
		want string // the grants as "id:cs" with cs one of t, f, -
		bad  bool
	}{
		{`{"memberships": []}`, "", false},
		{`{"memberships": {}}`, "", false},
		{`{"memberships": ""}`, "", false},
		{`{"memberships": [{"member_id": "a"}, {"member_id": "b", "can_share": true}, {"member_id": 7, "can_share": "false"}]}`, "a:- b:t 7:t", false},
		{`{"member_id": "a", "can_share": false}`, "a:f", false},
		{``, "", true},
		{`[]`, "", true},
		{`{"memberships": null}`, "", true},
		{`{"memberships": 1}`, "", true},
		{`{"memberships": {"a": 1}}`, "", true},
		{`{"memberships": "ab"}`, "", true},
		{`{"memberships": [1]}`, "", true},
		{`{"memberships": [{"member_id": ""}]}`, "", true},
		{`{"memberships": [{"member_id": true}]}`, "", true},
		{`{"memberships": [{}]}`, "", true},
		{`{"image_memberships": [{"member_id": "a"}]}`, "", true},
	} {
		got, err := ParseV1Memberships([]byte(c.body))
		if (err != nil) != c.bad {
			t.Errorf("%s: err %v, want bad %v", c.body, err, c.bad)
			continue
		}
		if err != nil {
			continue
		}
		var b bytes.Buffer
		for i, g := range got {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(g.MemberID + ":")
			switch {
			case g.CanShare == nil:
				b.WriteByte('-')
			case *g.CanShare:
				b.WriteByte('t')
			default:
				b.WriteByte('f')
			}
		}
		if b.String() != c.want {
			t.Errorf("%s: %q, want %q", c.body, b.String(), c.want)
		}
	}
}

// FuzzV1Members: neither parser fails but with a 400, and what they
// accept is what Queens' expressions read.
func FuzzV1Members(f *testing.F) {
	for _, s := range []string{``, `{"member": {"can_share": true}}`, `{"member": "can_share"}`, `["member"]`,
		`{"memberships": [{"member_id": "a", "can_share": 0}]}`, `{"member_id": 5}`, `{"memberships": {}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		b := []byte(body)
		cs, err := ParseV1Member(b)
		if err != nil {
			if st, _ := statusOf(err); st != 400 {
				t.Fatalf("ParseV1Member: status %d: %v", st, err)
			}
		} else if cs != nil {
			// Only {"member": {"can_share": v}} yields one, as bool(v).
			var v struct {
				Member map[string]any `json:"member"`
			}
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.UseNumber()
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("ParseV1Member accepted %q as can_share %v; not an object of objects: %v", body, *cs, err)
			}
			raw, ok := v.Member["can_share"]
			if !ok || pyTruthy(raw) != *cs {
				t.Fatalf("ParseV1Member(%q) = %v", body, *cs)
			}
		}
		grants, err := ParseV1Memberships(b)
		if err != nil {
			if st, _ := statusOf(err); st != 400 {
				t.Fatalf("ParseV1Memberships: status %d: %v", st, err)
			}
			return
		}
		for _, g := range grants {
			if g.MemberID == "" || len(g.MemberID) > 255 {
				t.Fatalf("ParseV1Memberships(%q): member id %q", body, g.MemberID)
			}
		}
	})
}
