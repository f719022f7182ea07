package local

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/backends/glancedownload"
	"github.com/spyglass-gateway/spyglass/backends/httpstore"
	"github.com/spyglass-gateway/spyglass/backends/outbound"
	"github.com/spyglass-gateway/spyglass/backends/transfers"
)

// Glance's defaults for the quotas and the size cap.
const (
	defaultSizeCap  = 1099511627776
	defaultQuota    = 128
	defaultStore    = "local"
	taskTimeToLive  = 48 * time.Hour
	tmpPrefix       = ".tmp-"
	busyTimeoutMsec = 10000
)

// Options configure a Store. Every zero value means Glance's default.
type Options struct {
	// SizeCap is the largest image accepted, in bytes. 0: Glance's default
	// image_size_cap, 1099511627776 (1 TiB). A per-upload
	// UploadOptions.SizeCap lower than this wins.
	SizeCap int64
	// MemberQuota is the most members an image may have. 0: 128
	// (image_member_quota). Negative: unlimited.
	MemberQuota int
	// PropertyQuota is the most custom properties an image may have.
	// 0: 128 (image_property_quota). Negative: unlimited.
	PropertyQuota int
	// TagQuota is the most tags an image may have. 0: 128
	// (image_tag_quota). Negative: unlimited.
	TagQuota int
	// StoreName is the Glance store id this region shows in an image's
	// `stores`. "": "local".
	StoreName string
	// Fetcher fetches web-download imports, import tasks' import_from and
	// images' http locations through the import filter. nil: outbound.Default(), Glance's
	// default [import_filtering_opts].
	Fetcher *outbound.Fetcher
	// Transfers bounds the web-download imports and import tasks, which
	// fetch what a tenant names, with the gateway's other outbound
	// transfers: give every region and the gateway the same
	// *transfers.Limiter. nil: a limiter of the region's own with
	// transfers' defaults.
	Transfers TransferLimiter
	// GlanceDownload reads glance-download imports' sources (another
	// region's Glance, from the caller's catalog). nil:
	// glancedownload.Client().
	GlanceDownload glancedownload.Doer
	// Shared lets other processes open the directory with Shared too
	// (shared.go): each one's writes are checked against, and seen by,
	// the others. false: this process keeps the directory to itself, and
	// Open fails while another process has it open (and makes any other
	// fail while it has).
	Shared bool
	// Announce, with Shared, is called after every write, outside the
	// store's locks, and should return once the other processes have
	// called Refresh (the gateway's acknowledged invalidation over
	// Redis). nil: they see the write within a second (Refresh runs that
	// often), and through their own next write at once.
	Announce func(ctx context.Context)
	// MetadefsOnly opens the store to read and write metadata
	// definitions only ("spyglass metadefs load"): it neither recovers
	// nor loads images and tasks, and so may open a directory another
	// process serves (metadefs are read with SQL each time).
	MetadefsOnly bool
}

// TransferLimiter runs a transfer a tenant of project started when its
// bounds allow, and returns without running it when they refuse it or ctx
// ends first; *transfers.Limiter is one.
type TransferLimiter interface {
	Do(ctx context.Context, project string, transfer func(ctx context.Context) error) error
}

// Store is the embedded region. It is safe for concurrent use.
type Store struct {
	dir  string
	opts Options

	wdb *sql.DB // the one writer connection
	rdb *sql.DB // readers (WAL lets them run beside the writer)

	// http reads images' http locations through opts.Fetcher.
	http *httpstore.Store

	// wmu serializes every write: read snapshot, write DB, swap snapshot
	// (with Options.Shared, across processes: shared.go).
	wmu writeLock

	// share is nil unless Options.Shared.
	share *sharing
	// others counts the catch-ups that found other processes' writes;
	// onOthers is told of each image they changed (OnOthersWrite).
	others   atomic.Uint64
	onOthers atomic.Pointer[func(id string)]
	// locks are the flocks held while open (locks/dir, a worker's own).
	locks []*os.File

	mu      sync.RWMutex
	images  map[string]*backends.Image
	members map[string]map[string]*backends.Member // image id → member id →
	tasks   map[string]*backends.Task

	// bg runs imports and tasks; Close cancels it and waits.
	bgCtx    context.Context
	bgCancel context.CancelFunc
	bg       sync.WaitGroup
}

