package local

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"crypto/rand"

	"github.com/spyglass-gateway/spyglass/backends"
)

// One data directory, several processes (Options.Shared), as several
// Glance API workers share one database and one file store.
//
// What each process holds in memory — the snapshots of images, members
// and tasks — is kept up with the database through a change log: triggers
// append (kind, id) to the changes table in the transaction of every write
// to those tables, and a process reads the entries past the last it saw
// and reloads what they name, in one read transaction. It catches up:
//
//   - before every write, under a lock on the directory that every
//     process's writes take (locks/write), so a write checks what it
//     changes against the database as it is, never against an older
//     snapshot, and two processes' writes never interleave;
//   - when another process announces a write (Options.Announce, delivered
//     to Refresh): the gateway's acknowledged invalidation over Redis, so a
//     write answered through one process is read through any other;
//   - every second anyway (a lost announcement costs at most that).
//
// Work in flight — an upload (saving), a stage (uploading, until its data
// is in place), an import (importing), a task (pending, processing) — is
// claimed in the claims table by the process doing it, in the transaction
// that starts it; each process holds an exclusive flock on its own file
// (locks/worker-<id>) while it lives, and the kernel drops it however the
// process ends. Recovery — at open, and every minute in each running
// process (recoverDead) — then touches only work no live process claims:
// another process's running upload is neither reset nor has its files
// removed, and a crashed one's is put back within a minute.
//
// A process that does not share (the default) keeps the directory to
// itself: it takes locks/dir exclusively and fails if any other holds it,
// so a second process without Redis is refused rather than let in to
// corrupt what the first holds in memory.

const (
	locksDir    = "locks"
	pollEvery   = time.Second
	pruneEvery  = time.Minute
	changesKept = 10 * time.Minute
	// workerPrefix names each live process's lock file in locksDir.
	workerPrefix = "worker-"
)

// claimable are the statuses of work a process does and must not have
// undone by another's recovery while it lives.
const (
	claimableImage = `'saving','uploading','importing'`
	claimableTask  = `'pending','processing'`
)

// sharingSchema is always created (a database may be opened shared, then
// alone, then shared again); the triggers that fill it exist only while
// the directory is shared (sharingTriggers).
const sharingSchema = `
CREATE TABLE IF NOT EXISTS changes (
	seq INTEGER PRIMARY KEY AUTOINCREMENT, -- sqlite_sequence keeps its high-water mark
	kind TEXT NOT NULL, id TEXT NOT NULL,
	at INTEGER NOT NULL DEFAULT (CAST(strftime('%s','now') AS INTEGER))
);
CREATE TABLE IF NOT EXISTS changes_pruned (one INTEGER PRIMARY KEY CHECK (one = 1), upto INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS claims (
	kind TEXT NOT NULL, id TEXT NOT NULL, worker TEXT NOT NULL,
	PRIMARY KEY (kind, id)
);
`

// changed are the tables whose rows the snapshots are made of, the kind
// of snapshot each belongs to and the column naming it.
var changed = []struct{ table, kind, col string }{
	{"images", "image", "id"},
	{"image_properties", "image", "image_id"},
	{"image_tags", "image", "image_id"},
	{"image_locations", "image", "image_id"},
	{"image_members", "image", "image_id"},
	{"tasks", "task", "id"},
}

