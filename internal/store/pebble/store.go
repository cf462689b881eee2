// Package pebblestore is the store.Store Strand runs on: a Pebble database
// under <data dir>/pebble, guarded by a lock file so that one process at a
// time owns the data directory. Every write goes through a synced batch:
// once Apply returns, the change survives a crash. Pebble's reports of
// on-disk corruption become errors matching store.ErrCorruption instead of
// ending the process.
package pebblestore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/strand-db/strand/internal/store"
)

// ErrLocked is returned by Open when another process holds the data directory.
var ErrLocked = errors.New("store: data directory is in use by another strand process")

// ErrFailed is matched by the error of every Apply after a write to disk
// failed (Store.Failure).
var ErrFailed = errors.New("store: a write to disk failed; the store accepts no more writes until it is reopened")

// Options tune Open. The zero value is the production setting.
type Options struct {
	// FS replaces the file system Pebble writes through (tests wrap it to
	// inject faults). Nil means the operating system's.
	FS vfs.FS

	// CacheSize is the bytes of Pebble's block cache (uncompressed blocks
	// of its table files); 0 means DefaultCacheSize. The operating system's
	// page cache holds the files themselves besides it.
	CacheSize int64

	// ReadOnly opens an existing store for reading only, for offline tools
	// such as `strand verify`: Pebble writes nothing (the write-ahead log
	// is replayed in memory, nothing is flushed or compacted), and Apply
	// fails. The lock file is still taken, so a server cannot start on the
	// directory meanwhile.
	ReadOnly bool
}

// DefaultCacheSize is the block cache of a store opened without
// Options.CacheSize: 64 MiB. The cache fills as a journal is read (a stream
// backfilling, a verify, GetRevision) and never shrinks, so it is the
// largest fixed share of a server's resident memory; see docs/operations.md
// ("Memory").
const DefaultCacheSize = 64 << 20

// Store is an open data directory; it implements store.Store.
type Store struct {
	db   *pebble.DB
	lock *os.File

	// commitMu orders commits against conditional ones (Batch.Expect): a
	// batch with expectations holds it exclusively from its check through
	// its synced commit; every other batch holds it shared, so plain
	// commits still run concurrently and share fsyncs.
	commitMu sync.RWMutex

	dir    string
	closed atomic.Bool

	// corruptions counts the on-disk corruptions Pebble reported (each
	// failed read of a damaged block counts once); damaged holds the
	// files already logged, so a hot damaged block logs once.
	corruptions atomic.Uint64
	damagedMu   sync.Mutex
	damaged     map[string]bool

	// failure is set, once, when Pebble could not make a commit durable (a
	// failed write or sync of its write-ahead log): see Failure.
	failure atomic.Pointer[error]
}

var (
	_ store.Store        = (*Store)(nil)
	_ store.Checkpointer = (*Store)(nil)
)

