package glance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/gateway"
)

// The query a region is sent parses, in Glance's own grammar (the gateway's
// parser is written from Glance's), back to the query Spyglass evaluated.
func TestListQueryRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	words := []string{"a", "b,c", `"q"`, "x y", "in:z", "eq:w", "2026-01-01", "é", ""}
	keys := []string{"name", "status", "container_format", "disk_format", "id"}
	sortKeys := []string{"name", "status", "container_format", "disk_format", "size", "id", "created_at", "updated_at"}
	for i := 0; i < 3000; i++ {
		q := &backends.ListQuery{Limit: 1 + rng.IntN(1000), MemberStatus: []string{"accepted", "pending", "rejected", "all"}[rng.IntN(4)]}
		if rng.IntN(2) == 0 {
			q.Visibility = []string{"public", "private", "shared", "community", "all"}[rng.IntN(5)]
		}
		if rng.IntN(3) == 0 {
			q.Marker = fmt.Sprintf("m-%d", i)
		}
		for n := rng.IntN(3); n > 0; n-- {
			// The parser asks for a tag once, however often it was sent.
			if w := words[rng.IntN(len(words)-1)]; !slices.Contains(q.Tags, w) {
				q.Tags = append(q.Tags, w)
			}
		}
		used := map[string]bool{}
		for n := rng.IntN(4); n > 0; n-- {
			k := keys[rng.IntN(len(keys))]
			if used[k] {
				continue
			}
			used[k] = true
			f := backends.Filter{Key: k, Op: backends.OpEq, Values: []string{words[rng.IntN(len(words))]}}
			if rng.IntN(2) == 0 {
				f.Op = backends.OpIn
				// The parser never yields an in: value with a bare quote
				// (Glance's neither); backslashed ones it keeps as they are.
				inWords := []string{"a", "b,c", `\"q\"`, "x y", "in:z", "é", "2026-01-01"}
				f.Values = []string{inWords[rng.IntN(len(inWords))], inWords[rng.IntN(len(inWords))]}
			}
			q.Filters = append(q.Filters, f)
		}
		if rng.IntN(2) == 0 {
			q.Filters = append(q.Filters, backends.Filter{Key: "size", Op: backends.OpGte, Values: []string{strconv.Itoa(rng.IntN(100))}})
		}
		if rng.IntN(2) == 0 {
			q.Filters = append(q.Filters, backends.Filter{Key: "created_at", Op: backends.OpLt, Time: time.Unix(int64(rng.IntN(2e9)), 0).UTC()})
		}
		if rng.IntN(2) == 0 {
			q.Filters = append(q.Filters, backends.Filter{Key: "hw_" + strconv.Itoa(rng.IntN(3)), Property: true, Op: backends.OpEq, Values: []string{words[rng.IntN(len(words))]}})
		}
		q.Filters = append(q.Filters, backends.Filter{Key: "os_hidden", Op: backends.OpEq, Values: []string{[]string{"true", "false"}[rng.IntN(2)]}})
		seen := map[string]bool{}
		for n := 1 + rng.IntN(3); n > 0; n-- {
			k := sortKeys[rng.IntN(len(sortKeys))]
			if !seen[k] {
				seen[k] = true
				q.Sort = append(q.Sort, backends.SortKey{Key: k, Desc: rng.IntN(2) == 0})
			}
		}
		for _, tie := range []string{"created_at", "id"} {
			if !seen[tie] {
				q.Sort = append(q.Sort, backends.SortKey{Key: tie, Desc: q.Sort[0].Desc})
			}
		}

		var args fasthttp.Args
		args.Parse(encodeListQuery(q, q.Marker, q.Limit))
		got, err := gateway.ParseListQuery(&args)
		if err != nil {
			t.Fatalf("%s: %v", args.String(), err)
		}
		if !sameQuery(q, got) {
			t.Fatalf("round trip through %s:\nsent %+v\ngot  %+v", args.String(), q, got)
		}
	}
}

// sameQuery compares queries, filters as sets (their order does not matter).
func sameQuery(a, b *backends.ListQuery) bool {
	fa, fb := map[string]backends.Filter{}, map[string]backends.Filter{}
	for _, f := range a.Filters {
		fa[f.Key+strconv.Itoa(int(f.Op))] = f
	}
	for _, f := range b.Filters {
		fb[f.Key+strconv.Itoa(int(f.Op))] = f
	}
	if len(fa) != len(fb) {
		return false
	}
	for k, f := range fa {
		g, ok := fb[k]
		if !ok || f.Property != g.Property || !f.Time.Equal(g.Time) || !reflect.DeepEqual(f.Values, g.Values) && !(len(f.Values) == 0 && len(g.Values) == 0) {
			return false
		}
	}
	return a.Limit == b.Limit && a.Marker == b.Marker && a.Visibility == b.Visibility &&
		a.MemberStatus == b.MemberStatus && reflect.DeepEqual(a.Sort, b.Sort) &&
		(reflect.DeepEqual(a.Tags, b.Tags) || len(a.Tags)+len(b.Tags) == 0)
}

