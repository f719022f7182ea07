package local

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
)

// A namespace's objects, properties and tags are three tables of one
// shape (glance/db/sqlalchemy/models_metadef.py): an id, the namespace's
// id, a name unique in the namespace, the times. Glance's database API
// reads, adds and deletes them alike; an itemTable holds what differs
// between them, and the functions below are the one copy of the rest.
// What is a kind's own (an update's columns, the tags' pages) stays with
// the kind in metadefs.go.

// itemTable is one kind of namespace item as stored, T its record.
type itemTable[T any] struct {
	// table is the kind's table.
	table string
	// columns are the columns scan reads, id first.
	columns string
	// noun names the kind in Glance's "is protected" refusal.
	noun string
	// notFound is Glance's message for a missing item, before its name
	// (each repository words its own).
	notFound string
	scan     func(r scanner) (id int64, v T, err error)
	// insert adds v to the namespace (nsID, called ns in the refusals)
	// at t, and sets v's times.
	insert func(tx *sql.Tx, nsID int64, ns string, v T, t time.Time) error
}

// itemTables are the tables a namespace's contents are in, by the
// backends.Metadef* name of the kind: a namespace's delete empties them
// all, DeleteNamespaceContent one.
var itemTables = map[string]string{
	backends.MetadefObjects:    objectTable.table,
	backends.MetadefProperties: propertyTable.table,
	backends.MetadefTags:       tagTable.table,
}

// changeIn runs fn under the write lock with namespace ns's row, read from
// the writer: how every change inside a namespace begins.
func (s *Store) changeIn(ctx context.Context, ns string, fn func(cur *nsRow) error) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	cur, err := s.namespaceRow(ctx, s.wdb, ns)
	if err != nil {
		return err
	}
	return fn(cur)
}

// itemRow is the item called name in the namespace whose id is nsID.
func itemRow[T any](ctx context.Context, q querier, k *itemTable[T], nsID int64, name string) (int64, T, error) {
	id, v, err := k.scan(q.QueryRowContext(ctx, `SELECT `+k.columns+` FROM `+k.table+` WHERE namespace_id=? AND name=?`, nsID, name))
	if errors.Is(err, sql.ErrNoRows) {
		var zero T
		return 0, zero, backends.Errorf(backends.ErrNotFound, k.notFound+name)
	}
	return id, v, err
}

func getItem[T any](ctx context.Context, s *Store, k *itemTable[T], ns, name string) (T, error) {
	cur, err := s.namespaceRow(ctx, s.rdb, ns)
	if err != nil {
		var zero T
		return zero, err
	}
	_, v, err := itemRow(ctx, s.rdb, k, cur.id, name)
	return v, err
}

// listItems lists a namespace's items in order (an ORDER BY clause's
// terms).
func listItems[T any](ctx context.Context, s *Store, k *itemTable[T], ns, order string) ([]T, error) {
	cur, err := s.namespaceRow(ctx, s.rdb, ns)
	if err != nil {
		return nil, err
	}
	return scanItems(ctx, s, k, `SELECT `+k.columns+` FROM `+k.table+` WHERE namespace_id=? ORDER BY `+order, cur.id)
}

// scanItems is the items query selects, args its arguments.
func scanItems[T any](ctx context.Context, s *Store, k *itemTable[T], query string, args ...any) ([]T, error) {
	rows, err := s.rdb.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		_, v, err := k.scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// createItem adds v to namespace ns and returns it with its times.
func createItem[T any](ctx context.Context, s *Store, k *itemTable[T], ns string, v T) (T, error) {
	err := s.changeIn(ctx, ns, func(cur *nsRow) error {
		t := now()
		return s.tx(ctx, func(tx *sql.Tx) error { return k.insert(tx, cur.id, ns, v, t) })
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

// updateItem finds the item called name and runs write in a transaction
// with its id and its stored record; write returns what it stored.
func updateItem[T any](ctx context.Context, s *Store, k *itemTable[T], ns, name string, write func(tx *sql.Tx, id int64, old T) (T, error)) (T, error) {
	var out T
	err := s.changeIn(ctx, ns, func(cur *nsRow) error {
		id, old, err := itemRow(ctx, s.wdb, k, cur.id, name)
		if err != nil {
			return err
		}
		return s.tx(ctx, func(tx *sql.Tx) (err error) {
			out, err = write(tx, id, old)
			return err
		})
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return out, nil
}

// deleteItem deletes the item called name; in a protected namespace,
// ErrForbidden (once the item is found: a missing one is ErrNotFound
// there too, as in Glance).
func deleteItem[T any](ctx context.Context, s *Store, k *itemTable[T], ns, name string) error {
	return s.changeIn(ctx, ns, func(cur *nsRow) error {
		id, _, err := itemRow(ctx, s.wdb, k, cur.id, name)
		if err != nil {
			return err
		}
		if cur.ns.Protected {
			return backends.Errorf(backends.ErrForbidden, "Metadata definition "+k.noun+" "+name+" is protected and cannot be deleted.")
		}
		return s.tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.Exec(`DELETE FROM `+k.table+` WHERE id=?`, id)
			return err
		})
	})
}

// keyset is oslo.db's paginate_query, as Glance's metadef get_all call it:
// ordered by the sort key, then created_at, then id, all in one direction;
// a page goes on after its marker's row.
type keyset struct {
	keys     []string
	dir, cmp string // ASC and >, or DESC and <
}

// newKeyset orders by key ("": created_at), one of sortable.
func newKeyset(key string, desc bool, sortable map[string]bool) (*keyset, error) {
	if key == "" {
		key = "created_at"
	}
	if !sortable[key] {
		return nil, backends.Errorf(backends.ErrBadRequest, "Unknown sort key: "+key)
	}
	k := &keyset{keys: []string{key}, dir: "ASC", cmp: ">"}
	for _, tie := range []string{"created_at", "id"} {
		if tie != key {
			k.keys = append(k.keys, tie)
		}
	}
	if desc {
		k.dir, k.cmp = "DESC", "<"
	}
	return k, nil
}

// after is the condition of the rows after the marker, whose values of
// the keys are marker; it appends its arguments to args. (k1 > m1) OR (k1
// = m1 AND k2 > m2) ...: the NULLs of a nullable key compare as SQL
// does, unknown.
func (k *keyset) after(marker map[string]any, args []any) (string, []any) {
	var ors []string
	for i := range k.keys {
		var ands []string
		for j := 0; j < i; j++ {
			ands = append(ands, k.keys[j]+"=?")
			args = append(args, marker[k.keys[j]])
		}
		ands = append(ands, k.keys[i]+k.cmp+"?")
		args = append(args, marker[k.keys[i]])
		ors = append(ors, "("+strings.Join(ands, " AND ")+")")
	}
	return "(" + strings.Join(ors, " OR ") + ")", args
}

// orderBy is the ORDER BY clause's terms.
func (k *keyset) orderBy() string {
	order := make([]string, len(k.keys))
	for i, key := range k.keys {
		order[i] = key + " " + k.dir
	}
	return strings.Join(order, ", ")
}
