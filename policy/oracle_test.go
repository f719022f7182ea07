package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/spyglass-gateway/spyglass/backends"
)

// The oracle is Glance 25's own policy code (glance.api.policy.Enforcer
// over oslo.policy 4.0, Debian's python3-glance), asked the same questions
// as the compiled rules: for every registered rule, both default sets, a
// set of callers and targets. The tests fail (never skip) without it.

const python = "/usr/bin/python3"

// oracleScript reads {"mode", "policy_file", "cases": [{rule, creds,
// target}]} and prints one JSON list: each case's verdict, or the
// exception's text.
const oracleScript = `
import json, sys, warnings, logging
warnings.simplefilter("ignore")
logging.disable(logging.CRITICAL)
from oslo_config import cfg
CONF = cfg.CONF
from glance.api import policy
import glance.context
req = json.load(sys.stdin)
CONF([], project='glance', default_config_files=[])
new = req["mode"] == "current"
CONF.set_override('enforce_new_defaults', new, group='oslo_policy')
CONF.set_override('enforce_scope', new, group='oslo_policy')
CONF.set_override('enforce_secure_rbac', new)
CONF.set_override('policy_file', req.get("policy_file") or "/nonexistent/policy.yaml", group='oslo_policy')
e = policy.Enforcer()
out = []
for c in req["cases"]:
    cr = c["creds"]
    ctx = glance.context.RequestContext(project_id=cr.get("project_id"), user_id=cr.get("user_id"),
        roles=cr.get("roles", []), system_scope=cr.get("system_scope"), domain_id=cr.get("domain_id"),
        policy_enforcer=e)
    try:
        if c["rule"] == "@is_admin":
            out.append(bool(ctx.is_admin))
        else:
            out.append(bool(e.check(ctx, c["rule"], c["target"])))
    except Exception as ex:
        out.append("%s: %s" % (type(ex).__name__, ex))
print(json.dumps(out))
`

type oracleCase struct {
	Rule   string         `json:"rule"`
	Creds  map[string]any `json:"creds"`
	Target map[string]any `json:"target"`
}

func askGlance(t *testing.T, mode, policyFile string, cases []oracleCase) []any {
	t.Helper()
	in, _ := json.Marshal(map[string]any{"mode": mode, "policy_file": policyFile, "cases": cases})
	cmd := exec.Command(python, "-c", oracleScript)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("Glance's policy code (the oracle) failed: %v; is python3-glance installed (make deps)?\n%s", err, stderr.String())
	}
	var res []any
	if err := json.Unmarshal(out, &res); err != nil || len(res) != len(cases) {
		t.Fatalf("oracle answered %d verdicts for %d cases (%v): %s", len(res), len(cases), err, out)
	}
	return res
}

func credsOf(id *Identity) map[string]any {
	m := map[string]any{"roles": append([]string{}, id.Roles...)}
	for k, v := range map[string]string{"project_id": id.ProjectID, "user_id": id.UserID, "system_scope": id.SystemScope, "domain_id": id.DomainID} {
		if v != "" {
			m[k] = v
		}
	}
	return m
}

// dictOf renders a Target as the dict Glance would hand oslo.policy, by
// asking the Target for every key a rule can name.
func dictOf(t *Target) map[string]any {
	m := map[string]any{}
	names := []string{"image_id"}
	for name := range targetKeys {
		names = append(names, name)
	}
	for _, a := range backends.Attributes() {
		if a.Target == backends.TargetValue {
			names = append(names, a.Name)
		}
	}
	for _, name := range names {
		k, attr, err := lookupTargetKey(name)
		if err != nil {
			panic(err)
		}
		v, ok := t.lookup(&tpart{isKey: true, key: k, attr: attr})
		if !ok {
			continue
		}
		isBool := attr != nil && attr.Kind == backends.KindBool
		switch {
		case v.kind == vInt:
			m[name] = v.n
		case v.s == "None":
			m[name] = nil
		case v.s == "True" && (isBool || k == keyIsAdmin || k == keyIsAdminProject):
			m[name] = true
		case v.s == "False" && (isBool || k == keyIsAdmin || k == keyReadOnly || k == keyShowDeleted):
			m[name] = false
		default:
			m[name] = v.s
		}
	}
	if t.kind == targetImage {
		for k, v := range t.img.Properties {
			m[k] = v
		}
	}
	return m
}

func str(s string) *string { return &s }