// fake is a loopback HTTP server standing in for a region where a real
// Glance cannot misbehave on demand.
func fake(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// 5xx answers are the region failing: 503 to the client, the breaker
// counts them; 4xx answers keep Glance's words and do not trip it.
func TestRegionErrors(t *testing.T) {
	status := 500
	url := fake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"message": "No image found with ID x<br /><br />\n\n\n", "code": "%d", "title": "t"}`, status)
	})
	r, _ := New(Config{Name: "r", Endpoint: url, BreakerOpen: time.Hour})
	status = 404
	_, err := r.Image(context.Background(), "x")
	var be *backends.Error
	if !errors.Is(err, backends.ErrNotFound) || !errors.As(err, &be) || be.Explanation != "No image found with ID x" {
		t.Fatalf("404: %v", err)
	}
	if r.BreakerState() != "closed" {
		t.Fatal("a 404 tripped the breaker")
	}
	status = 500
	for i := 1; i <= breakerConsecutive; i++ {
		if _, err := r.Image(context.Background(), "x"); !errors.Is(err, backends.ErrUnavailable) {
			t.Fatalf("500: %v", err)
		}
	}
	if r.BreakerState() != "open" {
		t.Fatalf("%d 500s in a row did not trip the breaker", breakerConsecutive)
	}
}

// A data stream cut at byte N ends with an error, never a clean EOF; an
// origin that ignores Range is skipped to the offset.
func TestFetchCutAndIgnoredRange(t *testing.T) {
	data := []byte(strings.Repeat("0123456789", 100000))
	cut := true
	url := fake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(200) // ignores Range
		if cut {
			w.Write(data[:12345])
			w.(http.Flusher).Flush()
			c, _, _ := w.(http.Hijacker).Hijack()
			c.Close()
			return
		}
		w.Write(data)
	})
	r, _ := New(Config{Name: "r", Endpoint: url})
	rc, err := r.Fetch(context.Background(), "img", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) || len(got) != 12345 {
		t.Fatalf("cut stream: %d bytes, %v; want 12345 and ErrUnexpectedEOF", len(got), err)
	}
	cut = false
	rc, err = r.Fetch(context.Background(), "img", 500000, 1000)
	if err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(rc)
	rc.Close()
	if err != nil || string(got) != string(data[500000:501000]) {
		t.Fatalf("ignored Range: %v, %q…", err, got[:min(len(got), 20)])
	}
}

func FuzzParseErrorBody(f *testing.F) {
	f.Add([]byte(`{"message": "No image found with ID x<br /><br />\n\n\n", "code": "404 Not Found", "title": "Not Found"}`))
	f.Add([]byte(`<html>oops</html>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, st := range []int{400, 401, 403, 404, 409, 413, 415, 418, 500, 503} {
			if err := remoteError("r", st, body); err == nil {
				t.Fatal("nil error")
			}
		}
	})
}

func FuzzDecodeImage(f *testing.F) {
	f.Add([]byte(`{"id": "x", "name": null, "status": "active", "size": 3, "tags": ["a"], "hw": "v", "created_at": "2026-01-01T00:00:00Z", "stores": "local"}`))
	f.Add([]byte(`{"id": "x", "extra": 5}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		img, _, _, err := decodeImage(raw)
		if err == nil && img.ID == "" {
			t.Fatal("an image without an id was accepted")
		}
	})
}

// FuzzListQueryRoundTrip: whatever a tag, a property filter or an in:
// alternative holds, the query a region is sent parses back to it, and ':'
// ',' '/' travel unescaped (an in: list must not triple on its way).
func FuzzListQueryRoundTrip(f *testing.F) {
	for _, s := range [][3]string{{"a", "b", "c"}, {"é,:/", "x y+z&w=v", "in:z"}, {"%2", "\xff", `\"q\"`}} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, tag, prop, alt string) {
		if tag != strings.TrimSpace(tag) {
			return // the parser trims tags
		}
		if !utf8.ValidString(tag) || !utf8.ValidString(prop) {
			return // the gateway refuses such a query (400) before any region sees it
		}
		// The in: alternatives are what the parser makes of a client's.
		var in fasthttp.Args
		in.Set("name", "in:"+alt)
		parsed, err := gateway.ParseListQuery(&in)
		if err != nil {
			return
		}
		q := &backends.ListQuery{Limit: 10, MemberStatus: "accepted", Tags: []string{tag},
			Filters: []backends.Filter{
				{Key: "hw_x", Property: true, Op: backends.OpEq, Values: []string{prop}},
				{Key: "name", Op: backends.OpIn, Values: parsed.Filters[0].Values},
				{Key: "os_hidden", Op: backends.OpEq, Values: []string{"false"}},
			},
			Sort: []backends.SortKey{{Key: "created_at", Desc: true}, {Key: "id", Desc: true}}}
		enc := encodeListQuery(q, "", q.Limit)
		var args fasthttp.Args
		args.Parse(enc)
		got, err := gateway.ParseListQuery(&args)
		if err != nil {
			t.Fatalf("%s: %v", enc, err)
		}
		if !sameQuery(q, got) {
			t.Fatalf("round trip through %s:\nsent %+v\ngot  %+v", enc, q, got)
		}
		if strings.Contains(enc, "%3A") || strings.Contains(enc, "%2C") || strings.Contains(enc, "%2F") {
			t.Fatalf("%s: ':', ',' or '/' escaped", enc)
		}
	})
}