// sharingTriggers creates (or, create false, drops) the change log's and
// the claims' triggers.
func sharingTriggers(create bool) string {
	var b strings.Builder
	trigger := func(name, body string) {
		if create {
			fmt.Fprintf(&b, "CREATE TRIGGER IF NOT EXISTS %s %s;\n", name, body)
		} else {
			fmt.Fprintf(&b, "DROP TRIGGER IF EXISTS %s;\n", name)
		}
	}
	for _, c := range changed {
		for _, op := range []string{"INSERT", "UPDATE", "DELETE"} {
			row := "NEW"
			if op == "DELETE" {
				row = "OLD"
			}
			trigger("changes_"+c.table+"_"+strings.ToLower(op), fmt.Sprintf(
				"AFTER %s ON %s BEGIN INSERT INTO changes (kind, id) VALUES ('%s', %s.%s); END",
				op, c.table, c.kind, row, c.col))
		}
	}
	// A claim lasts as long as the status that made it: a new status is
	// claimed anew, by whoever set it (an image staged on one process and
	// imported by another is the importer's).
	trigger("claims_images_status", `AFTER UPDATE OF status ON images WHEN NEW.status IS NOT OLD.status
		BEGIN DELETE FROM claims WHERE kind='image' AND id=NEW.id; END`)
	trigger("claims_images_gone", `AFTER DELETE ON images
		BEGIN DELETE FROM claims WHERE kind='image' AND id=OLD.id; END`)
	// Tasks are written with INSERT OR REPLACE (no delete trigger runs).
	trigger("claims_tasks_inserted", `AFTER INSERT ON tasks WHEN NEW.status NOT IN (`+claimableTask+`)
		BEGIN DELETE FROM claims WHERE kind='task' AND id=NEW.id; END`)
	trigger("claims_tasks_updated", `AFTER UPDATE OF status ON tasks WHEN NEW.status NOT IN (`+claimableTask+`)
		BEGIN DELETE FROM claims WHERE kind='task' AND id=NEW.id; END`)
	trigger("claims_tasks_gone", `AFTER DELETE ON tasks
		BEGIN DELETE FROM claims WHERE kind='task' AND id=OLD.id; END`)
	return b.String()
}

// writeLock serializes the store's writes: within the process always;
// across the processes sharing the directory too when file is set, each
// write first catching up with the others'.
type writeLock struct {
	mu   sync.Mutex
	s    *Store
	file *os.File // locks/write; nil: no other process writes here
}

func (l *writeLock) Lock() {
	l.mu.Lock()
	if l.file == nil {
		return
	}
	if err := flock(l.file, lockExclusive); err != nil {
		// Not expected of an open file; the write still runs, checked
		// by SQLite's own locking, against what the catch-up finds.
		slog.Error("embedded store: taking the write lock", "dir", l.s.dir, "err", err)
	}
	if err := l.s.catchUp(); err != nil {
		slog.Error("embedded store: reading other processes' writes", "dir", l.s.dir, "err", err)
	}
}

func (l *writeLock) Unlock() {
	if l.file == nil {
		l.mu.Unlock()
		return
	}
	wrote := l.s.ownWrites()
	funlock(l.file)
	l.mu.Unlock()
	if wrote {
		l.s.announce()
	}
}

// sharing is what a store that shares its directory keeps.
type sharing struct {
	worker string     // this process's id in claims and locks/
	seen   int64      // the last change applied (under wmu.mu)
	files  []*os.File // the flocks held while open
}

func newWorkerID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// openLockFile opens (creating it) a lock file under dir/locks.
func openLockFile(dir, name string) (*os.File, error) {
	return os.OpenFile(filepath.Join(dir, locksDir, name), os.O_CREATE|os.O_RDWR, 0o640)
}

// lockDir takes the directory for this process: shared with other
// sharing processes, or alone.
func lockDir(dir string, shared bool) (*os.File, error) {
	f, err := openLockFile(dir, "dir")
	if err != nil {
		return nil, err
	}
	how := lockExclusive
	if shared {
		how = lockShared
	}
	if err := flock(f, how|lockNoWait); err != nil {
		f.Close()
		if !wouldBlock(err) {
			return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
		}
		if shared {
			return nil, fmt.Errorf("%s is open in a process that keeps it to itself (one without redis.addr); processes share an embedded store only when every one of them has the same Redis", dir)
		}
		return nil, fmt.Errorf("%s is open in another process; two processes share an embedded store only through a shared Redis: give every one of them the same redis.addr", dir)
	}
	return f, nil
}

// liveWorkers returns the ids of the other processes that have the
// directory open, and removes the lock files of those that ended. The
// caller holds locks/open, so no process is between creating its file and
// locking it.
func liveWorkers(dir, self string) (map[string]bool, error) {
	ents, err := os.ReadDir(filepath.Join(dir, locksDir))
	if err != nil {
		return nil, err
	}
	live := map[string]bool{}
	for _, e := range ents {
		id, ok := strings.CutPrefix(e.Name(), workerPrefix)
		if !ok || id == self {
			continue
		}
		f, err := openLockFile(dir, e.Name())
		if err != nil {
			return nil, err
		}
		err = flock(f, lockExclusive|lockNoWait)
		switch {
		case err == nil:
			os.Remove(f.Name()) // its process ended
		case wouldBlock(err):
			live[id] = true
		default:
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
		}
		f.Close()
	}
	return live, nil
}

