package policy

import (
	"strings"
	"testing"
	"unicode"

	"github.com/spyglass-gateway/spyglass/backends"
)

// FuzzParseRule feeds arbitrary check strings to the parser and compiler:
// never a panic; a rule that compiles evaluates, without panicking, to the
// same answer as the same rule in parentheses and as "not not" it.
func FuzzParseRule(f *testing.F) {
	for _, d := range defaults {
		f.Add(d.check)
	}
	for _, s := range []string{"", "@", "!", "role:admin or (role:member and project_id:%(project_id)s)",
		"not role:a and ((role:b))", "'public':%(visibility)s", "is_admin:True", "roles:admin",
		"user_id:%(owner)s%%x", "True:%(protected)s", "42:%(size)s", "-0:%(min_disk)s", "(", ")", "a:b c:d",
		"role:%(name)s", "rule:default", "rule:nope", "project_id:%(x", "\"s\"", "NOT not OR and"} {
		f.Add(s)
	}
	ids := []*Identity{
		{ProjectID: "p1", UserID: "u1", Roles: []string{"member", "reader"}},
		{Roles: []string{"admin"}},
		{ProjectID: "p2", SystemScope: "all"},
	}
	owner := "p1"
	img := &backends.Image{ID: "i", Visibility: "shared", Owner: &owner, Properties: map[string]string{"x": "y"}}
	f.Fuzz(func(t *testing.T, rule string) {
		e, err := parseRule(rule)
		if err != nil || len(strings.FieldsFunc(rule, unicode.IsSpace)) == 0 {
			return // an empty rule is "always", but "()" is not a rule
		}
		p, err := compile(Current, map[string]fileRule{"fuzz": {expr: e, line: 1}}, "fuzz.yaml")
		if err != nil {
			return
		}
		wrapped, err := parseRule("(" + rule + ")")
		if err != nil {
			t.Fatalf("%q parses but (%q) does not: %v", rule, rule, err)
		}
		notnot, err := parseRule("not not (" + rule + ")")
		if err != nil {
			t.Fatalf("not not (%q) does not parse: %v", rule, err)
		}
		p2, err := compile(Current, map[string]fileRule{"fuzz": {expr: wrapped, line: 1}, "fuzz2": {expr: notnot, line: 2}}, "fuzz.yaml")
		if err != nil {
			t.Fatalf("(%q) does not compile: %v", rule, err)
		}
		for _, id := range ids {
			for _, tg := range []Target{EmptyTarget(), ImageTarget(img, id), ProposedImageTarget(nil, "public"), ProjectTarget(id)} {
				a, _ := p.AllowedName("fuzz", id, &tg)
				b, _ := p2.AllowedName("fuzz", id, &tg)
				c, _ := p2.AllowedName("fuzz2", id, &tg)
				if a != b || a != c {
					t.Fatalf("%q: %v, in parentheses %v, under not not %v", rule, a, b, c)
				}
			}
		}
	})
}

func TestCompiledEvaluationDoesNotAllocate(t *testing.T) {
	if testing.Short() {
		return
	}
	p := MustNew(Options{})
	owner := "p1"
	img := &backends.Image{ID: "i", Visibility: "shared", Owner: &owner, Size: new(int64)}
	id := &Identity{ProjectID: "p2", Roles: []string{"member", "reader"}}
	n := testing.AllocsPerRun(1000, func() {
		for r := Rule(0); r < numRules; r++ {
			t := ImageTarget(img, id)
			p.Allowed(r, id, &t)
		}
		p.Image(GetImage, id, img)
		p.IsAdmin(id)
	})
	if n != 0 {
		t.Fatalf("evaluating every rule allocates %v times", n)
	}
}

// BenchmarkAllowed is one image rule, the way the show path asks it.
func BenchmarkAllowed(b *testing.B) {
	for _, mode := range []Defaults{Current, Legacy} {
		b.Run(mode.String(), func(b *testing.B) {
			p := MustNew(Options{Defaults: mode})
			owner := "p1"
			img := &backends.Image{ID: "i", Visibility: "shared", Owner: &owner}
			id := &Identity{ProjectID: "p2", Roles: []string{"member", "reader"}}
			b.ReportAllocs()
			for b.Loop() {
				if p.Image(GetImage, id, img) != Allow {
					b.Fatal("denied")
				}
			}
		})
	}
}

// BenchmarkAllRules evaluates every registered rule once per iteration.
func BenchmarkAllRules(b *testing.B) {
	p := MustNew(Options{})
	owner := "p1"
	img := &backends.Image{ID: "i", Visibility: "private", Owner: &owner, Size: new(int64)}
	id := &Identity{ProjectID: "p1", Roles: []string{"member", "reader"}}
	b.ReportAllocs()
	for b.Loop() {
		for r := Rule(0); r < numRules; r++ {
			t := ImageTarget(img, id)
			p.Allowed(r, id, &t)
		}
	}
}
