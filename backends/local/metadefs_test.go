package local

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"github.com/spyglass-gateway/spyglass/backends"
)

// TestMetadefsMigration opens a database made before metadefs (no metadef
// table) and finds it migrated: the tables appear, the images stay, and
// what is stored survives a reopen.
func TestMetadefsMigration(t *testing.T) {
	ctx := context.Background()
	s, dir := open(t, Options{})
	create(t, s, "11111111-1111-4111-8111-111111111111", "p1", "private")
	s.Close()

	// The database as the previous release left it.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "glance.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"metadef_namespaces", "metadef_objects", "metadef_properties", "metadef_tags", "metadef_resource_types", "metadef_namespace_resource_types"} {
		if _, err := db.Exec(`DROP TABLE ` + table); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Image(ctx, "11111111-1111-4111-8111-111111111111"); err != nil {
		t.Fatalf("the image did not survive: %v", err)
	}
	prefix := "hw_"
	c := &backends.MetadefNamespaceContent{
		MetadefNamespace: backends.MetadefNamespace{Namespace: "ns", Visibility: "public", Owner: "p1"},
		Associations:     []*backends.MetadefAssociation{{Name: "OS::Glance::Image", Prefix: &prefix}},
		Properties:       []*backends.MetadefProperty{{Name: "p", Schema: json.RawMessage(`{"type": "string", "title": "P"}`)}},
		Objects:          []*backends.MetadefObject{{Name: "o", Required: []string{"p"}}},
		Tags:             []*backends.MetadefTag{{Name: "t"}},
	}
	if _, err := s.CreateNamespace(ctx, c); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ns, err := s.Namespace(ctx, "ns")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ns.Owner+"/"+ns.Visibility, "p1/public"; got != want {
		t.Errorf("namespace %s, want %s", got, want)
	}
	objs, err := s.MetadefObjects(ctx, "ns")
	if err != nil || len(objs) != 1 || len(objs[0].Required) != 1 {
		t.Errorf("objects %+v, %v", objs, err)
	}
	props, err := s.MetadefProperties(ctx, "ns")
	if err != nil || len(props) != 1 || string(props[0].Schema) != `{"type": "string", "title": "P"}` {
		t.Errorf("properties %+v, %v", props, err)
	}
	assocs, err := s.ResourceTypeAssociations(ctx, "ns")
	if err != nil || len(assocs) != 1 || *assocs[0].Prefix != "hw_" {
		t.Errorf("associations %+v, %v", assocs, err)
	}
	tags, err := s.MetadefTags(ctx, "ns", &backends.TagQuery{})
	if err != nil || len(tags) != 1 {
		t.Errorf("tags %+v, %v", tags, err)
	}
}

// TestMetadefsStore checks the store's own rules, table-driven: names
// unique per namespace, all-or-none creates, protection, the load's skip
// and overwrite.
func TestMetadefsStore(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t, Options{})
	mk := func(name string, protected bool, tags ...string) *backends.MetadefNamespaceContent {
		c := &backends.MetadefNamespaceContent{MetadefNamespace: backends.MetadefNamespace{Namespace: name, Visibility: "private", Owner: "p1", Protected: protected}}
		for _, tg := range tags {
			c.Tags = append(c.Tags, &backends.MetadefTag{Name: tg})
		}
		return c
	}
	if _, err := s.CreateNamespace(ctx, mk("a", false, "x", "y")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateNamespace(ctx, mk("prot", true, "x")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		err  error
		kind error
	}{
		{"duplicate namespace", func() error { _, err := s.CreateNamespace(ctx, mk("a", false)); return err }(), backends.ErrConflict},
		{"duplicate tag in a create leaves nothing", func() error { _, err := s.CreateNamespace(ctx, mk("b", false, "x", "x")); return err }(), backends.ErrConflict},
		{"b was not created", func() error { _, err := s.Namespace(ctx, "b"); return err }(), backends.ErrNotFound},
		{"same tag in another namespace", func() error { _, err := s.CreateMetadefTag(ctx, "prot", "y"); return err }(), nil},
		{"duplicate tag", func() error { _, err := s.CreateMetadefTag(ctx, "a", "x"); return err }(), backends.ErrConflict},
		{"rename onto a tag", func() error { _, err := s.UpdateMetadefTag(ctx, "a", "x", "y"); return err }(), backends.ErrConflict},
		{"replace with duplicates keeps the tags", func() error { _, err := s.CreateMetadefTags(ctx, "a", []string{"z", "z"}, false); return err }(), backends.ErrConflict},
		{"tags kept", func() error {
			tags, err := s.MetadefTags(ctx, "a", &backends.TagQuery{})
			if err == nil && len(tags) != 2 {
				return errors.New("tags lost")
			}
			return err
		}(), nil},
		{"protected namespace", s.DeleteNamespace(ctx, "prot"), backends.ErrForbidden},
		{"protected namespace's tags", s.DeleteNamespaceContent(ctx, "prot", backends.MetadefTags), backends.ErrForbidden},
		{"protected namespace's tag", s.DeleteMetadefTag(ctx, "prot", "x"), backends.ErrForbidden},
		{"missing tag", s.DeleteMetadefTag(ctx, "a", "nope"), backends.ErrNotFound},
		{"missing namespace", s.DeleteNamespace(ctx, "nope"), backends.ErrNotFound},
		{"load skips an existing namespace", func() error {
			loaded, err := s.LoadNamespace(ctx, mk("a", false, "q"), false)
			if err == nil && loaded {
				return errors.New("loaded over an existing namespace")
			}
			return err
		}(), nil},
		{"load overwrites when asked", func() error {
			loaded, err := s.LoadNamespace(ctx, mk("a", false, "q"), true)
			if err != nil {
				return err
			}
			tags, err := s.MetadefTags(ctx, "a", &backends.TagQuery{})
			if !loaded || err != nil || len(tags) != 1 || tags[0].Name != "q" || !tags[0].UpdatedAt.IsZero() {
				return errors.New("not overwritten")
			}
			return nil
		}(), nil},
		{"delete cascades", func() error {
			if err := s.DeleteNamespace(ctx, "a"); err != nil {
				return err
			}
			_, err := s.MetadefTags(ctx, "a", &backends.TagQuery{})
			return err
		}(), backends.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.kind == nil {
				if tc.err != nil {
					t.Fatalf("err %v", tc.err)
				}
				return
			}
			if !errors.Is(tc.err, tc.kind) {
				t.Fatalf("err %v, want %v", tc.err, tc.kind)
			}
		})
	}
}
