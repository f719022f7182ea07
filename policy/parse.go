package policy

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/spyglass-gateway/spyglass/backends"
)

// The policy language of oslo.policy (its _parser.py and _checks.py), as
// Glance 25 reads it from its defaults and from a policy file:
//
//	rule    := or
//	or      := and ("or" and)*
//	and     := unary ("and" unary)*
//	unary   := "not" unary | "(" or ")" | check
//	check   := "@" | "!" | "rule:NAME" | "role:MATCH" | KIND ":" MATCH
//
// Keywords are case-insensitive; parentheses may stick to checks; an empty
// rule always passes. MATCH may interpolate the target, "%(owner)s". KIND is
// a credential field (project_id, user_id, roles...) or a Python literal
// ('public', True, 42) compared with the interpolated MATCH.
//
// oslo.policy logs a rule it cannot parse and treats it as "!"; Spyglass
// refuses it instead, so a typo in a policy file stops the start-up rather
// than silently denying (or, under "not", allowing) a call.

// expr is a parsed rule before compilation.
type expr struct {
	kind exprKind
	kids []*expr
	// exRule: the rule referenced.
	name string
	// exRole, exGeneric: the right-hand side.
	match template
	// exGeneric: the left-hand side, a credential field or a literal.
	cred    credField
	literal string
	isLit   bool
}

type exprKind uint8

const (
	exTrue exprKind = iota
	exFalse
	exAnd
	exOr
	exNot
	exRule
	exRole
	exGeneric
)

// template is a MATCH: literal text and %(key)s interpolations of the target.
type template struct {
	parts []tpart
}

type tpart struct {
	lit   string
	isKey bool
	key   targetKey
	attr  *backends.Attribute // keyAttr: the image attribute
	prop  string              // keyProperty: the extra property's name
}

type token struct {
	kind string // "(", ")", "and", "or", "not", "check"
	text string
}

// ParseError is a rule that cannot be read.
type ParseError struct {
	Rule string
	Msg  string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("cannot parse %q: %s", e.Rule, e.Msg)
}

// parseRule parses one check string.
func parseRule(rule string) (*expr, error) {
	toks, err := tokenize(rule)
	if err != nil {
		return nil, &ParseError{Rule: rule, Msg: err.Error()}
	}
	if len(toks) == 0 {
		return &expr{kind: exTrue}, nil
	}
	p := parser{toks: toks}
	e, err := p.or()
	if err == nil && p.pos < len(p.toks) {
		err = fmt.Errorf("unexpected %q after a complete rule", p.toks[p.pos].text)
	}
	if err != nil {
		return nil, &ParseError{Rule: rule, Msg: err.Error()}
	}
	return e, nil
}

// tokenize is oslo.policy's _parse_tokenize: split on white space, peel
// leading "(" and trailing ")" off each piece, and recognise the keywords.
func tokenize(rule string) ([]token, error) {
	var toks []token
	for _, tok := range strings.FieldsFunc(rule, unicode.IsSpace) {
		clean := strings.TrimLeft(tok, "(")
		for i := 0; i < len(tok)-len(clean); i++ {
			toks = append(toks, token{kind: "(", text: "("})
		}
		if clean == "" {
			continue
		}
		tok = clean
		clean = strings.TrimRight(tok, ")")
		trail := len(tok) - len(clean)
		switch lowered := strings.ToLower(clean); {
		case lowered == "and" || lowered == "or" || lowered == "not":
			toks = append(toks, token{kind: lowered, text: clean})
		case clean != "":
			if len(tok) >= 2 && (tok[0] == '"' && tok[len(tok)-1] == '"' || tok[0] == '\'' && tok[len(tok)-1] == '\'') {
				return nil, fmt.Errorf("%s is a bare string, not a check (a check is kind:match)", tok)
			}
			toks = append(toks, token{kind: "check", text: clean})
		}
		for i := 0; i < trail; i++ {
			toks = append(toks, token{kind: ")", text: ")"})
		}
	}
	return toks, nil
}

type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos].kind
	}
	return ""
}

func (p *parser) or() (*expr, error) {
	e, err := p.and()
	if err != nil {
		return nil, err
	}
	if p.peek() != "or" {
		return e, nil
	}
	or := &expr{kind: exOr, kids: []*expr{e}}
	for p.peek() == "or" {
		p.pos++
		k, err := p.and()
		if err != nil {
			return nil, err
		}
		or.kids = append(or.kids, k)
	}
	return or, nil
}

func (p *parser) and() (*expr, error) {
	e, err := p.unary()
	if err != nil {
		return nil, err
	}
	if p.peek() != "and" {
		return e, nil
	}
	and := &expr{kind: exAnd, kids: []*expr{e}}
	for p.peek() == "and" {
		p.pos++
		k, err := p.unary()
		if err != nil {
			return nil, err
		}
		and.kids = append(and.kids, k)
	}
	return and, nil
}

