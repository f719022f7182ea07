package policy_test

import (
	"context"
	"fmt"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/policy"
)

// headers is a request's headers, as *fasthttp.RequestHeader offers them.
type headers map[string]string

func (h headers) Peek(key string) []byte {
	if v, ok := h[key]; ok {
		return []byte(v)
	}
	return nil
}

// The package documentation's example, kept compiling and true.
func Example() {
	auth, err := policy.NewAuthenticator("trusted")
	if err != nil {
		panic(err)
	}
	id, err := auth.Authenticate(context.Background(), headers{
		"X-Identity-Status": "Confirmed",
		"X-User-Id":         "alice",
		"X-Project-Id":      "demo",
		"X-Roles":           "reader,member",
	})
	if err != nil {
		panic(err)
	}
	rules := policy.MustNew(policy.Options{Defaults: policy.Current})
	id.IsAdmin = id.IsAdmin || rules.IsAdmin(&id)

	other := "someone-else"
	img := &backends.Image{ID: "i1", Owner: &other, Visibility: backends.VisibilityPrivate}
	fmt.Println(rules.Image(policy.GetImage, &id, img) == policy.Hide)
	mine := "demo"
	img.Owner = &mine
	fmt.Println(rules.Image(policy.GetImage, &id, img) == policy.Allow)
	// Output:
	// true
	// true
}