// testCallers are the personas: roles as Keystone would give them and as
// a trusted proxy might forward them without implication.
func testCallers() map[string]*Identity {
	return map[string]*Identity{
		"admin":          {ProjectID: "padmin", UserID: "ua", Roles: []string{"admin", "member", "reader"}},
		"admin-only":     {ProjectID: "padmin", UserID: "ua", Roles: []string{"admin"}},
		"p1-member":      {ProjectID: "p1", UserID: "u1", Roles: []string{"member", "reader"}},
		"p1-member-only": {ProjectID: "p1", UserID: "u1", Roles: []string{"member"}},
		"p1-reader":      {ProjectID: "p1", UserID: "u1r", Roles: []string{"reader"}},
		"p2-member":      {ProjectID: "p2", UserID: "u2", Roles: []string{"member", "reader"}},
		"p2-reader":      {ProjectID: "p2", UserID: "u2r", Roles: []string{"reader"}},
		"p3-noroles":     {ProjectID: "p3", UserID: "u3"},
		"noproject":      {UserID: "u4", Roles: []string{"member", "reader"}},
		"system-admin":   {UserID: "us", Roles: []string{"admin", "reader"}, SystemScope: "all"},
		"domain-member":  {UserID: "ud", Roles: []string{"member", "reader"}, DomainID: "d1"},
		"Mixed-Case":     {ProjectID: "p1", UserID: "u1", Roles: []string{"Member", "READER"}},
	}
}

func testTargets(id *Identity) map[string]Target {
	img := func(vis string, owner *string) *backends.Image {
		return &backends.Image{ID: "i1", Name: str("cirros"), Status: "active", Visibility: vis, Owner: owner,
			Size: func() *int64 { n := int64(42); return &n }(), MinDisk: 1, DiskFormat: str("qcow2"),
			Properties: map[string]string{"os_distro": "cirros"}}
	}
	ts := map[string]Target{
		"empty":            EmptyTarget(),
		"project":          ProjectTarget(id),
		"proposed-own":     ProposedImageTarget(str(id.ProjectID), "private"),
		"proposed-p1-pub":  ProposedImageTarget(str("p1"), "public"),
		"proposed-none":    ProposedImageTarget(nil, "community"),
		"image-noowner":    ImageTarget(img("public", nil), id),
		"image-shared-nil": ImageTarget(img("shared", nil), id),
	}
	if id.ProjectID == "" {
		ts["proposed-own"] = ProposedImageTarget(nil, "private")
	}
	for _, vis := range []string{"private", "shared", "public", "community"} {
		ts["image-p1-"+vis] = ImageTarget(img(vis, str("p1")), id)
	}
	return ts
}

// TestRulesAgainstGlance asks every registered rule, in both default sets,
// for every persona and target, of Glance's enforcer and of the compiled
// rules; and context_is_admin through RequestContext.is_admin.
func TestRulesAgainstGlance(t *testing.T) {
	for _, mode := range []Defaults{Current, Legacy} {
		t.Run(mode.String(), func(t *testing.T) {
			p := MustNew(Options{Defaults: mode})
			compareWithGlance(t, p, mode.String(), "")
		})
	}
}

