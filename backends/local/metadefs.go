package local

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
)

// The metadata definitions live in their own tables, shaped as Glance's
// (glance/db/sqlalchemy/models_metadef.py): integer ids allocated in
// creation order (a namespace marker is resolved to one, a tag marker is
// one, as in Glance), names unique per namespace. CREATE ... IF NOT EXISTS
// is the migration: a database made before metadefs gains the tables when
// it is opened.
const metadefSchema = `
CREATE TABLE IF NOT EXISTS metadef_namespaces (
	id INTEGER PRIMARY KEY AUTOINCREMENT, namespace TEXT NOT NULL UNIQUE,
	display_name TEXT, description TEXT, visibility TEXT NOT NULL, protected INTEGER NOT NULL,
	owner TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER
);
CREATE INDEX IF NOT EXISTS ix_metadef_namespaces_owner ON metadef_namespaces(owner);
CREATE TABLE IF NOT EXISTS metadef_objects (
	id INTEGER PRIMARY KEY AUTOINCREMENT, namespace_id INTEGER NOT NULL, name TEXT NOT NULL,
	description TEXT, required TEXT, json_schema TEXT, created_at INTEGER NOT NULL, updated_at INTEGER,
	UNIQUE (namespace_id, name)
);
CREATE TABLE IF NOT EXISTS metadef_properties (
	id INTEGER PRIMARY KEY AUTOINCREMENT, namespace_id INTEGER NOT NULL, name TEXT NOT NULL,
	json_schema TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER,
	UNIQUE (namespace_id, name)
);
CREATE TABLE IF NOT EXISTS metadef_tags (
	id INTEGER PRIMARY KEY AUTOINCREMENT, namespace_id INTEGER NOT NULL, name TEXT NOT NULL,
	created_at INTEGER NOT NULL, updated_at INTEGER,
	UNIQUE (namespace_id, name)
);
CREATE TABLE IF NOT EXISTS metadef_resource_types (
	id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, protected INTEGER NOT NULL,
	created_at INTEGER NOT NULL, updated_at INTEGER
);
CREATE TABLE IF NOT EXISTS metadef_namespace_resource_types (
	resource_type_id INTEGER NOT NULL, namespace_id INTEGER NOT NULL,
	properties_target TEXT, prefix TEXT, created_at INTEGER NOT NULL, updated_at INTEGER,
	PRIMARY KEY (resource_type_id, namespace_id)
);
`

// The explanations of Glance's metadef exceptions (glance/common/exception.py).
func nsNotFound(name string) error {
	return backends.Errorf(backends.ErrNotFound, "Metadata definition namespace="+name+" was not found.")
}

func nsProtected(name string) error {
	return backends.Errorf(backends.ErrForbidden, "Metadata definition namespace "+name+" is protected and cannot be deleted.")
}

// nsRow is a namespace with its id.
type nsRow struct {
	id int64
	ns backends.MetadefNamespace
}

const nsColumns = `id, namespace, display_name, description, visibility, protected, owner, created_at, updated_at`

type scanner interface{ Scan(...any) error }

func scanNamespace(r scanner) (*nsRow, error) {
	var row nsRow
	var dn, desc sql.NullString
	var prot int64
	var ca int64
	var ua sql.NullInt64
	if err := r.Scan(&row.id, &row.ns.Namespace, &dn, &desc, &row.ns.Visibility, &prot, &row.ns.Owner, &ca, &ua); err != nil {
		return nil, err
	}
	row.ns.DisplayName, row.ns.Description = optStr(dn), optStr(desc)
	row.ns.Protected = prot != 0
	row.ns.CreatedAt, row.ns.UpdatedAt = fromMicros(ca), fromNullMicros(ua)
	return &row, nil
}