const schema = `
CREATE TABLE IF NOT EXISTS images (
	id TEXT PRIMARY KEY NOT NULL,
	name TEXT,
	status TEXT NOT NULL,
	visibility TEXT NOT NULL,
	protected INTEGER NOT NULL DEFAULT 0,
	os_hidden INTEGER NOT NULL DEFAULT 0,
	owner TEXT,
	checksum TEXT,
	os_hash_algo TEXT,
	os_hash_value TEXT,
	size INTEGER,
	virtual_size INTEGER,
	min_disk INTEGER NOT NULL DEFAULT 0,
	min_ram INTEGER NOT NULL DEFAULT 0,
	container_format TEXT,
	disk_format TEXT,
	created_at INTEGER NOT NULL, -- microseconds since the epoch, UTC
	updated_at INTEGER NOT NULL,
	stores TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS ix_images_created ON images(created_at, id);
CREATE INDEX IF NOT EXISTS ix_images_name ON images(name, created_at, id);
CREATE INDEX IF NOT EXISTS ix_images_status ON images(status, created_at, id);
CREATE INDEX IF NOT EXISTS ix_images_owner ON images(owner, created_at, id);
CREATE INDEX IF NOT EXISTS ix_images_visibility ON images(visibility, created_at, id);
CREATE INDEX IF NOT EXISTS ix_images_updated ON images(updated_at, created_at, id);
CREATE INDEX IF NOT EXISTS ix_images_size ON images(size, created_at, id);
CREATE INDEX IF NOT EXISTS ix_images_disk_format ON images(disk_format, created_at, id);
CREATE INDEX IF NOT EXISTS ix_images_container_format ON images(container_format, created_at, id);
CREATE INDEX IF NOT EXISTS ix_images_checksum ON images(checksum);
CREATE INDEX IF NOT EXISTS ix_images_os_hash_value ON images(os_hash_value);
-- Ids of deleted images: Glance soft-deletes, so an id is never reused.
CREATE TABLE IF NOT EXISTS deleted_images (id TEXT PRIMARY KEY NOT NULL, deleted_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS image_properties (
	image_id TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,
	PRIMARY KEY (image_id, name)
);
CREATE INDEX IF NOT EXISTS ix_props_name_value ON image_properties(name, value, image_id);
CREATE TABLE IF NOT EXISTS image_tags (
	seq INTEGER PRIMARY KEY AUTOINCREMENT, -- keeps insertion order
	image_id TEXT NOT NULL, value TEXT NOT NULL,
	UNIQUE (image_id, value)
);
CREATE INDEX IF NOT EXISTS ix_tags_value ON image_tags(value, image_id);
CREATE TABLE IF NOT EXISTS image_members (
	image_id TEXT NOT NULL, member TEXT NOT NULL, status TEXT NOT NULL,
	created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
	can_share INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (image_id, member)
);
CREATE INDEX IF NOT EXISTS ix_members_member ON image_members(member, status, image_id);
CREATE TABLE IF NOT EXISTS tasks (
	id TEXT PRIMARY KEY NOT NULL, type TEXT NOT NULL, status TEXT NOT NULL,
	owner TEXT NOT NULL, user_id TEXT NOT NULL, request_id TEXT NOT NULL,
	image_id TEXT NOT NULL, input TEXT, result TEXT, message TEXT NOT NULL,
	expires_at INTEGER, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
);
-- Glance's image_locations: where an image's data lives outside the
-- store's files (an http location), in order. Added after the first
-- release: CREATE ... IF NOT EXISTS is its migration.
CREATE TABLE IF NOT EXISTS image_locations (
	seq INTEGER PRIMARY KEY AUTOINCREMENT, -- keeps the order
	image_id TEXT NOT NULL, value TEXT NOT NULL,
	meta_data TEXT NOT NULL DEFAULT '{}', status TEXT NOT NULL DEFAULT 'active'
);
CREATE INDEX IF NOT EXISTS ix_locations_image ON image_locations(image_id, seq);
`

// migrate brings a database made by an older Spyglass to schema: CREATE
// TABLE IF NOT EXISTS leaves an existing table as it was, so the columns
// added since are added here (each an ADD COLUMN with the default every
// existing row had in effect).
func migrate(db *sql.DB) error {
	cols, err := stringSet(db, `SELECT name FROM pragma_table_info('image_members')`)
	if err != nil {
		return err
	}
	if !cols["can_share"] {
		// The v1 members' can_share (Queens' image_members.can_share,
		// default False): no member of an older store had the grant.
		if _, err := db.Exec(`ALTER TABLE image_members ADD COLUMN can_share INTEGER NOT NULL DEFAULT 0`); err != nil {
			return err
		}
	}
	return nil
}