// highWater is the last change ever logged (pruned or not).
func highWater(q querier) (int64, error) {
	var seq int64
	err := q.QueryRowContext(context.Background(), `SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name='changes'), 0)`).Scan(&seq)
	return seq, err
}

// claim records, in the write transaction tx, that this process does the
// work its writes just started: every image or task they changed that is
// now in a claimable status and not claimed yet.
func (s *Store) claim(tx *sql.Tx) error {
	if s.share == nil {
		return nil
	}
	seen, w := s.share.seen, s.share.worker
	_, err := tx.Exec(`INSERT OR IGNORE INTO claims (kind, id, worker)
		SELECT 'image', id, ? FROM images WHERE status IN (`+claimableImage+`)
			AND id IN (SELECT id FROM changes WHERE seq > ? AND kind='image')
		UNION ALL
		SELECT 'task', id, ? FROM tasks WHERE status IN (`+claimableTask+`)
			AND id IN (SELECT id FROM changes WHERE seq > ? AND kind='task')`, w, seen, w, seen)
	return err
}

// ownWrites reports whether this process wrote since it last caught up,
// and counts its writes as seen. The caller holds the write lock: every
// change past seen is its own, and its snapshots have them already.
func (s *Store) ownWrites() bool {
	hw, err := highWater(s.wdb)
	if err != nil || hw <= s.share.seen {
		return false
	}
	s.share.seen = hw
	return true
}

// announce tells the other processes of this one's writes, and returns
// once they have caught up (or the announcer gave up waiting).
func (s *Store) announce() {
	if s.opts.Announce == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.opts.Announce(ctx)
}

// Refresh brings what the store holds in memory up to the database: the
// images, members and tasks other processes sharing the directory changed
// since it last looked. The gateway calls it when another instance
// announces a write (Options.Announce); the store also calls it every
// second. Without Options.Shared it does nothing.
func (s *Store) Refresh() {
	if s.share == nil {
		return
	}
	s.wmu.mu.Lock()
	defer s.wmu.mu.Unlock()
	if err := s.catchUp(); err != nil {
		slog.Error("embedded store: reading other processes' writes", "dir", s.dir, "err", err)
	}
}

// OnOthersWrite has f called with the id of every image another process
// changed (its record, properties, tags, locations or members), once the
// store holds the change and before Refresh returns — so before the
// writer's announcement is acknowledged: what a consumer derived from the
// image and keeps elsewhere (the catalog's location index) goes as the
// snapshot changes. A later call replaces f.
func (s *Store) OnOthersWrite(f func(id string)) { s.onOthers.Store(&f) }

func (s *Store) othersWrote(id string) {
	if f := s.onOthers.Load(); f != nil && *f != nil {
		(*f)(id)
	}
}

// OthersWrites counts the times the store found other processes' writes:
// what a consumer derived from earlier answers (a listing's read-ahead)
// is stale once it moved. Always 0 without Options.Shared.
func (s *Store) OthersWrites() uint64 { return s.others.Load() }

