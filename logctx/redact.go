package logctx

import (
	"strconv"
	"strings"
)

// Mask replaces a credential in a redacted text.
const Mask = "***"

// Redact returns s with the credentials it may carry replaced by Mask:
//
//   - a URL's userinfo, whole (scheme://user:password@host, or a token as
//     the user name);
//   - the value of a query parameter or key=value pair that authenticates
//     or signs (token=, sig=, temp_url_sig=, X-Amz-Signature=, password=,
//     …: the names of sensitiveNames);
//   - the value of a credential header in a header dump or a message
//     (X-Auth-Token: …, Authorization: …, "X-Subject-Token": "…").
//
// It finds credentials by their place, not their value, so it cannot know
// a token written alone ("invalid header value \"gAAAA…\""): text built
// from a request's raw bytes goes through RedactQuoted as well. Redact
// returns s itself, allocating nothing, when there is nothing to redact,
// which is the common case: the log handler calls it on every string.
func Redact(s string) string {
	var b *strings.Builder
	last := 0 // s[last:] is not yet copied to b
	for i := 0; i < len(s); i++ {
		var from, to int // the span to mask, when to > from
		switch s[i] {
		case '/':
			if i+1 < len(s) && s[i+1] == '/' {
				from, to = userinfo(s, i+2)
			}
		case '=':
			if name, _ := nameBefore(s, i); sensitiveName(name) != 0 {
				from, to = valueAfter(s, i+1, false)
			}
		case ':':
			// "token: x" is often prose ("cannot validate a token: …"):
			// only a header's name, or a quoted name ("password": "x"),
			// says a credential follows a colon.
			if name, quoted := nameBefore(s, i); sensitiveName(name) == headerName || quoted && sensitiveName(name) != 0 {
				from, to = valueAfter(s, i+1, true)
			}
		}
		if to <= from {
			continue
		}
		if b == nil {
			b = &strings.Builder{}
			b.Grow(len(s))
		}
		b.WriteString(s[last:from])
		b.WriteString(Mask)
		last = to
		i = to - 1
	}
	if b == nil {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// userinfo is the span of the userinfo of the URL authority starting at
// s[start] (just after "//"): up to its last '@' before the authority
// ends. Empty when there is none.
func userinfo(s string, start int) (int, int) {
	at := -1
	for j := start; j < len(s); j++ {
		c := s[j]
		if c == '@' {
			at = j
			continue
		}
		if c == '/' || c == '?' || c == '#' || endsAuthority(c) {
			break
		}
	}
	if at <= start {
		return 0, 0
	}
	return start, at
}

// nameBefore is the name written just before s[i] (a ':' or '='): letters,
// digits, '-', '_' and '.', and whether it is in quotes ("X-Auth-Token": …).
func nameBefore(s string, i int) (name string, quoted bool) {
	end := i
	if end > 0 && (s[end-1] == '"' || s[end-1] == '\'') {
		end--
	}
	j := end
	for j > 0 && isNameByte(s[j-1]) {
		j--
	}
	if j > 0 && s[j-1] == '\\' && j < end {
		j++ // the letter of an escape in quoted text: \r\nX-Auth-Token
	}
	return s[j:end], end < i && j > 0 && s[j-1] == s[end]
}

// valueAfter is the span of the value that starts at s[start], after a
// ':' (header, true: a header's value runs to the end of its line, blanks
// included, as in "Authorization: Bearer x") or a '=' (a parameter's
// value ends at the next parameter or blank). Blanks and an opening quote
// or bracket are skipped; a quoted value ends at its closing quote.
func valueAfter(s string, start int, header bool) (int, int) {
	j := start
	for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
		j++
	}
	var closer byte
	if j < len(s) {
		switch s[j] {
		case '"', '\'':
			closer = s[j]
		case '[':
			closer = ']'
		}
		if closer != 0 {
			j++
		}
	}
	if placeholder(s[j:]) {
		return 0, 0
	}
	k := j
	for ; k < len(s); k++ {
		c := s[k]
		if c == '\r' || c == '\n' || c == '\\' || c == 0 {
			break // a line's end, or an escape in quoted text (\r\n)
		}
		if closer != 0 {
			if c == closer {
				break
			}
			continue
		}
		if c == '"' || c == '\'' || c == '<' || c == '>' {
			break
		}
		if !header && (c == ' ' || c == '\t' || c == '&' || c == ';' || c == ',' || c == '#' || c == ')' || c == ']' || c == '}') {
			break
		}
	}
	return j, k
}

// placeholder reports whether the value s starts with is a shell
// placeholder ($(openstack token issue …), ${TOKEN}, $OS_TOKEN) in a hint
// such as the one serve logs at start-up, not a credential.
func placeholder(s string) bool {
	if len(s) < 2 || s[0] != '$' {
		return false
	}
	if s[1] == '(' || s[1] == '{' {
		return true
	}
	k := 1
	for k < len(s) && ('A' <= s[k] && s[k] <= 'Z' || s[k] == '_' || k > 1 && '0' <= s[k] && s[k] <= '9') {
		k++
	}
	return k > 1 && (k == len(s) || !isNameByte(s[k]))
}

// endsAuthority reports whether c ends a URL's authority as it is written
// in a message: a blank, a line end, a quote, an escape, a bracket.
func endsAuthority(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', '"', '\'', '\\', '<', '>', '[', ']', '{', '}', '(', ')', 0:
		return true
	}
	return false
}