func optStr(s sql.NullString) *string {
	if !s.Valid {
		return nil
	}
	v := s.String
	return &v
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (s *Store) namespaceRow(ctx context.Context, q querier, name string) (*nsRow, error) {
	row, err := scanNamespace(q.QueryRowContext(ctx, `SELECT `+nsColumns+` FROM metadef_namespaces WHERE namespace=?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nsNotFound(name)
	}
	return row, err
}

// Namespace returns the namespace called name whoever may see it (the
// gateway decides), or ErrNotFound.
func (s *Store) Namespace(ctx context.Context, name string) (*backends.MetadefNamespace, error) {
	row, err := s.namespaceRow(ctx, s.rdb, name)
	if err != nil {
		return nil, err
	}
	return &row.ns, nil
}

var namespaceSortKeys = map[string]bool{
	"id": true, "namespace": true, "display_name": true, "description": true, "visibility": true,
	"protected": true, "owner": true, "created_at": true, "updated_at": true,
}

// ListNamespaces lists the namespaces q selects, as Glance's
// metadef_api.namespace.get_all: ordered by sort key, created_at, id, all
// in the one direction; after the marker's row.
func (s *Store) ListNamespaces(ctx context.Context, q *backends.NamespaceQuery) ([]*backends.MetadefNamespace, error) {
	var where []string
	var args []any
	if !q.AllVisible {
		where = append(where, `(owner=? OR visibility='public')`)
		args = append(args, q.Owner)
	}
	if q.Visibility != "" {
		where = append(where, `visibility=?`)
		args = append(args, q.Visibility)
	}
	if q.ResourceTypes != nil {
		marks := strings.TrimSuffix(strings.Repeat("?,", len(q.ResourceTypes)), ",")
		if len(q.ResourceTypes) == 0 {
			return nil, nil
		}
		where = append(where, `id IN (SELECT a.namespace_id FROM metadef_namespace_resource_types a JOIN metadef_resource_types r ON r.id=a.resource_type_id WHERE r.name IN (`+marks+`))`)
		for _, rt := range q.ResourceTypes {
			args = append(args, rt)
		}
	}
	ks, err := newKeyset(q.SortKey, q.Desc, namespaceSortKeys)
	if err != nil {
		return nil, err
	}
	if q.Marker != "" {
		m, err := s.namespaceRow(ctx, s.rdb, q.Marker)
		if err != nil {
			return nil, err
		}
		var after string
		after, args = ks.after(map[string]any{
			"id": m.id, "namespace": m.ns.Namespace, "display_name": nullStr(m.ns.DisplayName),
			"description": nullStr(m.ns.Description), "visibility": m.ns.Visibility,
			"protected": boolInt(m.ns.Protected), "owner": m.ns.Owner,
			"created_at": micros(m.ns.CreatedAt), "updated_at": micros(m.ns.UpdatedAt),
		}, args)
		where = append(where, after)
	}
	query := `SELECT ` + nsColumns + ` FROM metadef_namespaces`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY ` + ks.orderBy()
	if q.Limit > 0 {
		query += ` LIMIT ` + strconv.Itoa(q.Limit)
	}
	rows, err := s.rdb.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*backends.MetadefNamespace
	for rows.Next() {
		r, err := scanNamespace(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, &r.ns)
	}
	return out, rows.Err()
}

// fromNullMicros is a time that may be NULL (what a definitions load
// leaves, as Glance's loader does): the zero time.
func fromNullMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMicros(v.Int64)
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// isUnique reports a UNIQUE constraint failure.
func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// CreateNamespace creates a namespace with its contents in one
// transaction: a duplicate anywhere leaves nothing behind (Glance cleans
// up the namespace it made).
func (s *Store) CreateNamespace(ctx context.Context, c *backends.MetadefNamespaceContent) (*backends.MetadefNamespace, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	t := now()
	ns := c.MetadefNamespace
	ns.CreatedAt, ns.UpdatedAt = t, t
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`INSERT INTO metadef_namespaces (namespace, display_name, description, visibility, protected, owner, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)`,
			ns.Namespace, nullStr(ns.DisplayName), nullStr(ns.Description), ns.Visibility, boolInt(ns.Protected), ns.Owner, micros(t), micros(t))
		if isUnique(err) {
			return backends.Errorf(backends.ErrConflict, "The metadata definition namespace="+ns.Namespace+" already exists.")
		}
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		for _, a := range c.Associations {
			if err := insertAssociation(ctx, tx, id, ns.Namespace, a, t); err != nil {
				return err
			}
		}
		for _, o := range c.Objects {
			if err := insertObject(tx, id, ns.Namespace, o, t); err != nil {
				return err
			}
		}
		for _, tg := range c.Tags {
			if err := insertTag(tx, id, ns.Namespace, tg, t); err != nil {
				return err
			}
		}
		for _, p := range c.Properties {
			if err := insertProperty(tx, id, ns.Namespace, p, t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ns, nil
}

// UpdateNamespace replaces the namespace's fields (a rename keeps its
// contents).
func (s *Store) UpdateNamespace(ctx context.Context, name string, ns *backends.MetadefNamespace) (*backends.MetadefNamespace, error) {
	out := *ns
	err := s.changeIn(ctx, name, func(cur *nsRow) error {
		out.CreatedAt, out.UpdatedAt = cur.ns.CreatedAt, now()
		return s.tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.Exec(`UPDATE metadef_namespaces SET namespace=?, display_name=?, description=?, visibility=?, protected=?, owner=?, updated_at=? WHERE id=?`,
				out.Namespace, nullStr(out.DisplayName), nullStr(out.Description), out.Visibility, boolInt(out.Protected), out.Owner, micros(out.UpdatedAt), cur.id)
			if isUnique(err) {
				return backends.Errorf(backends.ErrConflict, "Invalid update. It would result in a duplicate metadata definition namespace with the same name of "+out.Namespace)
			}
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteNamespace deletes a namespace and everything in it; a protected one
// is ErrForbidden.
func (s *Store) DeleteNamespace(ctx context.Context, name string) error {
	return s.changeIn(ctx, name, func(cur *nsRow) error {
		if cur.ns.Protected {
			return nsProtected(name)
		}
		return s.tx(ctx, func(tx *sql.Tx) error { return deleteNamespaceRows(tx, cur.id) })
	})
}

// namespaceContent are the tables of what a namespace holds.
var namespaceContent = []string{"metadef_tags", "metadef_objects", "metadef_properties", "metadef_namespace_resource_types"}

// deleteNamespaceRows deletes the namespace whose id is id and what it
// holds.
func deleteNamespaceRows(tx *sql.Tx, id int64) error {
	for _, table := range namespaceContent {
		if _, err := tx.Exec(`DELETE FROM `+table+` WHERE namespace_id=?`, id); err != nil {
			return err
		}
	}
	_, err := tx.Exec(`DELETE FROM metadef_namespaces WHERE id=?`, id)
	return err
}

// DeleteNamespaceContent deletes every object, property or tag (kind) of a
// namespace; a protected namespace is ErrForbidden.
func (s *Store) DeleteNamespaceContent(ctx context.Context, name, kind string) error {
	table := itemTables[kind]
	if table == "" {
		return fmt.Errorf("local: no metadef content %q", kind)
	}
	return s.changeIn(ctx, name, func(cur *nsRow) error {
		if cur.ns.Protected {
			return nsProtected(name)
		}
		return s.tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.Exec(`DELETE FROM `+table+` WHERE namespace_id=?`, cur.id)
			return err
		})
	})
}

// --- objects ---------------------------------------------------------------

var objectTable = &itemTable[*backends.MetadefObject]{
	table: "metadef_objects", columns: `id, name, description, required, json_schema, created_at, updated_at`,
	noun: "object", notFound: "Could not find metadata object ", // MetadefObjectRepo.get's words
	scan: scanObject, insert: insertObject,
}

// objectJSON is what an object's required and properties are stored as
// (NULL for none).
func objectJSON(o *backends.MetadefObject) (req, props any) {
	if o.Required != nil {
		b, _ := json.Marshal(o.Required)
		req = string(b)
	}
	if o.Properties != nil {
		props = string(o.Properties)
	}
	return req, props
}

func insertObject(tx *sql.Tx, nsID int64, ns string, o *backends.MetadefObject, t time.Time) error {
	req, props := objectJSON(o)
	_, err := tx.Exec(`INSERT INTO metadef_objects (namespace_id, name, description, required, json_schema, created_at, updated_at) VALUES (?,?,?,?,?,?,?)`,
		nsID, o.Name, nullStr(o.Description), req, props, micros(t), micros(t))
	if isUnique(err) {
		return backends.Errorf(backends.ErrConflict, "A metadata definition object with name="+o.Name+" already exists in namespace="+ns+".")
	}
	o.CreatedAt, o.UpdatedAt = t, t
	return err
}

func scanObject(r scanner) (int64, *backends.MetadefObject, error) {
	var id int64
	var o backends.MetadefObject
	var desc, req, props sql.NullString
	var ca int64
	var ua sql.NullInt64
	if err := r.Scan(&id, &o.Name, &desc, &req, &props, &ca, &ua); err != nil {
		return 0, nil, err
	}
	o.Description = optStr(desc)
	if req.Valid {
		if err := json.Unmarshal([]byte(req.String), &o.Required); err != nil {
			return 0, nil, err
		}
	}
	if props.Valid {
		o.Properties = json.RawMessage(props.String)
	}
	o.CreatedAt, o.UpdatedAt = fromMicros(ca), fromNullMicros(ua)
	return id, &o, nil
}

// MetadefObjects lists a namespace's objects by name (the order Glance's
// SQLite answers in: through the (namespace_id, name) index).
func (s *Store) MetadefObjects(ctx context.Context, ns string) ([]*backends.MetadefObject, error) {
	return listItems(ctx, s, objectTable, ns, "name")
}

// MetadefObject returns a namespace's object.
func (s *Store) MetadefObject(ctx context.Context, ns, name string) (*backends.MetadefObject, error) {
	return getItem(ctx, s, objectTable, ns, name)
}

// CreateMetadefObject adds an object to a namespace.
func (s *Store) CreateMetadefObject(ctx context.Context, ns string, o *backends.MetadefObject) (*backends.MetadefObject, error) {
	out := *o
	return createItem(ctx, s, objectTable, ns, &out)
}

// UpdateMetadefObject replaces an object (a rename included).
func (s *Store) UpdateMetadefObject(ctx context.Context, ns, name string, o *backends.MetadefObject) (*backends.MetadefObject, error) {
	return updateItem(ctx, s, objectTable, ns, name, func(tx *sql.Tx, id int64, old *backends.MetadefObject) (*backends.MetadefObject, error) {
		out := *o
		out.CreatedAt, out.UpdatedAt = old.CreatedAt, now()
		req, props := objectJSON(&out)
		_, err := tx.Exec(`UPDATE metadef_objects SET name=?, description=?, required=?, json_schema=?, updated_at=? WHERE id=?`,
			out.Name, nullStr(out.Description), req, props, micros(out.UpdatedAt), id)
		if isUnique(err) {
			return nil, backends.Errorf(backends.ErrConflict, "Invalid update. It would result in a duplicate metadata definition object with the same name="+name+" in namespace="+ns+".")
		}
		return &out, err
	})
}

// DeleteMetadefObject deletes an object; in a protected namespace, ErrForbidden.
func (s *Store) DeleteMetadefObject(ctx context.Context, ns, name string) error {
	return deleteItem(ctx, s, objectTable, ns, name)
}

// --- properties ------------------------------------------------------------

var propertyTable = &itemTable[*backends.MetadefProperty]{
	table: "metadef_properties", columns: `id, name, json_schema, created_at, updated_at`,
	noun: "property", notFound: "Could not find property ",
	scan: scanProperty, insert: insertProperty,
}

func insertProperty(tx *sql.Tx, nsID int64, ns string, p *backends.MetadefProperty, t time.Time) error {
	_, err := tx.Exec(`INSERT INTO metadef_properties (namespace_id, name, json_schema, created_at, updated_at) VALUES (?,?,?,?,?)`,
		nsID, p.Name, string(p.Schema), micros(t), micros(t))
	if isUnique(err) {
		return backends.Errorf(backends.ErrConflict, "A metadata definition property with name="+p.Name+" already exists in namespace="+ns+".")
	}
	p.CreatedAt, p.UpdatedAt = t, t
	return err
}

func scanProperty(r scanner) (int64, *backends.MetadefProperty, error) {
	var id int64
	var p backends.MetadefProperty
	var schema string
	var ca int64
	var ua sql.NullInt64
	if err := r.Scan(&id, &p.Name, &schema, &ca, &ua); err != nil {
		return 0, nil, err
	}
	p.Schema = json.RawMessage(schema)
	p.CreatedAt, p.UpdatedAt = fromMicros(ca), fromNullMicros(ua)
	return id, &p, nil
}

// MetadefProperties lists a namespace's properties in creation order.
func (s *Store) MetadefProperties(ctx context.Context, ns string) ([]*backends.MetadefProperty, error) {
	return listItems(ctx, s, propertyTable, ns, "id")
}

// MetadefProperty returns a namespace's property.
func (s *Store) MetadefProperty(ctx context.Context, ns, name string) (*backends.MetadefProperty, error) {
	return getItem(ctx, s, propertyTable, ns, name)
}

// CreateMetadefProperty adds a property to a namespace.
func (s *Store) CreateMetadefProperty(ctx context.Context, ns string, p *backends.MetadefProperty) (*backends.MetadefProperty, error) {
	out := *p
	return createItem(ctx, s, propertyTable, ns, &out)
}

// UpdateMetadefProperty replaces a property (a rename included).
func (s *Store) UpdateMetadefProperty(ctx context.Context, ns, name string, p *backends.MetadefProperty) (*backends.MetadefProperty, error) {
	return updateItem(ctx, s, propertyTable, ns, name, func(tx *sql.Tx, id int64, old *backends.MetadefProperty) (*backends.MetadefProperty, error) {
		out := *p
		out.CreatedAt, out.UpdatedAt = old.CreatedAt, now()
		_, err := tx.Exec(`UPDATE metadef_properties SET name=?, json_schema=?, updated_at=? WHERE id=?`, out.Name, string(out.Schema), micros(out.UpdatedAt), id)
		if isUnique(err) {
			return nil, backends.Errorf(backends.ErrConflict, "Invalid update. It would result in a duplicate metadata definition property with the same name="+name+" in namespace="+ns+".")
		}
		return &out, err
	})
}

// DeleteMetadefProperty deletes a property; in a protected namespace, ErrForbidden.
func (s *Store) DeleteMetadefProperty(ctx context.Context, ns, name string) error {
	return deleteItem(ctx, s, propertyTable, ns, name)
}

// --- tags ------------------------------------------------------------------

var tagTable = &itemTable[*backends.MetadefTag]{
	table: "metadef_tags", columns: `id, name, created_at, updated_at`,
	noun: "tag", notFound: "Could not find metadata tag ",
	scan: scanTag, insert: insertTag,
}

func tagDuplicate(ns, name string) error {
	return backends.Errorf(backends.ErrConflict, "A metadata tag with name="+name+" already exists in namespace="+ns+". (Please note that metadata tag names are case insensitive).")
}

func insertTag(tx *sql.Tx, nsID int64, ns string, tg *backends.MetadefTag, t time.Time) error {
	_, err := tx.Exec(`INSERT INTO metadef_tags (namespace_id, name, created_at, updated_at) VALUES (?,?,?,?)`, nsID, tg.Name, micros(t), micros(t))
	if isUnique(err) {
		return tagDuplicate(ns, tg.Name)
	}
	tg.CreatedAt, tg.UpdatedAt = t, t
	return err
}

func scanTag(r scanner) (int64, *backends.MetadefTag, error) {
	var id int64
	var tg backends.MetadefTag
	var ca int64
	var ua sql.NullInt64
	if err := r.Scan(&id, &tg.Name, &ca, &ua); err != nil {
		return 0, nil, err
	}
	tg.CreatedAt, tg.UpdatedAt = fromMicros(ca), fromNullMicros(ua)
	return id, &tg, nil
}

var tagSortKeys = map[string]bool{"id": true, "name": true, "created_at": true, "updated_at": true}

// MetadefTags lists a namespace's tags as Glance's tag.get_all: by sort key,
// created_at, id in one direction, after the marker (a tag name).
func (s *Store) MetadefTags(ctx context.Context, ns string, q *backends.TagQuery) ([]*backends.MetadefTag, error) {
	cur, err := s.namespaceRow(ctx, s.rdb, ns)
	if err != nil {
		return nil, err
	}
	ks, err := newKeyset(q.SortKey, q.Desc, tagSortKeys)
	if err != nil {
		return nil, err
	}
	where := `namespace_id=?`
	args := []any{cur.id}
	if q.Marker != "" {
		// The marker is a tag's name: Glance resolves it to the tag's id.
		mid, m, err := itemRow(ctx, s.rdb, tagTable, cur.id, q.Marker)
		if err != nil {
			return nil, err
		}
		var after string
		after, args = ks.after(map[string]any{"id": mid, "name": m.Name, "created_at": micros(m.CreatedAt), "updated_at": micros(m.UpdatedAt)}, args)
		where += " AND " + after
	}
	query := `SELECT ` + tagTable.columns + ` FROM metadef_tags WHERE ` + where + ` ORDER BY ` + ks.orderBy()
	if q.Limit > 0 {
		query += ` LIMIT ` + strconv.Itoa(q.Limit)
	}
	return scanItems(ctx, s, tagTable, query, args...)
}

// MetadefTag returns a namespace's tag.
func (s *Store) MetadefTag(ctx context.Context, ns, name string) (*backends.MetadefTag, error) {
	return getItem(ctx, s, tagTable, ns, name)
}

// CreateMetadefTag adds a tag to a namespace.
func (s *Store) CreateMetadefTag(ctx context.Context, ns, name string) (*backends.MetadefTag, error) {
	return createItem(ctx, s, tagTable, ns, &backends.MetadefTag{Name: name})
}

// CreateMetadefTags adds tags to a namespace, replacing the ones it has unless
// appending; all or none.
func (s *Store) CreateMetadefTags(ctx context.Context, ns string, names []string, appending bool) ([]*backends.MetadefTag, error) {
	var out []*backends.MetadefTag
	err := s.changeIn(ctx, ns, func(cur *nsRow) error {
		if len(names) == 0 {
			// Glance's create_tags does nothing for an empty list.
			return nil
		}
		t := now()
		out = make([]*backends.MetadefTag, 0, len(names))
		return s.tx(ctx, func(tx *sql.Tx) error {
			if !appending {
				if _, err := tx.Exec(`DELETE FROM metadef_tags WHERE namespace_id=?`, cur.id); err != nil {
					return err
				}
			}
			for _, n := range names {
				tg := &backends.MetadefTag{Name: n}
				if err := insertTag(tx, cur.id, ns, tg, t); err != nil {
					return err
				}
				out = append(out, tg)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateMetadefTag renames a tag.
func (s *Store) UpdateMetadefTag(ctx context.Context, ns, name, newName string) (*backends.MetadefTag, error) {
	return updateItem(ctx, s, tagTable, ns, name, func(tx *sql.Tx, id int64, old *backends.MetadefTag) (*backends.MetadefTag, error) {
		out := &backends.MetadefTag{Name: newName, CreatedAt: old.CreatedAt, UpdatedAt: now()}
		_, err := tx.Exec(`UPDATE metadef_tags SET name=?, updated_at=? WHERE id=?`, newName, micros(out.UpdatedAt), id)
		if isUnique(err) {
			return nil, tagDuplicate(ns, newName)
		}
		return out, err
	})
}

// DeleteMetadefTag deletes a tag; in a protected namespace, ErrForbidden.
func (s *Store) DeleteMetadefTag(ctx context.Context, ns, name string) error {
	return deleteItem(ctx, s, tagTable, ns, name)
}

// --- resource types --------------------------------------------------------

// ResourceTypes lists every resource type in creation order.
func (s *Store) ResourceTypes(ctx context.Context) ([]*backends.MetadefResourceType, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT name, protected, created_at, updated_at FROM metadef_resource_types ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*backends.MetadefResourceType
	for rows.Next() {
		var rt backends.MetadefResourceType
		var prot, ca int64
		var ua sql.NullInt64
		if err := rows.Scan(&rt.Name, &prot, &ca, &ua); err != nil {
			return nil, err
		}
		rt.Protected = prot != 0
		rt.CreatedAt, rt.UpdatedAt = fromMicros(ca), fromNullMicros(ua)
		out = append(out, &rt)
	}
	return out, rows.Err()
}

// ResourceTypeAssociations lists a namespace's resource type associations.
func (s *Store) ResourceTypeAssociations(ctx context.Context, ns string) ([]*backends.MetadefAssociation, error) {
	cur, err := s.namespaceRow(ctx, s.rdb, ns)
	if err != nil {
		return nil, err
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT r.name, a.properties_target, a.prefix, a.created_at, a.updated_at
		FROM metadef_resource_types r JOIN metadef_namespace_resource_types a ON a.resource_type_id=r.id
		WHERE a.namespace_id=? ORDER BY a.rowid`, cur.id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*backends.MetadefAssociation
	for rows.Next() {
		var a backends.MetadefAssociation
		var target, prefix sql.NullString
		var ca int64
		var ua sql.NullInt64
		if err := rows.Scan(&a.Name, &target, &prefix, &ca, &ua); err != nil {
			return nil, err
		}
		a.PropertiesTarget, a.Prefix = optStr(target), optStr(prefix)
		a.CreatedAt, a.UpdatedAt = fromMicros(ca), fromNullMicros(ua)
		out = append(out, &a)
	}
	return out, rows.Err()
}

// insertAssociation associates a namespace with a resource type, creating
// the type if it is new (Glance's resource_type_association.create).
func insertAssociation(ctx context.Context, tx *sql.Tx, nsID int64, ns string, a *backends.MetadefAssociation, t time.Time) error {
	return insertAssociationOf(ctx, tx, nsID, ns, a, t, false)
}

// insertAssociationOf is insertAssociation; a type it creates is
// protected when seeded (a definitions load: Glance's "seeded-system"
// types).
func insertAssociationOf(ctx context.Context, tx *sql.Tx, nsID int64, ns string, a *backends.MetadefAssociation, t time.Time, seeded bool) error {
	var rtID int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM metadef_resource_types WHERE name=?`, a.Name).Scan(&rtID)
	if errors.Is(err, sql.ErrNoRows) {
		var updated any = micros(t)
		if seeded {
			updated = nil // Glance's loader sets no updated_at
		}
		res, err := tx.Exec(`INSERT INTO metadef_resource_types (name, protected, created_at, updated_at) VALUES (?,?,?,?)`, a.Name, boolInt(seeded), micros(t), updated)
		if err != nil {
			return err
		}
		if rtID, err = res.LastInsertId(); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	_, err = tx.Exec(`INSERT INTO metadef_namespace_resource_types (resource_type_id, namespace_id, properties_target, prefix, created_at, updated_at) VALUES (?,?,?,?,?,?)`,
		rtID, nsID, nullStr(a.PropertiesTarget), nullStr(a.Prefix), micros(t), micros(t))
	if isUnique(err) {
		return backends.Errorf(backends.ErrConflict, "The metadata definition resource-type association of resource-type="+a.Name+" to namespace="+ns+" already exists.")
	}
	a.CreatedAt, a.UpdatedAt = t, t
	return err
}

// CreateResourceTypeAssociation associates a namespace with a resource type.
func (s *Store) CreateResourceTypeAssociation(ctx context.Context, ns string, a *backends.MetadefAssociation) (*backends.MetadefAssociation, error) {
	out := *a
	err := s.changeIn(ctx, ns, func(cur *nsRow) error {
		return s.tx(ctx, func(tx *sql.Tx) error { return insertAssociation(ctx, tx, cur.id, ns, &out, now()) })
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteResourceTypeAssociation removes a namespace's association with a resource
// type (the type stays); in a protected namespace, ErrForbidden.
func (s *Store) DeleteResourceTypeAssociation(ctx context.Context, ns, resourceType string) error {
	return s.changeIn(ctx, ns, func(cur *nsRow) error {
		var rtID int64
		err := s.wdb.QueryRowContext(ctx, `SELECT r.id FROM metadef_resource_types r JOIN metadef_namespace_resource_types a ON a.resource_type_id=r.id WHERE a.namespace_id=? AND r.name=?`, cur.id, resourceType).Scan(&rtID)
		if errors.Is(err, sql.ErrNoRows) {
			return backends.Errorf(backends.ErrNotFound, "Failed to find resource type "+resourceType+" to delete")
		}
		if err != nil {
			return err
		}
		if cur.ns.Protected {
			return backends.Errorf(backends.ErrForbidden, "Metadata definition resource-type-association "+resourceType+" is protected and cannot be deleted.")
		}
		return s.tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.Exec(`DELETE FROM metadef_namespace_resource_types WHERE namespace_id=? AND resource_type_id=?`, cur.id, rtID)
			return err
		})
	})
}

// LoadNamespace stores a namespace from a definitions file, as glance-manage
// db_load_metadefs does: a namespace that exists is skipped (loaded
// false) unless overwrite, which replaces it and its contents; the
// resource types it creates are protected. All of one namespace or none.
func (s *Store) LoadNamespace(ctx context.Context, c *backends.MetadefNamespaceContent, overwrite bool) (loaded bool, err error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	t := now()
	ns := c.MetadefNamespace
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM metadef_namespaces WHERE namespace=?`, ns.Namespace).Scan(&id)
		switch {
		case err == nil && !overwrite:
			return nil
		case err == nil:
			if err := deleteNamespaceRows(tx, id); err != nil {
				return err
			}
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		res, err := tx.Exec(`INSERT INTO metadef_namespaces (namespace, display_name, description, visibility, protected, owner, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)`,
			ns.Namespace, nullStr(ns.DisplayName), nullStr(ns.Description), ns.Visibility, boolInt(ns.Protected), ns.Owner, micros(t), micros(t))
		if err != nil {
			return err
		}
		if id, err = res.LastInsertId(); err != nil {
			return err
		}
		for _, a := range c.Associations {
			if err := insertAssociationOf(ctx, tx, id, ns.Namespace, a, t, true); err != nil {
				return err
			}
		}
		for _, p := range c.Properties {
			if err := insertProperty(tx, id, ns.Namespace, p, t); err != nil {
				return err
			}
		}
		for _, o := range c.Objects {
			if err := insertObject(tx, id, ns.Namespace, o, t); err != nil {
				return err
			}
		}
		for _, tg := range c.Tags {
			if err := insertTag(tx, id, ns.Namespace, tg, t); err != nil {
				return err
			}
		}
		// Glance's loader sets created_at only.
		for _, table := range namespaceContent {
			if _, err := tx.Exec(`UPDATE `+table+` SET updated_at=NULL WHERE namespace_id=?`, id); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(`UPDATE metadef_namespaces SET updated_at=NULL WHERE id=?`, id); err != nil {
			return err
		}
		loaded = true
		return nil
	})
	return loaded, err
}