// stringSet is the set of the one text column query selects.
func stringSet(db *sql.DB, query string) (map[string]bool, error) {
	rows, err := db.Query(query)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return nil, err
		}
		set[v] = true
	}
	return set, errors.Join(rows.Err(), rows.Close())
}

// Open opens (creating it if missing) the store in dir and recovers from a
// crash: uploads cut off leave their image queued, leftover temporary files
// and data files of images that are not active are removed.
func Open(dir string, opts Options) (*Store, error) {
	if opts.SizeCap == 0 {
		opts.SizeCap = defaultSizeCap
	}
	if opts.MemberQuota == 0 {
		opts.MemberQuota = defaultQuota
	}
	if opts.PropertyQuota == 0 {
		opts.PropertyQuota = defaultQuota
	}
	if opts.TagQuota == 0 {
		opts.TagQuota = defaultQuota
	}
	if opts.StoreName == "" {
		opts.StoreName = defaultStore
	}
	if opts.Fetcher == nil {
		opts.Fetcher = outbound.Default()
	}
	if opts.Transfers == nil {
		l, err := transfers.New(transfers.Options{})
		if err != nil {
			return nil, err
		}
		opts.Transfers = l
	}
	for _, d := range []string{dir, filepath.Join(dir, "images"), filepath.Join(dir, "staging"), filepath.Join(dir, locksDir)} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, err
		}
	}
	s := &Store{
		dir: dir, opts: opts,
		images:  make(map[string]*backends.Image),
		members: make(map[string]map[string]*backends.Member),
		tasks:   make(map[string]*backends.Task),
	}
	s.wmu.s = s
	s.http = httpstore.New(opts.Fetcher)
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())
	if err := s.open(); err != nil {
		s.Close()
		return nil, err
	}
	if s.share != nil {
		s.run(s.follow)
		// What recovery changed, the others learn at once.
		s.announce()
	}
	return s, nil
}

// open takes the directory's locks and opens, migrates, recovers and
// loads the database. Processes open a directory one at a time
// (locks/open): no two run a migration or a recovery at once, and none
// sees another between registering as live and recovering.
func (s *Store) open() error {
	if !s.opts.MetadefsOnly {
		f, err := lockDir(s.dir, s.opts.Shared)
		if err != nil {
			return err
		}
		s.locks = append(s.locks, f)
	}
	opening, err := openLockFile(s.dir, "open")
	if err != nil {
		return err
	}
	defer opening.Close()
	if err := flock(opening, lockExclusive); err != nil {
		return fmt.Errorf("locking %s: %w", opening.Name(), err)
	}
	defer funlock(opening)

	dsn := "file:" + filepath.Join(s.dir, "glance.db") +
		fmt.Sprintf("?_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(OFF)", busyTimeoutMsec)
	// The writer begins IMMEDIATE: with another process writing, a
	// transaction that read first and wrote second could not commit
	// (SQLITE_BUSY_SNAPSHOT, which no busy timeout retries); this one
	// waits for the write lock up front.
	if s.wdb, err = sql.Open("sqlite", dsn+"&_txlock=immediate"); err != nil {
		return err
	}
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetConnMaxIdleTime(0)
	if s.rdb, err = sql.Open("sqlite", dsn+"&_pragma=query_only(1)"); err != nil {
		return err
	}
	s.rdb.SetMaxOpenConns(8)
	if _, err := s.wdb.Exec(schema + metadefSchema + sharingSchema); err != nil {
		return fmt.Errorf("creating the schema: %w", err)
	}
	if err := migrate(s.wdb); err != nil {
		return fmt.Errorf("migrating the schema: %w", err)
	}
	if s.opts.MetadefsOnly {
		return nil
	}
	// The change log is kept only while the directory is shared; a
	// process alone neither needs it nor pays for it.
	if _, err := s.wdb.Exec(sharingTriggers(s.opts.Shared)); err != nil {
		return fmt.Errorf("creating the change log: %w", err)
	}
	live := map[string]bool{}
	if s.opts.Shared {
		s.share = &sharing{worker: newWorkerID()}
		f, err := openLockFile(s.dir, workerPrefix+s.share.worker)
		if err != nil {
			return err
		}
		s.locks = append(s.locks, f)
		if err := flock(f, lockExclusive|lockNoWait); err != nil {
			return fmt.Errorf("locking %s: %w", f.Name(), err)
		}
		if live, err = liveWorkers(s.dir, s.share.worker); err != nil {
			return err
		}
		if s.wmu.file, err = openLockFile(s.dir, "write"); err != nil {
			return err
		}
		// Recovery writes beside the live processes: as one of their
		// writes, under the write lock.
		if err := flock(s.wmu.file, lockExclusive); err != nil {
			return fmt.Errorf("locking %s: %w", s.wmu.file.Name(), err)
		}
		defer funlock(s.wmu.file)
	}
	if err := s.recover(live); err != nil {
		return fmt.Errorf("recovering %s: %w", s.dir, err)
	}
	if s.share != nil {
		// Read before the snapshots: a change made while they load is
		// applied again, never missed.
		if s.share.seen, err = highWater(s.wdb); err != nil {
			return err
		}
	}
	if err := s.load(); err != nil {
		return fmt.Errorf("loading %s: %w", s.dir, err)
	}
	return nil
}

