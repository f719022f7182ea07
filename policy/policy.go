package policy

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Defaults selects the rule set a Policy starts from.
type Defaults uint8

const (
	// Current is Glance's secure-RBAC defaults (reader/member/admin in the
	// caller's project): Glance with [oslo_policy] enforce_new_defaults,
	// enforce_scope and [DEFAULT] enforce_secure_rbac all true.
	Current Defaults = iota
	// Legacy is a stock Glance 25: every rule ORed with its deprecated
	// default (so most are open to anyone) and the ownership checks Glance
	// keeps in code for that mode.
	Legacy
)

func (d Defaults) String() string {
	if d == Legacy {
		return "legacy"
	}
	return "current"
}

// Options configure New. The zero value is Glance's current defaults with
// no policy file.
type Options struct {
	Defaults Defaults
	// File is an oslo.policy YAML or JSON file whose rules override the
	// defaults; empty means none.
	File string
}

// Policy is a compiled rule set. It is immutable and safe for concurrent
// use; evaluating a rule does not allocate.
type Policy struct {
	legacy bool
	nodes  []node
	kids   []int32
	named  []int32          // root node of each named rule
	index  map[string]int32 // rule name → named index
	root   [numRules]int32  // registered rules → root node
}

type node struct {
	op    exprKind
	a, b  int32 // exAnd/exOr: kids[a:b]; exNot: a is the child; exRule: a is the named index
	cred  credField
	match *template
	lit   string
	isLit bool
}

// New compiles the defaults selected by opts, overridden by opts.File.
// Errors name the file and line of the offending rule.
func New(opts Options) (*Policy, error) {
	file := map[string]fileRule{}
	if opts.File != "" {
		var err error
		if file, err = readFile(opts.File); err != nil {
			return nil, err
		}
	}
	return compile(opts.Defaults, file, opts.File)
}

// MustNew is New for rule sets known to compile (tests, defaults).
func MustNew(opts Options) *Policy {
	p, err := New(opts)
	if err != nil {
		panic(err)
	}
	return p
}

// Legacy reports whether Glance's legacy behaviour applies: the ownership
// checks Glance makes in code when enforce_secure_rbac is false.
func (p *Policy) Legacy() bool { return p.legacy }

// fileRule is one rule of a policy file.
type fileRule struct {
	expr *expr
	line int
}

func readFile(path string) (map[string]fileRule, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy file: %w", err)
	}
	return parseFile(path, b)
}

// parseFile reads an oslo.policy file: a YAML (or JSON) mapping of rule name
// to check string (or oslo's old list-of-lists form).
func parseFile(path string, b []byte) (map[string]fileRule, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("policy file %s: %v", path, err)
	}
	rules := map[string]fileRule{}
	if len(doc.Content) == 0 {
		return rules, nil // empty file: no overrides
	}
	m := doc.Content[0]
	if m.Kind == yaml.ScalarNode && m.Tag == "!!null" {
		return rules, nil
	}
	if m.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("policy file %s:%d: want a mapping of rule name to check string", path, m.Line)
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("policy file %s:%d: a rule name must be a string", path, k.Line)
		}
		if prev, dup := rules[k.Value]; dup {
			return nil, fmt.Errorf("policy file %s:%d: rule %q is already defined on line %d", path, k.Line, k.Value, prev.line)
		}
		e, err := parseFileValue(v)
		if err != nil {
			return nil, fmt.Errorf("policy file %s:%d: rule %q: %v", path, v.Line, k.Value, err)
		}
		rules[k.Value] = fileRule{expr: e, line: k.Line}
	}
	return rules, nil
}

func parseFileValue(v *yaml.Node) (*expr, error) {
	switch {
	case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
		return &expr{kind: exTrue}, nil // oslo: an empty (None) rule passes
	case v.Kind == yaml.ScalarNode && v.Tag == "!!str":
		return parseRule(v.Value)
	case v.Kind == yaml.SequenceNode:
		return parseListRule(v)
	}
	return nil, fmt.Errorf("want a check string, got %s %q", strings.TrimPrefix(v.Tag, "!!"), v.Value)
}