func compareWithGlance(t *testing.T, p *Policy, mode, file string) {
	t.Helper()
	type local struct {
		label string
		want  bool
	}
	var cases []oracleCase
	var ours []local
	for cname, id := range testCallers() {
		cases = append(cases, oracleCase{Rule: "@is_admin", Creds: credsOf(id), Target: map[string]any{}})
		ours = append(ours, local{cname + " is_admin", p.IsAdmin(id)})
		for tname, tg := range testTargets(id) {
			tg := tg
			for r := Rule(0); r < numRules; r++ {
				cases = append(cases, oracleCase{Rule: r.String(), Creds: credsOf(id), Target: dictOf(&tg)})
				ours = append(ours, local{fmt.Sprintf("%s as %s on %s", r, cname, tname), p.Allowed(r, id, &tg)})
			}
		}
	}
	got := askGlance(t, mode, file, cases)
	bad := 0
	for i, g := range got {
		if g != ours[i].want {
			if bad++; bad <= 20 {
				t.Errorf("%s: Glance %v, Spyglass %v", ours[i].label, g, ours[i].want)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d verdicts differ", bad, len(cases))
	}
	t.Logf("%d verdicts compared with Glance's enforcer (%s defaults)", len(cases), mode)
}

// TestDefaultsMatchGlance compares the transcribed defaults with the
// installed Glance's policies.list_rules().
func TestDefaultsMatchGlance(t *testing.T) {
	out, err := exec.Command(python, "-c", `
import json
from glance import policies
print(json.dumps([[r.name, r.check_str, r.deprecated_rule.check_str if r.deprecated_rule else None, r.scope_types] for r in policies.list_rules()]))
`).Output()
	if err != nil {
		t.Fatalf("glance.policies (the oracle) failed: %v; is python3-glance installed (make deps)?", err)
	}
	var rules [][]any
	if err := json.Unmarshal(out, &rules); err != nil {
		t.Fatal(err)
	}
	if got, want := len(rules), int(numRules); got != want {
		t.Errorf("Glance registers %d rules, Spyglass %d", got, want)
	}
	for i, r := range rules {
		if i >= int(numRules) {
			break
		}
		d := defaults[i]
		dep := any(nil)
		if d.hasDep {
			dep = d.deprecated
		}
		scoped := r[3] != nil && fmt.Sprint(r[3]) == "[project]"
		if r[0] != d.name || r[1] != d.check || r[2] != dep || scoped != d.project {
			t.Errorf("rule %d: Glance %q %q deprecated %v scope %v; Spyglass %q %q deprecated %v project-scoped %v",
				i, r[0], r[1], r[2], r[3], d.name, d.check, dep, d.project)
		}
	}
}

// TestPolicyFileAgainstGlance loads the same policy file into both.
func TestPolicyFileAgainstGlance(t *testing.T) {
	file := t.TempDir() + "/policy.yaml"
	const yaml = `
# Operators' overrides, in the forms oslo.policy accepts.
"publicize_image": "role:admin or role:image_publisher"
"owner_or_admin": "role:admin or project_id:%(project_id)s"
"modify_image": "rule:owner_or_admin and not 'community':%(visibility)s"
"get_image": "rule:owner_or_admin or 'public':%(visibility)s or project_id:%(member_id)s"
"download_image": "@"
"delete_image": "!"
"get_images": ""
"add_image": "role:member and (project_id:%(owner)s or user_id:u1)"
"tasks_api_access": "is_admin:True or roles:admin"
"context_is_admin": "role:admin and project_id:padmin"
"copy_image": "'qcow2':%(disk_format)s and 42:%(size)s and 'cirros':%(os_distro)s"
"cache_list": [["role:admin"], ["role:reader", "project_id:p1"]]
"get_member": "NOT role:reader OR role:admin AND user_id:%(owner)s"
"add_member": "(((role:member)) and (project_id:%(project_id)s))"
"default": "role:admin"
`
	if err := writeFile(file, yaml); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []Defaults{Current, Legacy} {
		t.Run(mode.String(), func(t *testing.T) {
			p, err := New(Options{Defaults: mode, File: file})
			if err != nil {
				t.Fatal(err)
			}
			compareWithGlance(t, p, mode.String(), file)
		})
	}
}

func TestPolicyFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       []string
	}{
		{"syntax", "get_image: \"role:admin or\"\n", []string{":1:", `rule "get_image"`, "ends where a check was expected"}},
		{"unknown rule", "a: role:x\n\nget_image: \"rule:nope\"\n", []string{":3:", `rule:nope names no rule`}},
		{"cycle", "a: rule:b\nb: rule:a\n", []string{"refers back to itself"}},
		{"parenthesis", "x: \"(role:a or role:b\"\n", []string{":1:", `missing ")"`}},
		{"no colon", "x: admin\n", []string{"is not a check"}},
		{"bare string", "x: \"role:a and 'b'\"\n", []string{"bare string"}},
		{"not a mapping", "- a\n- b\n", []string{"want a mapping"}},
		{"duplicate", "a: \"@\"\nb: \"@\"\na: \"!\"\n", []string{":3:", "already defined on line 1"}},
		{"bad interpolation", "a: \"project_id:%(owner)d\"\n", []string{"only %(key)s"}},
		{"yaml", "a: [\n", []string{"policy file"}},
		{"http", "a: \"http://example.com\"\n", []string{"not supported"}},
		{"number", "a: 3\n", []string{"want a check string"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := t.TempDir() + "/policy.yaml"
			if err := writeFile(file, tc.file); err != nil {
				t.Fatal(err)
			}
			_, err := New(Options{File: file})
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.file)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o644) }