// catchUp applies the changes logged since seen. The caller holds
// wmu.mu: no write of this process swaps a snapshot meanwhile.
func (s *Store) catchUp() error {
	tx, err := s.rdb.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rows, err := tx.Query(`SELECT seq, kind, id FROM changes WHERE seq > ?
		UNION ALL SELECT -1, 'pruned', '' FROM changes_pruned WHERE upto > ?`, s.share.seen, s.share.seen)
	if err != nil {
		return err
	}
	images, tasks := map[string]bool{}, map[string]bool{}
	last, gap := s.share.seen, false
	for rows.Next() {
		var seq int64
		var kind, id string
		if err := rows.Scan(&seq, &kind, &id); err != nil {
			rows.Close()
			return err
		}
		switch kind {
		case "image":
			images[id] = true
		case "task":
			tasks[id] = true
		case "pruned":
			gap = true // entries this process never read are gone
		}
		last = max(last, seq)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	if gap {
		tx.Rollback()
		return s.reloadAll()
	}
	if last == s.share.seen {
		return nil
	}
	type imageState struct {
		img     *backends.Image // nil: gone
		members map[string]*backends.Member
	}
	imgs := make(map[string]imageState, len(images))
	for id := range images {
		img, members, err := readImage(tx, id)
		if err != nil {
			return fmt.Errorf("image %s: %w", id, err)
		}
		if img != nil {
			s.setDataURL(img) // as load does
		}
		imgs[id] = imageState{img, members}
	}
	ts := make(map[string]*backends.Task, len(tasks))
	for id := range tasks {
		t, err := readTask(tx, id)
		if err != nil {
			return fmt.Errorf("task %s: %w", id, err)
		}
		ts[id] = t
	}
	s.mu.Lock()
	for id, st := range imgs {
		if st.img == nil {
			delete(s.images, id)
		} else {
			s.images[id] = st.img
		}
		if len(st.members) == 0 {
			delete(s.members, id)
		} else {
			s.members[id] = st.members
		}
	}
	for id, t := range ts {
		if t == nil {
			delete(s.tasks, id)
		} else {
			s.tasks[id] = t
		}
	}
	s.mu.Unlock()
	s.share.seen = last
	s.others.Add(1)
	for id := range imgs {
		s.othersWrote(id)
	}
	return nil
}

// reloadAll reads every snapshot again: the change log no longer holds
// what this process missed (it stood still longer than changesKept).
func (s *Store) reloadAll() error {
	hw, err := highWater(s.rdb)
	if err != nil {
		return err
	}
	s.mu.Lock()
	images, members, tasks := s.images, s.members, s.tasks
	s.images = make(map[string]*backends.Image)
	s.members = make(map[string]map[string]*backends.Member)
	s.tasks = make(map[string]*backends.Task)
	if err := s.load(); err != nil {
		s.images, s.members, s.tasks = images, members, tasks
		s.mu.Unlock()
		return err
	}
	fresh := s.images
	s.mu.Unlock()
	s.share.seen = hw
	s.others.Add(1)
	// Any image may have changed: every one this process knew or knows.
	for id := range images {
		s.othersWrote(id)
	}
	for id := range fresh {
		if images[id] == nil {
			s.othersWrote(id)
		}
	}
	return nil
}

// readImage reads one image's snapshot and its members; nil: it is gone.
func readImage(tx *sql.Tx, id string) (*backends.Image, map[string]*backends.Member, error) {
	rows, err := tx.Query(`SELECT `+imageColumns+` FROM images WHERE id=?`, id)
	if err != nil {
		return nil, nil, err
	}
	var img *backends.Image
	if rows.Next() {
		img, err = scanImage(rows)
	}
	if err := errors.Join(err, rows.Err(), rows.Close()); err != nil {
		return nil, nil, err
	}
	if img == nil {
		return nil, nil, nil
	}
	if err := eachRow(tx, `SELECT name, value FROM image_properties WHERE image_id=?`, id, func(rows *sql.Rows) error {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return err
		}
		if img.Properties == nil {
			img.Properties = map[string]string{}
		}
		img.Properties[k] = v
		return nil
	}); err != nil {
		return nil, nil, err
	}
	if err := eachRow(tx, `SELECT value FROM image_tags WHERE image_id=? ORDER BY seq`, id, func(rows *sql.Rows) error {
		var v string
		if err := rows.Scan(&v); err != nil {
			return err
		}
		img.Tags = append(img.Tags, v)
		return nil
	}); err != nil {
		return nil, nil, err
	}
	if err := eachRow(tx, `SELECT value, meta_data, status FROM image_locations WHERE image_id=? ORDER BY seq`, id, func(rows *sql.Rows) error {
		var l backends.Location
		var meta string
		if err := rows.Scan(&l.URL, &meta, &l.Status); err != nil {
			return err
		}
		if meta != "" && meta != "{}" {
			if err := json.Unmarshal([]byte(meta), &l.Metadata); err != nil {
				return fmt.Errorf("location metadata: %w", err)
			}
		}
		img.Locations = append(img.Locations, l)
		return nil
	}); err != nil {
		return nil, nil, err
	}
	var members map[string]*backends.Member
	if err := eachRow(tx, `SELECT member, status, can_share, created_at, updated_at FROM image_members WHERE image_id=?`, id, func(rows *sql.Rows) error {
		m := &backends.Member{ImageID: id}
		var c, u int64
		if err := rows.Scan(&m.MemberID, &m.Status, &m.CanShare, &c, &u); err != nil {
			return err
		}
		m.CreatedAt, m.UpdatedAt = fromMicros(c), fromMicros(u)
		if members == nil {
			members = map[string]*backends.Member{}
		}
		members[m.MemberID] = m
		return nil
	}); err != nil {
		return nil, nil, err
	}
	return img, members, nil
}