func (p *parser) unary() (*expr, error) {
	if p.pos >= len(p.toks) {
		return nil, errors.New("the rule ends where a check was expected")
	}
	t := p.toks[p.pos]
	p.pos++
	switch t.kind {
	case "not":
		k, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &expr{kind: exNot, kids: []*expr{k}}, nil
	case "(":
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, errors.New(`missing ")"`)
		}
		p.pos++
		return e, nil
	case "check":
		return parseCheck(t.text)
	default:
		return nil, fmt.Errorf("unexpected %q where a check was expected", t.text)
	}
}

// parseCheck is oslo.policy's _parse_check.
func parseCheck(s string) (*expr, error) {
	switch s {
	case "!":
		return &expr{kind: exFalse}, nil
	case "@":
		return &expr{kind: exTrue}, nil
	}
	kind, match, ok := strings.Cut(s, ":")
	if !ok {
		return nil, fmt.Errorf("%q is not a check: a check is kind:match, @ or !", s)
	}
	switch kind {
	case "rule":
		return &expr{kind: exRule, name: match}, nil
	case "role":
		tm, err := parseTemplate(match)
		if err != nil {
			return nil, err
		}
		return &expr{kind: exRole, match: tm}, nil
	case "http", "https":
		return nil, fmt.Errorf("%s: checks are not supported by Spyglass", kind)
	}
	tm, err := parseTemplate(match)
	if err != nil {
		return nil, err
	}
	e := &expr{kind: exGeneric, match: tm}
	if lit, ok, err := pythonLiteral(kind); err != nil {
		return nil, err
	} else if ok {
		e.literal, e.isLit = lit, true
		return e, nil
	}
	e.cred, err = lookupCred(kind)
	if err != nil {
		return nil, err
	}
	return e, nil
}

// parseTemplate reads MATCH: Python %-formatting against the target, where
// Spyglass supports %(key)s and %%.
func parseTemplate(s string) (template, error) {
	var t template
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, tpart{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			lit.WriteByte(c)
			continue
		}
		if i+1 < len(s) && s[i+1] == '%' {
			lit.WriteByte('%')
			i++
			continue
		}
		if i+1 >= len(s) || s[i+1] != '(' {
			return t, fmt.Errorf("%q: only %%(key)s interpolations are supported", s)
		}
		end := strings.IndexByte(s[i+2:], ')')
		if end < 0 {
			return t, fmt.Errorf("%q: unterminated %%(", s)
		}
		name := s[i+2 : i+2+end]
		j := i + 2 + end + 1
		if j >= len(s) || s[j] != 's' {
			return t, fmt.Errorf("%q: only %%(key)s interpolations are supported", s)
		}
		key, attr, err := lookupTargetKey(name)
		if err != nil {
			return t, err
		}
		flush()
		p := tpart{isKey: true, key: key, attr: attr}
		if key == keyProperty {
			p.prop = name
		}
		t.parts = append(t.parts, p)
		i = j
	}
	flush()
	return t, nil
}

// pythonLiteral is the part of ast.literal_eval a check's KIND uses: quoted
// strings, True, False, None and integers, rendered as Python's str() would.
// ok is false for an identifier (a credential field).
func pythonLiteral(s string) (lit string, ok bool, err error) {
	if s == "" {
		return "", false, errors.New("empty kind before ':'")
	}
	switch s {
	case "True", "False", "None":
		return s, true, nil
	}
	if q := s[0]; q == '\'' || q == '"' {
		if len(s) < 2 || s[len(s)-1] != q || strings.IndexByte(s[1:len(s)-1], q) >= 0 || strings.IndexByte(s, '\\') >= 0 {
			return "", false, fmt.Errorf("%s: not a simple quoted string", s)
		}
		return s[1 : len(s)-1], true, nil
	}
	digits := strings.TrimPrefix(s, "-")
	if digits != "" && isDigits(digits) {
		if len(digits) > 1 && digits[0] == '0' {
			return "", false, fmt.Errorf("%s: leading zeros in an integer", s)
		}
		if s[0] == '-' && strings.Trim(digits, "0") == "" {
			return "0", true, nil
		}
		return s, true, nil
	}
	if isIdentPath(s) {
		return "", false, nil
	}
	return "", false, fmt.Errorf("%s: neither a credential field nor a literal ('text', True, False, None, 42)", s)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isIdentPath(s string) bool {
	for _, seg := range strings.Split(s, ".") {
		if seg == "" {
			return false
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9' {
				continue
			}
			return false
		}
	}
	return true
}