// Close stops background imports and tasks and closes the database; the
// directory's locks go last, once nothing of this process writes.
func (s *Store) Close() error {
	s.bgCancel()
	s.bg.Wait()
	// A write a request still runs finishes first, its locks with it.
	s.wmu.mu.Lock()
	defer s.wmu.mu.Unlock()
	var errs []error
	for _, db := range []*sql.DB{s.rdb, s.wdb} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	if s.wmu.file != nil {
		s.wmu.file.Close()
	}
	for _, f := range s.locks {
		f.Close()
	}
	return errors.Join(errs...)
}

// Stores returns the one store this region has.
func (s *Store) Stores() []string { return []string{s.opts.StoreName} }

func (s *Store) dataPath(id string) string    { return filepath.Join(s.dir, "images", id) }
func (s *Store) stagingPath(id string) string { return filepath.Join(s.dir, "staging", id) }

// recover puts the database and the files back into a consistent state
// after a crash; it runs before anything is loaded. Work a live process
// claims (live: the other processes sharing the directory) is that
// process's: its upload, stage or import is running, not cut off.
func (s *Store) recover(live map[string]bool) error {
	now := micros(time.Now())
	owned := map[string]bool{} // kind/id claimed by a live process
	var stale [][2]string
	rows, err := s.wdb.Query(`SELECT kind, id, worker FROM claims`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var kind, id, worker string
		if err := rows.Scan(&kind, &id, &worker); err != nil {
			rows.Close()
			return err
		}
		if live[worker] {
			owned[kind+"/"+id] = true
		} else {
			stale = append(stale, [2]string{kind, id})
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	for _, c := range stale {
		if _, err := s.wdb.Exec(`DELETE FROM claims WHERE kind=? AND id=?`, c[0], c[1]); err != nil {
			return err
		}
	}
	// A cut-off PUT /file: Glance leaves such an image queued. Staged
	// data is only recorded (status uploading) after its file was renamed
	// into place; an import cut off goes back to uploading when the
	// staged data is still there, else to queued.
	rows, err = s.wdb.Query(`SELECT id, status FROM images WHERE status IN (` + claimableImage + `)`)
	if err != nil {
		return err
	}
	type fix struct{ id, from, to string }
	var fixes []fix
	for rows.Next() {
		var id, st string
		if err := rows.Scan(&id, &st); err != nil {
			rows.Close()
			return err
		}
		if owned["image/"+id] {
			continue
		}
		_, serr := os.Stat(s.stagingPath(id))
		staged := serr == nil
		switch {
		case st == backends.StatusSaving:
			fixes = append(fixes, fix{id, st, backends.StatusQueued})
		case staged && st == backends.StatusImporting:
			fixes = append(fixes, fix{id, st, backends.StatusUploading})
		case !staged:
			fixes = append(fixes, fix{id, st, backends.StatusQueued})
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	for _, f := range fixes {
		if _, err := s.wdb.Exec(`UPDATE images SET status=?, updated_at=? WHERE id=? AND status=?`, f.to, now, f.id, f.from); err != nil {
			return err
		}
	}
	var tasks []string
	rows, err = s.wdb.Query(`SELECT id FROM tasks WHERE status IN (` + claimableTask + `)`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		if !owned["task/"+id] {
			tasks = append(tasks, id)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	for _, id := range tasks {
		if _, err := s.wdb.Exec(`UPDATE tasks SET status='failure', message='The task was interrupted by a restart of the store.', updated_at=?, expires_at=? WHERE id=? AND status IN (`+claimableTask+`)`,
			now, micros(time.Now().Add(taskTimeToLive)), id); err != nil {
			return err
		}
	}
	// Files: temporaries go, and data only stays with an image that has
	// it (active or deactivated), staged data with an uploading image —
	// unless a live process is working on the image: its temporary is
	// being written, its data renamed into place before it commits.
	keep := func(dirName, query string) error {
		want, err := stringSet(s.wdb, query)
		if err != nil {
			return err
		}
		d := filepath.Join(s.dir, dirName)
		ents, err := os.ReadDir(d)
		if err != nil {
			return err
		}
		for _, e := range ents {
			name := e.Name()
			if tmp, ok := strings.CutPrefix(name, tmpPrefix); ok {
				// .tmp-<image id>-<random>
				if i := strings.LastIndexByte(tmp, '-'); i > 0 && owned["image/"+tmp[:i]] {
					continue
				}
			} else if want[name] || owned["image/"+name] {
				continue
			}
			if err := os.RemoveAll(filepath.Join(d, name)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := keep("images", `SELECT id FROM images WHERE status IN ('active','deactivated')`); err != nil {
		return err
	}
	return keep("staging", `SELECT id FROM images WHERE status='uploading'`)
}

// micros is how times are stored: microseconds since the epoch, like the
// microsecond DATETIME Glance stores, so equal-second images still order.
func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// now is the time a write stamps, at the precision it is stored with.
func now() time.Time { return clock().UTC().Truncate(time.Microsecond) }

// clock is time.Now; tests replace it to make equal timestamps.
var clock = time.Now

func (s *Store) load() error {
	rows, err := s.rdb.Query(`SELECT ` + imageColumns + ` FROM images`)
	if err != nil {
		return err
	}
	for rows.Next() {
		img, err := scanImage(rows)
		if err != nil {
			rows.Close()
			return err
		}
		s.images[img.ID] = img
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = s.rdb.Query(`SELECT image_id, name, value FROM image_properties`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id, k, v string
		if err := rows.Scan(&id, &k, &v); err != nil {
			rows.Close()
			return err
		}
		if img := s.images[id]; img != nil {
			if img.Properties == nil {
				img.Properties = map[string]string{}
			}
			img.Properties[k] = v
		}
	}
	rows.Close()
	rows, err = s.rdb.Query(`SELECT image_id, value FROM image_tags ORDER BY seq`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id, v string
		if err := rows.Scan(&id, &v); err != nil {
			rows.Close()
			return err
		}
		if img := s.images[id]; img != nil {
			img.Tags = append(img.Tags, v)
		}
	}
	rows.Close()
	if err := s.loadLocations(); err != nil {
		return err
	}
	rows, err = s.rdb.Query(`SELECT image_id, member, status, can_share, created_at, updated_at FROM image_members`)
	if err != nil {
		return err
	}
	for rows.Next() {
		m := &backends.Member{}
		var c, u int64
		if err := rows.Scan(&m.ImageID, &m.MemberID, &m.Status, &m.CanShare, &c, &u); err != nil {
			rows.Close()
			return err
		}
		m.CreatedAt, m.UpdatedAt = fromMicros(c), fromMicros(u)
		if s.members[m.ImageID] == nil {
			s.members[m.ImageID] = map[string]*backends.Member{}
		}
		s.members[m.ImageID][m.MemberID] = m
	}
	rows.Close()
	return s.loadTasks()
}

const imageColumns = `id, name, status, visibility, protected, os_hidden, owner, checksum,
	os_hash_algo, os_hash_value, size, virtual_size, min_disk, min_ram, container_format,
	disk_format, created_at, updated_at, stores`

func scanImage(rows *sql.Rows) (*backends.Image, error) {
	img := &backends.Image{}
	var name, owner, checksum, algo, hash, cf, df sql.NullString
	var size, vsize sql.NullInt64
	var c, u int64
	var stores string
	if err := rows.Scan(&img.ID, &name, &img.Status, &img.Visibility, &img.Protected, &img.OSHidden,
		&owner, &checksum, &algo, &hash, &size, &vsize, &img.MinDisk, &img.MinRAM, &cf, &df,
		&c, &u, &stores); err != nil {
		return nil, err
	}
	str := func(n sql.NullString) *string {
		if !n.Valid {
			return nil
		}
		v := n.String
		return &v
	}
	num := func(n sql.NullInt64) *int64 {
		if !n.Valid {
			return nil
		}
		v := n.Int64
		return &v
	}
	img.Name, img.Owner, img.Checksum = str(name), str(owner), str(checksum)
	img.OSHashAlgo, img.OSHashValue = str(algo), str(hash)
	img.ContainerFormat, img.DiskFormat = str(cf), str(df)
	img.Size, img.VirtualSize = num(size), num(vsize)
	img.CreatedAt, img.UpdatedAt = fromMicros(c), fromMicros(u)
	if stores != "" {
		img.Stores = strings.Split(stores, ",")
	}
	return img, nil
}