// readTask reads one task; nil: it is gone.
func readTask(tx *sql.Tx, id string) (*backends.Task, error) {
	rows, err := tx.Query(`SELECT `+taskColumns+` FROM tasks WHERE id=?`, id)
	if err != nil {
		return nil, err
	}
	var t *backends.Task
	if rows.Next() {
		t, err = scanTask(rows)
	}
	return t, errors.Join(err, rows.Err(), rows.Close())
}

func eachRow(tx *sql.Tx, query, id string, fn func(*sql.Rows) error) error {
	rows, err := tx.Query(query, id)
	if err != nil {
		return err
	}
	for rows.Next() {
		if err := fn(rows); err != nil {
			rows.Close()
			return err
		}
	}
	return errors.Join(rows.Err(), rows.Close())
}

// follow catches up every pollEvery (an announcement may be lost: Redis
// away, a subscription re-established) and prunes the change log.
func (s *Store) follow(ctx context.Context) {
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	pruned := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s.Refresh()
		if time.Since(pruned) >= pruneEvery {
			pruned = time.Now()
			if err := s.prune(ctx); err != nil {
				slog.Warn("embedded store: pruning the change log", "dir", s.dir, "err", err)
			}
			if err := s.recoverDead(); err != nil {
				slog.Warn("embedded store: recovering the work of processes that ended", "dir", s.dir, "err", err)
			}
		}
	}
}

// recoverDead recovers the work of processes that ended while this one
// runs (an upload cut off by a crash goes back to queued within a minute,
// not at the next start of a process), as Open recovers: under locks/open,
// so that no process is between creating its lock file and locking it,
// then under the write lock.
func (s *Store) recoverDead() error {
	s.wmu.mu.Lock()
	defer s.wmu.mu.Unlock()
	opening, err := openLockFile(s.dir, "open")
	if err != nil {
		return err
	}
	defer opening.Close()
	if err := flock(opening, lockExclusive|lockNoWait); err != nil {
		if wouldBlock(err) {
			return nil // a process is opening (it recovers); next time
		}
		return err
	}
	defer funlock(opening)
	live, err := liveWorkers(s.dir, s.share.worker)
	if err != nil {
		return err
	}
	live[s.share.worker] = true
	rows, err := s.rdb.Query(`SELECT DISTINCT worker FROM claims`)
	if err != nil {
		return err
	}
	dead := false
	for rows.Next() {
		var w string
		if err := rows.Scan(&w); err != nil {
			rows.Close()
			return err
		}
		dead = dead || !live[w]
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil || !dead {
		return err
	}
	if err := flock(s.wmu.file, lockExclusive); err != nil {
		return err
	}
	err = s.recover(live)
	if err == nil {
		// Recovery's changes are in the log past seen: read back as any
		// process's would be.
		err = s.catchUp()
	}
	funlock(s.wmu.file)
	if err == nil {
		s.announceLater()
	}
	return err
}

// announceLater announces outside the write lock's mutex, which the
// caller holds.
func (s *Store) announceLater() {
	if s.opts.Announce != nil {
		s.run(func(context.Context) { s.announce() })
	}
}

// prune drops change-log entries older than changesKept, remembering how
// far it went: a process that had not read them reloads everything.
func (s *Store) prune(ctx context.Context) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.tx(ctx, func(tx *sql.Tx) error {
		var upto int64
		if err := tx.QueryRow(`SELECT coalesce(max(seq), 0) FROM changes WHERE at < ?`,
			time.Now().Add(-changesKept).Unix()).Scan(&upto); err != nil || upto == 0 {
			return err
		}
		if _, err := tx.Exec(`DELETE FROM changes WHERE seq <= ?`, upto); err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT OR REPLACE INTO changes_pruned (one, upto) VALUES (1, ?)`, upto)
		return err
	})
}
