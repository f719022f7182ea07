package gateway_test

import (
	"testing"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/gateway"
	"github.com/spyglass-gateway/spyglass/policy"
)

// TestErrorJSONIsTheAPIsAnswer: ErrorJSON, which the admin listener renders
// its errors with, gives the very status and bytes the Images API answers
// to a client that accepts JSON: one map, one shape.
func TestErrorJSONIsTheAPIsAnswer(t *testing.T) {
	ts := startServer(t, "trusted")
	const id = "0a1b2c3d-0000-4000-8000-000000000000"
	for _, tc := range []struct {
		name, method, path string
		who                as
		err                error
	}{
		{"explanation", "GET", "/v2/images/" + id, p1, backends.Errorf(backends.ErrNotFound, "No image found with ID "+id)},
		{"default explanation", "GET", "/v2/images", as{}, policy.ErrUnauthenticated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := ts.do(t, tc.who, tc.method, tc.path, nil, "Accept", "application/json")
			status, got := gateway.ErrorJSON(tc.err)
			if status != resp.StatusCode || string(got) != string(body) {
				t.Errorf("ErrorJSON = %d %s\nthe API answered %d %s", status, got, resp.StatusCode, body)
			}
		})
	}
	// A detail: webob's explanation for the status, then the detail.
	status, got := gateway.ErrorJSON(backends.Detailf(backends.ErrNotFound, "Image x is not cached."))
	if want := `{"message": "The resource could not be found.<br /><br />\nImage x is not cached.\n\n", "code": "404 Not Found", "title": "Not Found"}`; status != 404 || string(got) != want {
		t.Errorf("ErrorJSON(detail) = %d %s, want 404 %s", status, got, want)
	}
}