// parseListRule is oslo.policy's _parse_list_rule: a list of alternatives,
// each a check or a list of checks that must all pass.
func parseListRule(v *yaml.Node) (*expr, error) {
	if len(v.Content) == 0 {
		return &expr{kind: exTrue}, nil
	}
	or := &expr{kind: exOr}
	for _, inner := range v.Content {
		var checks []*yaml.Node
		switch inner.Kind {
		case yaml.ScalarNode:
			if inner.Value == "" {
				continue
			}
			checks = []*yaml.Node{inner}
		case yaml.SequenceNode:
			if len(inner.Content) == 0 {
				continue
			}
			checks = inner.Content
		default:
			return nil, errors.New("a list rule holds checks or lists of checks")
		}
		and := &expr{kind: exAnd}
		for _, c := range checks {
			if c.Kind != yaml.ScalarNode {
				return nil, errors.New("a list rule holds checks or lists of checks")
			}
			e, err := parseCheck(c.Value)
			if err != nil {
				return nil, err
			}
			and.kids = append(and.kids, e)
		}
		if len(and.kids) == 1 {
			or.kids = append(or.kids, and.kids[0])
		} else {
			or.kids = append(or.kids, and)
		}
	}
	switch len(or.kids) {
	case 0:
		return &expr{kind: exFalse}, nil
	case 1:
		return or.kids[0], nil
	}
	return or, nil
}

// compile builds the rule set: the file's rules, then each registered
// default not in the file (ORed with its deprecated check string in legacy
// mode, as oslo.policy does when enforce_new_defaults is false).
func compile(d Defaults, file map[string]fileRule, path string) (*Policy, error) {
	p := &Policy{legacy: d == Legacy, index: map[string]int32{}}
	exprs := map[string]*expr{}
	where := map[string]string{}
	for name, fr := range file {
		exprs[name] = fr.expr
		where[name] = fmt.Sprintf("policy file %s:%d: rule %q", path, fr.line, name)
	}
	for i := range defaults {
		def := &defaults[i]
		if _, ok := exprs[def.name]; ok {
			continue
		}
		e, err := parseRule(def.check)
		if err != nil {
			return nil, fmt.Errorf("default rule %q: %w", def.name, err)
		}
		if p.legacy && def.hasDep && def.deprecated != def.check {
			old, err := parseRule(def.deprecated)
			if err != nil {
				return nil, fmt.Errorf("default rule %q: %w", def.name, err)
			}
			e = &expr{kind: exOr, kids: []*expr{e, old}}
		}
		exprs[def.name] = e
		where[def.name] = fmt.Sprintf("default rule %q", def.name)
	}
	names := make([]string, 0, len(exprs))
	for n := range exprs {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		p.index[n] = int32(i)
	}
	p.named = make([]int32, len(names))
	for i, n := range names {
		root, err := p.emit(exprs[n])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where[n], err)
		}
		p.named[i] = root
	}
	if err := p.checkCycles(names, where); err != nil {
		return nil, err
	}
	p.fold()
	for r := Rule(0); r < numRules; r++ {
		p.root[r] = p.named[p.index[defaults[r].name]]
	}
	return p, nil
}

func (p *Policy) emit(e *expr) (int32, error) {
	n := node{op: e.kind}
	switch e.kind {
	case exAnd, exOr:
		ids := make([]int32, 0, len(e.kids))
		for _, k := range e.kids {
			id, err := p.emit(k)
			if err != nil {
				return 0, err
			}
			ids = append(ids, id)
		}
		n.a = int32(len(p.kids))
		p.kids = append(p.kids, ids...)
		n.b = int32(len(p.kids))
	case exNot:
		id, err := p.emit(e.kids[0])
		if err != nil {
			return 0, err
		}
		n.a = id
	case exRule:
		idx, ok := p.index[e.name]
		if !ok {
			return 0, fmt.Errorf("rule:%s names no rule (neither one of Glance's nor one defined in the policy file)", e.name)
		}
		n.a = idx
	case exRole:
		tm := e.match
		n.match = &tm
		if lit, ok := tm.constant(); ok {
			n.lit, n.isLit = strings.ToLower(lit), true
		}
	case exGeneric:
		tm := e.match
		n.match, n.cred, n.lit, n.isLit = &tm, e.cred, e.literal, e.isLit
	}
	p.nodes = append(p.nodes, n)
	return int32(len(p.nodes) - 1), nil
}

// checkCycles refuses rules that reach themselves through rule: references
// (oslo.policy would recurse until Python gives up).
func (p *Policy) checkCycles(names []string, where map[string]string) error {
	const (
		white = iota
		grey
		black
	)
	color := make([]uint8, len(names))
	var visit func(i int32) error
	var walk func(n int32) error
	walk = func(n int32) error {
		nd := &p.nodes[n]
		switch nd.op {
		case exAnd, exOr:
			for _, k := range p.kids[nd.a:nd.b] {
				if err := walk(k); err != nil {
					return err
				}
			}
		case exNot:
			return walk(nd.a)
		case exRule:
			return visit(nd.a)
		}
		return nil
	}
	visit = func(i int32) error {
		switch color[i] {
		case grey:
			return fmt.Errorf("%s: rule:%s refers back to itself", where[names[i]], names[i])
		case black:
			return nil
		}
		color[i] = grey
		if err := walk(p.named[i]); err != nil {
			return err
		}
		color[i] = black
		return nil
	}
	for i := range names {
		if err := visit(int32(i)); err != nil {
			return err
		}
	}
	return nil
}