func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.'
}

// nameKind says what a name whose value is a credential names.
type nameKind uint8

const (
	notSensitive nameKind = iota
	// paramName: a query parameter or a key=value pair (sig=, password=).
	paramName
	// headerName: a header, also written as Name: value.
	headerName
)

// sensitiveNames are the names whose value is a credential: authentication
// headers, and the query parameters of signed and token-bearing URLs
// (Swift temp URLs, S3 and GCS presigned URLs, Azure SAS).
var sensitiveNames = map[string]nameKind{
	"x-auth-token": headerName, "x-storage-token": headerName, "x-subject-token": headerName,
	"x-service-token": headerName, "x-auth-key": headerName, "authorization": headerName,
	"proxy-authorization": headerName, "cookie": headerName, "set-cookie": headerName,
	"x-amz-security-token": headerName,

	"token": paramName, "auth_token": paramName, "access_token": paramName, "refresh_token": paramName,
	"id_token": paramName, "password": paramName, "passwd": paramName, "secret": paramName,
	"client_secret": paramName, "api_key": paramName, "apikey": paramName, "sig": paramName,
	"signature": paramName, "temp_url_sig": paramName, "x-amz-signature": paramName,
	"x-amz-credential": paramName, "x-goog-signature": paramName, "x-goog-credential": paramName,
}

// maxNameLen is the longest of sensitiveNames.
const maxNameLen = len("x-amz-security-token")

// namesByLen indexes sensitiveNames by length: a name is compared only with
// the few of its length, without being lowered first.
var namesByLen = func() (idx [maxNameLen + 1][]string) {
	for n := range sensitiveNames {
		idx[len(n)] = append(idx[len(n)], n)
	}
	return idx
}()

// sensitiveName says whether name (any case) names a credential.
func sensitiveName(name string) nameKind {
	if len(name) > maxNameLen {
		return notSensitive
	}
	for _, n := range namesByLen[len(name)] {
		if strings.EqualFold(name, n) {
			return sensitiveNames[n]
		}
	}
	return notSensitive
}

// SensitiveKey reports whether a log attribute named key holds a
// credential whatever its value (an attribute "password" or
// "X-Auth-Token"): the handler masks it whole.
func SensitiveKey(key string) bool { return sensitiveName(key) != notSensitive }

// RedactQuoted returns s with every Go-quoted string in it ("…" as %q
// writes it) replaced by its length, e.g. [42 bytes]. It is for messages
// that quote raw input: fasthttp says which header line or request line
// it could not parse by quoting it, and a malformed line is exactly where
// Redact cannot tell a token from the rest. s itself when it quotes
// nothing.
func RedactQuoted(s string) string {
	var b *strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '"' {
			continue
		}
		q, err := strconv.QuotedPrefix(s[i:])
		if err != nil {
			continue
		}
		if b == nil {
			b = &strings.Builder{}
		}
		n := len(q) - 2
		if u, err := strconv.Unquote(q); err == nil {
			n = len(u)
		}
		b.WriteString(s[last:i])
		b.WriteByte('[')
		b.WriteString(strconv.Itoa(n))
		b.WriteString(" bytes]")
		last = i + len(q)
		i = last - 1
	}
	if b == nil {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}
