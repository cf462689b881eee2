// Package store is Strand's embedded storage: a Pebble database under the
// data directory, guarded by a lock file so that one process at a time owns
// it. Every write goes through a synced batch: once Apply returns, the
// change survives a crash.
//
// Key space (each engine package owns its prefix):
//
//	c/ledger/<name>          ledger catalogue (package ledger)
//	l/<ledgerID>/...         one ledger's journal, documents and indexes
//	s/...                    journal streams and their checkpoints
package store

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
)

// ErrCorruption is matched (errors.Is) by every error of a read that met
// data damaged on disk: a block whose checksum does not match what was
// written. Such data cannot be trusted; the store reports it and goes on
// serving the rest.
var ErrCorruption = errors.New("store: on-disk corruption")

// corruptError is a read that met on-disk corruption: it is ErrCorruption
// and wraps Pebble's error.
type corruptError struct {
	op  string
	key []byte // the key read, or the lower bound of the scan; nil if none
	err error
}

func (e *corruptError) Error() string {
	if e.key == nil {
		return fmt.Sprintf("on-disk corruption (%s): %s", e.op, firstLine(e.err))
	}
	return fmt.Sprintf("on-disk corruption (%s %q): %s", e.op, e.key, firstLine(e.err))
}

func (e *corruptError) Is(target error) bool { return target == ErrCorruption }
func (e *corruptError) Unwrap() error        { return e.err }

// IsCorruption reports whether err (from any read of the store, including
// through its batches and iterators) is on-disk corruption.
func IsCorruption(err error) bool {
	return err != nil && (errors.Is(err, ErrCorruption) || pebble.IsCorruptionError(err))
}

// CorruptKey returns the key of a corruption error made by Get, Scan or
// ScanReverse (the key read or the scan's lower bound), or nil.
func CorruptKey(err error) []byte {
	var ce *corruptError
	if errors.As(err, &ce) {
		return ce.key
	}
	return nil
}

// readError wraps a read error, marking corruption with ErrCorruption.
func readError(op string, key []byte, err error) error {
	if pebble.IsCorruptionError(err) {
		err = &corruptError{op: op, key: bytes.Clone(key), err: err}
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

// ErrLocked is returned by Open when another process holds the data directory.
var ErrLocked = errors.New("store: data directory is in use by another strand process")

// Options tune Open. The zero value is the production setting.
type Options struct {
	// FS replaces the file system Pebble writes through (tests wrap it to
	// inject faults). Nil means the operating system's.
	FS vfs.FS
}

// Store is an open data directory.
type Store struct {
	db   *pebble.DB
	lock *os.File
	dir  string

	// corruptions counts the on-disk corruptions Pebble reported (each
	// failed read of a damaged block counts once); damaged holds the
	// files already logged, so a hot damaged block logs once.
	corruptions atomic.Uint64
	damagedMu   sync.Mutex
	damaged     map[string]bool
}

// Open opens (creating when needed) the store in dir. It fails with an error
// wrapping ErrLocked when another process has the directory open.
func Open(dir string, opts Options) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	cache := pebble.NewCache(256 << 20)
	defer cache.Unref()
	s := &Store{lock: lock, dir: dir, damaged: map[string]bool{}}
	// Pebble's default reaction to on-disk corruption (a block whose
	// checksum does not match, an unreadable table) is Logger.Fatalf, which
	// would end the process for one bad block. Reporting it instead leaves
	// the failed read to return its corruption error (see IsCorruption),
	// and a compaction that meets the block fails and is not retried on
	// that key range for a while: everything else keeps serving.
	po := &pebble.Options{Logger: quietLogger{}, Cache: cache,
		EventListener: &pebble.EventListener{DataCorruption: s.dataCorruption, BackgroundError: backgroundError}}
	if opts.FS != nil {
		po.FS = opts.FS
	}
	db, err := openPebble(filepath.Join(dir, "pebble"), po)
	if err != nil {
		lock.Close()
		if pebble.IsCorruptionError(err) {
			err = &corruptError{op: "open", err: err}
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
		fmt.Fprintf(os.Stderr, "pebble: on-disk corruption in %s (keys %s): %s\n", info.Path, info.Bounds, firstLine(info.Details))
	}
}

// backgroundError is Pebble's BackgroundError event (a failed flush or
// compaction), logged on one line without Pebble's stack traces.
func backgroundError(err error) {
	fmt.Fprintf(os.Stderr, "pebble: background error: %s\n", firstLine(err))
}

func firstLine(err error) string {
	if err == nil {
		return ""
	}
	line, _, _ := strings.Cut(err.Error(), "\n")
	return line
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
// to put data in table files.
func (s *Store) Flush() error {
	if err := s.db.Flush(); err != nil {
		return fmt.Errorf("store: flush: %w", err)
	}
	return nil
}

// NewBatch returns an empty write batch; Apply commits it.
func (s *Store) NewBatch() *pebble.Batch { return s.db.NewBatch() }

// NewIndexedBatch returns a batch that can also be read from (it sees its
// own writes over the committed state).
func (s *Store) NewIndexedBatch() *pebble.Batch { return s.db.NewIndexedBatch() }

// Apply commits b durably: when it returns nil the batch is on disk (synced).
// Concurrent Apply calls share fsyncs (Pebble's group commit).
func (s *Store) Apply(b *pebble.Batch) error {
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// Get returns a copy of the value stored at key, and whether it exists.
func (s *Store) Get(key []byte) ([]byte, bool, error) {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, readError("get", key, err)
	}
	out := bytes.Clone(v)
	closer.Close()
	return out, true, nil
}

// Scan calls fn for every key in [lower, upper) in order until fn returns
// false. Key and value are only valid during the call.
func (s *Store) Scan(lower, upper []byte, fn func(key, value []byte) bool) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return readError("scan", lower, err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return readError("scan", lower, err)
		}
		if !fn(it.Key(), v) {
			break
		}
	}
	if err := it.Close(); err != nil {
		return readError("scan", lower, err)
	}
	return nil
}

// ScanReverse is Scan from the last key down.
func (s *Store) ScanReverse(lower, upper []byte, fn func(key, value []byte) bool) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return readError("scan", lower, err)
	}
	for ok := it.Last(); ok; ok = it.Prev() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return readError("scan", lower, err)
		}
		if !fn(it.Key(), v) {
			break
		}
	}
	if err := it.Close(); err != nil {
		return readError("scan", lower, err)
	}
	return nil
}

// PrefixEnd returns the smallest key greater than every key with the prefix.
func PrefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// quietLogger keeps Pebble's informational chatter out of the server log
// while still reporting errors. Fatalf ends the process: Pebble calls it
// for broken invariants and failed MANIFEST writes, after which the
// database state in memory cannot be trusted (PostgreSQL likewise PANICs
// on a failed fsync). On-disk corruption no longer reaches it (see Open).
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}
func (quietLogger) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pebble: "+format+"\n", args...)
}
func (quietLogger) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pebble: fatal: "+format+"\n", args...)
	os.Exit(1)
}
