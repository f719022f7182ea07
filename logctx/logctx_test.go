package logctx_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/spyglass-gateway/spyglass/logctx"
)

type ider string

func (i ider) RequestID() string { return string(i) }

// idCtx answers Key with an IDer, as the gateway's request context does.
type idCtx struct {
	context.Context
	id ider
}

func (c idCtx) Value(k any) any {
	if k == logctx.Key {
		return c.id
	}
	return c.Context.Value(k)
}

func TestHandlerAddsRequestID(t *testing.T) {
	tests := []struct {
		name string
		ctx  context.Context
		want string // "" means no request_id attribute
	}{
		{"none", context.Background(), ""},
		{"string", logctx.WithRequestID(context.Background(), "req-1"), "req-1"},
		{"empty string", logctx.WithRequestID(context.Background(), ""), ""},
		{"IDer", idCtx{context.Background(), "req-2"}, "req-2"},
		{"derived", func() context.Context {
			ctx, cancel := context.WithCancel(logctx.WithRequestID(context.Background(), "req-3"))
			t.Cleanup(cancel)
			return ctx
		}(), "req-3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(logctx.NewHandler(slog.NewJSONHandler(&buf, nil))).With("component", "x")
			log.InfoContext(tt.ctx, "hello", "a", 1, "b", 2, "c", 3, "d", 4, "e", 5, "f", 6)
			var line map[string]any
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatalf("%v: %s", err, buf.Bytes())
			}
			got, _ := line[logctx.Attr].(string)
			if got != tt.want {
				t.Errorf("request_id = %q, want %q (line %s)", got, tt.want, buf.Bytes())
			}
			if line["component"] != "x" || line["f"] != 6.0 {
				t.Errorf("attributes lost: %s", buf.Bytes())
			}
			if got, want := logctx.RequestID(tt.ctx), tt.want; got != want {
				t.Errorf("RequestID = %q, want %q", got, want)
			}
		})
	}
}

// TestDisabledLevelAsksNothing: a level that is off never reads the
// context, so a request's hot path pays one level check.
func TestDisabledLevelAsksNothing(t *testing.T) {
	log := slog.New(logctx.NewHandler(slog.NewTextHandler(&bytes.Buffer{}, nil)))
	ctx := &countingCtx{Context: context.Background()}
	allocs := testing.AllocsPerRun(100, func() { log.DebugContext(ctx, "x") })
	if ctx.asked != 0 {
		t.Errorf("context asked %d times for a disabled level", ctx.asked)
	}
	if allocs != 0 {
		t.Errorf("%v allocations for a disabled level", allocs)
	}
}

type countingCtx struct {
	context.Context
	asked int
}

func (c *countingCtx) Value(k any) any { c.asked++; return c.Context.Value(k) }