// Open opens (creating when needed, unless opts.ReadOnly) the store in dir.
// It fails with an error wrapping ErrLocked when another process has the
// directory open, and with one matching store.ErrCorruption when the
// write-ahead log is damaged in the middle.
func Open(dir string, opts Options) (*Store, error) {
	if !opts.ReadOnly {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	cacheSize := opts.CacheSize
	if cacheSize <= 0 {
		cacheSize = DefaultCacheSize
	}
	cache := pebble.NewCache(cacheSize)
	defer cache.Unref()
	s := &Store{lock: lock, dir: dir, damaged: map[string]bool{}}
	// Pebble's default reaction to on-disk corruption (a block whose
	// checksum does not match, an unreadable table) is Logger.Fatalf, which
	// would end the process for one bad block. Reporting it instead leaves
	// the failed read to return its corruption error (see store.IsCorruption),
	// and a compaction that meets the block fails and is not retried on
	// that key range for a while: everything else keeps serving.
	po := &pebble.Options{Logger: quietLogger{s}, Cache: cache, ReadOnly: opts.ReadOnly,
		EventListener: &pebble.EventListener{DataCorruption: s.dataCorruption, BackgroundError: backgroundError}}
	po.FS = vfs.Default
	if opts.FS != nil {
		po.FS = opts.FS
	}
	po.FS = walGuard{FS: po.FS, s: s}
	db, err := openPebble(filepath.Join(dir, "pebble"), po)
	if err != nil {
		lock.Close()
		if pebble.IsCorruptionError(err) {
			err = &store.CorruptionError{Op: "open", Err: err}
			if strings.Contains(err.Error(), "replaying WAL") {
				// Say what the operator can do (docs/operations.md, "A damaged write-ahead log").
				return nil, fmt.Errorf("store: open %s: the write-ahead log is damaged in the middle, after records that were synced; "+
					"Strand will not drop the acknowledged commits behind the damage by itself: restore the data directory "+
					"from a backup, or move the damaged log aside and let the tip records name what each ledger lost "+
					"(docs/operations.md, \"A damaged write-ahead log\"): %w", dir, err)
			}
		}
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	s.db = db
	return s, nil
}

// dataCorruption is Pebble's DataCorruption event: called on the reading
// goroutine (a request's or a compaction's) for every read that met a
// damaged block. It must not block.
func (s *Store) dataCorruption(info pebble.DataCorruptionInfo) {
	s.corruptions.Add(1)
	s.damagedMu.Lock()
	first := !s.damaged[info.Path]
	s.damaged[info.Path] = true
	s.damagedMu.Unlock()
	if first {
		fmt.Fprintf(os.Stderr, "pebble: on-disk corruption in %s (keys %s): %s\n", info.Path, info.Bounds, store.FirstLine(info.Details))
	}
}

// backgroundError is Pebble's BackgroundError event (a failed flush or
// compaction), logged on one line without Pebble's stack traces.
func backgroundError(err error) {
	fmt.Fprintf(os.Stderr, "pebble: background error: %s\n", store.FirstLine(err))
}

// Corruptions returns the number of reads that met on-disk corruption since
// Open (Pebble's DataCorruption events).
func (s *Store) Corruptions() uint64 { return s.corruptions.Load() }

// lockDir takes an exclusive, non-blocking flock on dir/strand.lock and
// records our pid in it. The lock dies with the process, so a crash never
// leaves the directory locked.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "strand.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		pid, _ := os.ReadFile(path)
		f.Close()
		holder := strings.TrimSpace(string(pid))
		if holder == "" {
			holder = "unknown"
		}
		return nil, fmt.Errorf("%w (%s, held by pid %s)", ErrLocked, dir, holder)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// Dir returns the data directory.
func (s *Store) Dir() string { return s.dir }

// Close flushes and closes the database and releases the lock.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return fmt.Errorf("store: close: %w", store.ErrClosed)
	}
	err := s.db.Close()
	if s.lock != nil {
		s.lock.Close()
	}
	if err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Flush writes the memtable to sstables and waits for it. Nothing needs it
// for durability (the write-ahead log has every applied batch); tests use it
// to put data in table files. A failed store (see Failure) refuses it: the
// flush would rotate the failed log, and Pebble panics on closing it in a
// way no recover can stop.
func (s *Store) Flush() error {
	if s.closed.Load() {
		return fmt.Errorf("store: flush: %w", store.ErrClosed)
	}
	if err := s.Failure(); err != nil {
		return fmt.Errorf("store: flush: %w", err)
	}
	if err := s.db.Flush(); err != nil {
		return fmt.Errorf("store: flush: %w", err)
	}
	return nil
}

// Checkpoint implements store.Checkpointer with Pebble's checkpoint: the
// table files are hard-linked into dst/pebble (copied when dst is on
// another file system), the write-ahead log, manifest and options copied.
// The log is synced first (WithFlushedWAL; every Apply already syncs, so
// this only makes the guarantee explicit), so every Apply that returned
// before the call is in the copy; a log record being written during the
// copy is cut off at the copy's end, as in a crash, and dropped when the
// copy is opened. dst/pebble must not exist. A failed store (see Failure)
// refuses it: after a failed sync the log's pages in memory may not be
// what the disk holds, so a copy could not be trusted; restart first.
func (s *Store) Checkpoint(dst string) error {
	if s.closed.Load() {
		return fmt.Errorf("store: checkpoint: %w", store.ErrClosed)
	}
	if err := s.Failure(); err != nil {
		return fmt.Errorf("store: checkpoint: %w", err)
	}
	if err := s.db.Checkpoint(filepath.Join(dst, "pebble"), pebble.WithFlushedWAL()); err != nil {
		return fmt.Errorf("store: checkpoint: %w", err)
	}
	return nil
}

// NewBatch implements store.Store.
func (s *Store) NewBatch() store.Batch { return &batch{s: s, b: s.db.NewBatch()} }

// NewIndexedBatch implements store.Store.
func (s *Store) NewIndexedBatch() store.IndexedBatch {
	return &batch{s: s, b: s.db.NewIndexedBatch()}
}

// Apply implements store.Store: the batch is committed with a sync of the
// write-ahead log; concurrent Apply calls share fsyncs (Pebble's group
// commit).
//
// A batch with expectations (Batch.Expect) is checked and committed under
// an exclusive lock that every Apply of this Store takes (shared, for
// batches without expectations), so the check is atomic with respect to
// every other Apply: no commit of this process slips in between. Such a
// batch commits alone, with its own sync, and holds up the other commits
// of the store for that sync; batches without expectations keep the
// concurrent, fsync-sharing path. (Pebble has no compare-and-set of its
// own; the lock is what makes the check hold, which is enough as one
// process owns the directory.)
func (s *Store) Apply(b store.Batch) error {
	pb, ok := b.(*batch)
	if !ok || pb.s != s {
		return fmt.Errorf("store: commit: a batch of another store (%T)", b)
	}
	if s.closed.Load() {
		return fmt.Errorf("store: commit: %w", store.ErrClosed)
	}
	if err := s.Failure(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	if len(pb.expects) == 0 {
		s.commitMu.RLock()
		defer s.commitMu.RUnlock()
	} else {
		s.commitMu.Lock()
		defer s.commitMu.Unlock()
		for _, e := range pb.expects {
			v, ok, err := get(s.db, e.key)
			if err != nil {
				return fmt.Errorf("store: commit: checking an expectation: %w", err)
			}
			if ok != (e.value != nil) || !bytes.Equal(v, e.value) {
				return fmt.Errorf("store: commit: key %q: %w", e.key, store.ErrConflict)
			}
		}
	}
	if err := pb.b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	// Pebble reports a commit it could not make durable through
	// Logger.Fatalf (see quietLogger), on this goroutine, and then returns
	// nil: the failure recorded there is this batch's answer. A batch that
	// was synced while another failed is refused too: refusing a durable
	// commit is safe, acknowledging one that is not is not.
	if err := s.Failure(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// Failure returns nil while the store accepts writes. After Pebble failed to
// write or sync its write-ahead log for a commit (EIO, ENOSPC), it returns
// an error matching ErrFailed that names the fault, and every later Apply
// fails with it: the commit whose sync failed, and every later one, is
// refused, never acknowledged. Like PostgreSQL after a failed fsync (and
// unlike a retry, which could report success for data the kernel has
// already dropped), the store does not try again: reads keep working, and
// writes resume only when the store is reopened, which replays the log
// from disk. The failed commit may or may not be in the store then.
func (s *Store) Failure() error {
	if p := s.failure.Load(); p != nil {
		return *p
	}
	return nil
}

// fail records the first write failure (see Failure).
func (s *Store) fail(msg string, cause error) {
	err := fmt.Errorf("%w (%s)", ErrFailed, msg)
	if cause != nil {
		err = fmt.Errorf("%w: %s%w", ErrFailed, strings.TrimSuffix(msg, cause.Error()), cause)
	}
	if s.failure.CompareAndSwap(nil, &err) {
		fmt.Fprintf(os.Stderr, "pebble: %s: the store refuses every write until it is reopened\n", msg)
	}
}

// Get implements store.Store.
func (s *Store) Get(key []byte) ([]byte, bool, error) {
	if s.closed.Load() {
		return nil, false, fmt.Errorf("store: get: %w", store.ErrClosed)
	}
	return get(s.db, key)
}

// NewIter implements store.Store.
func (s *Store) NewIter(lower, upper []byte) (store.Iterator, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("store: scan: %w", store.ErrClosed)
	}
	return newIter(s.db, lower, upper)
}

// Scan implements store.Store.
func (s *Store) Scan(lower, upper []byte, fn func(key, value []byte) bool) error {
	return store.Scan(s, lower, upper, fn)
}

// ScanReverse implements store.Store.
func (s *Store) ScanReverse(lower, upper []byte, fn func(key, value []byte) bool) error {
	return store.ScanReverse(s, lower, upper, fn)
}

func get(r pebble.Reader, key []byte) ([]byte, bool, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, readError("get", key, err)
	}
	out := bytes.Clone(v)
	if err := closer.Close(); err != nil {
		return nil, false, readError("get", key, err)
	}
	return out, true, nil
}

func newIter(r pebble.Reader, lower, upper []byte) (store.Iterator, error) {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, readError("scan", lower, err)
	}
	return &iter{it: it, lower: lower}, nil
}

// readError wraps a read error of op, marking Pebble's corruption errors
// with store.ErrCorruption (a *store.CorruptionError).
func readError(op string, key []byte, err error) error {
	if pebble.IsCorruptionError(err) {
		err = &store.CorruptionError{Op: op, Key: bytes.Clone(key), Err: err}
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

// batch is a store.Batch and store.IndexedBatch over a *pebble.Batch.
type batch struct {
	s       *Store
	b       *pebble.Batch
	expects []expectation
}

// expectation is one Batch.Expect: value nil means absent.
type expectation struct{ key, value []byte }

func (b *batch) Expect(key, value []byte) error {
	b.expects = append(b.expects, expectation{key: bytes.Clone(key), value: bytes.Clone(value)})
	return nil
}

func (b *batch) Set(key, value []byte) error { return b.b.Set(key, value, nil) }
func (b *batch) Delete(key []byte) error     { return b.b.Delete(key, nil) }
func (b *batch) DeleteRange(start, end []byte) error {
	return b.b.DeleteRange(start, end, nil)
}
func (b *batch) Close() error { return b.b.Close() }

func (b *batch) Get(key []byte) ([]byte, bool, error) {
	if b.s.closed.Load() {
		return nil, false, fmt.Errorf("store: get: %w", store.ErrClosed)
	}
	return get(b.b, key)
}

func (b *batch) NewIter(lower, upper []byte) (store.Iterator, error) {
	if b.s.closed.Load() {
		return nil, fmt.Errorf("store: scan: %w", store.ErrClosed)
	}
	return newIter(b.b, lower, upper)
}

// iter is a store.Iterator over a *pebble.Iterator; its errors are marked
// like every other read's.
type iter struct {
	it    *pebble.Iterator
	lower []byte
}

func (i *iter) First() bool  { return i.it.First() }
func (i *iter) Last() bool   { return i.it.Last() }
func (i *iter) Next() bool   { return i.it.Next() }
func (i *iter) Prev() bool   { return i.it.Prev() }
func (i *iter) Valid() bool  { return i.it.Valid() }
func (i *iter) Key() []byte  { return i.it.Key() }
func (i *iter) Error() error { return i.wrap(i.it.Error()) }
func (i *iter) Close() error { return i.wrap(i.it.Close()) }

func (i *iter) Value() ([]byte, error) {
	v, err := i.it.ValueAndErr()
	return v, i.wrap(err)
}

func (i *iter) wrap(err error) error {
	if err == nil {
		return nil
	}
	return readError("scan", i.lower, err)
}

// quietLogger keeps Pebble's informational chatter out of the server log
// while still reporting errors.
//
// Fatalf is how Pebble reports both a commit it could not make durable (a
// failed write or sync of the write-ahead log: "fatal commit error") and
// broken invariants or a failed MANIFEST write. (A failure to create the
// next log file is turned into a failed write first: see walGuard.) The
// first puts the store in
// its failed state (Store.Failure) and returns, so that the server answers
// the commit, and every later one, with an error instead of vanishing under
// its clients; Pebble's Apply then returns to Store.Apply, which refuses
// the batch. The others end the process: after them the database state in
// memory cannot be trusted (PostgreSQL likewise PANICs on a failed fsync of
// its control file). On-disk corruption no longer reaches Fatalf (see Open).
type quietLogger struct{ s *Store }

func (quietLogger) Infof(string, ...any) {}
func (quietLogger) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pebble: "+format+"\n", args...)
}
func (l quietLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if strings.HasPrefix(msg, "pebble: fatal commit error") && l.s != nil {
		var cause error
		for _, a := range args {
			if e, ok := a.(error); ok {
				cause = e
			}
		}
		l.s.fail(strings.TrimPrefix(msg, "pebble: "), cause)
		return
	}
	if strings.HasPrefix(msg, "MANIFEST") {
		// logAndApply: a failed write, flush or sync of the MANIFEST, or of
		// its CURRENT marker, during a flush or compaction. Pebble offers
		// no way on from here (it does not unwind the file references of
		// the failed edit), so the process ends at once, before it
		// acknowledges anything more; a restart rebuilds the MANIFEST and
		// replays the write-ahead log, which holds every acknowledged
		// commit (TestManifestFaultExitsCleanly).
		fmt.Fprintf(os.Stderr, "pebble: fatal: the store could not write its MANIFEST (%s): the embedded store cannot continue after that; "+
			"the process exits now without acknowledging anything more. Restart it once the disk works: the write-ahead log is replayed "+
			"and every acknowledged commit is kept\n", msg)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "pebble: fatal: %s\n", msg)
	os.Exit(1)
}
