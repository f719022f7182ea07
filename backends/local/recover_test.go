package local

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spyglass-gateway/spyglass/backends"
)

func TestRecover(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"staged", "importing", "lost-stage", "saving"} {
		create(t, s, id, "p", "private")
	}
	for _, id := range []string{"staged", "importing", "lost-stage"} {
		if _, err := s.StageData(ctx, id, strings.NewReader("data"), backends.UploadOptions{ExpectedSize: -1}); err != nil {
			t.Fatal(err)
		}
	}
	// Forge the states a crash leaves.
	for q, id := range map[string]string{
		`UPDATE images SET status='importing' WHERE id=?`: "importing",
		`UPDATE images SET status='saving' WHERE id=?`:    "saving",
	} {
		if _, err := s.wdb.Exec(q, id); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	os.Remove(filepath.Join(dir, "staging", "lost-stage"))
	for _, f := range []string{"images/" + tmpPrefix + "x-1", "images/orphan", "staging/" + tmpPrefix + "y", "images/saving"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("junk"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for id, want := range map[string]string{
		"staged": "uploading", "importing": "uploading", "lost-stage": "queued", "saving": "queued",
	} {
		if got := cur(t, s, id).Status; got != want {
			t.Errorf("%s: status %q, want %q", id, got, want)
		}
	}
	for _, d := range []string{"images", "staging"} {
		ents, _ := os.ReadDir(filepath.Join(dir, d))
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		want := map[string]string{"images": "", "staging": "importing,staged"}[d]
		if got := strings.Join(names, ","); got != want {
			t.Errorf("%s holds %q, want %q", d, got, want)
		}
	}
}