// fold replaces every subtree whose answer does not depend on the caller
// or the target by its constant (legacy mode's "rule:default" makes most
// rules "always"), so evaluation stops at the first node.
func (p *Policy) fold() {
	const unknown, no, yes, open = 0, 1, 2, 3
	memo := make([]uint8, len(p.nodes))
	var constant func(n int32) uint8
	constant = func(n int32) uint8 {
		if memo[n] != unknown {
			return memo[n]
		}
		nd := &p.nodes[n]
		v := uint8(open)
		switch nd.op {
		case exTrue:
			v = yes
		case exFalse:
			v = no
		case exAnd, exOr:
			short, rest := uint8(no), uint8(yes) // And: any no → no; all yes → yes
			if nd.op == exOr {
				short, rest = yes, no
			}
			v = rest
			for _, k := range p.kids[nd.a:nd.b] {
				switch constant(k) {
				case short:
					v = short
				case open:
					if v != short {
						v = open
					}
				}
				if v == short {
					break
				}
			}
		case exNot:
			switch constant(nd.a) {
			case yes:
				v = no
			case no:
				v = yes
			}
		case exRule:
			v = constant(p.named[nd.a])
		}
		memo[n] = v
		return v
	}
	for i := range p.nodes {
		switch constant(int32(i)) {
		case yes:
			p.nodes[i] = node{op: exTrue}
		case no:
			p.nodes[i] = node{op: exFalse}
		}
	}
}

// eval runs a compiled check tree.
func (p *Policy) eval(n int32, id *Identity, t *Target) bool {
	nd := &p.nodes[n]
	switch nd.op {
	case exTrue:
		return true
	case exFalse:
		return false
	case exAnd:
		for _, k := range p.kids[nd.a:nd.b] {
			if !p.eval(k, id, t) {
				return false
			}
		}
		return true
	case exOr:
		for _, k := range p.kids[nd.a:nd.b] {
			if p.eval(k, id, t) {
				return true
			}
		}
		return false
	case exNot:
		return !p.eval(nd.a, id, t)
	case exRule:
		return p.eval(p.named[nd.a], id, t)
	case exRole:
		if nd.isLit { // a role named literally (almost always)
			for _, r := range id.Roles {
				if len(r) == len(nd.lit) && (r == nd.lit || strings.EqualFold(r, nd.lit)) {
					return true
				}
			}
			return false
		}
		for _, r := range id.Roles {
			eq, ok := nd.match.matches(t, r, true)
			if !ok {
				return false
			}
			if eq {
				return true
			}
		}
		return false
	case exGeneric:
		if nd.isLit {
			eq, _ := nd.match.matches(t, nd.lit, false)
			return eq
		}
		return credMatches(id, nd.cred, nd.match, t)
	}
	return false
}

// Allowed is oslo.policy's enforce of a registered rule: the scope check
// (Current: a system- or domain-scoped caller fails every project-scoped
// rule, as with enforce_scope) and then the rule.
func (p *Policy) Allowed(r Rule, id *Identity, t *Target) bool {
	if !p.legacy && defaults[r].project && (id.SystemScope != "" || id.DomainID != "") {
		return false
	}
	return p.eval(p.root[r], id, t)
}

// AllowedName evaluates a rule by name (tests, tools); ok is false when no
// rule has that name.
func (p *Policy) AllowedName(name string, id *Identity, t *Target) (allowed, ok bool) {
	for r := Rule(0); r < numRules; r++ {
		if defaults[r].name == name {
			return p.Allowed(r, id, t), true
		}
	}
	i, ok := p.index[name]
	if !ok {
		return false, false
	}
	return p.eval(p.named[i], id, t), true
}

// IsAdmin is Glance's RequestContext.is_admin for a caller not admin by
// construction: the context_is_admin rule against the caller's context.
func (p *Policy) IsAdmin(id *Identity) bool {
	t := Target{kind: targetContext, id: id}
	return p.eval(p.root[ContextIsAdmin], id, &t)
}
