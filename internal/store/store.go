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
	"syscall"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

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
	po := &pebble.Options{Logger: quietLogger{}, Cache: cache}
	if opts.FS != nil {
		po.FS = opts.FS
	}
	db, err := openPebble(filepath.Join(dir, "pebble"), po)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	return &Store{db: db, lock: lock, dir: dir}, nil
}

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
		return nil, false, fmt.Errorf("store: get: %w", err)
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
		return fmt.Errorf("store: scan: %w", err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return fmt.Errorf("store: scan: %w", err)
		}
		if !fn(it.Key(), v) {
			break
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("store: scan: %w", err)
	}
	return nil
}

// ScanReverse is Scan from the last key down.
func (s *Store) ScanReverse(lower, upper []byte, fn func(key, value []byte) bool) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return fmt.Errorf("store: scan: %w", err)
	}
	for ok := it.Last(); ok; ok = it.Prev() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return fmt.Errorf("store: scan: %w", err)
		}
		if !fn(it.Key(), v) {
			break
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("store: scan: %w", err)
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
// while still reporting errors.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}
func (quietLogger) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pebble: "+format+"\n", args...)
}
func (quietLogger) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pebble: fatal: "+format+"\n", args...)
	os.Exit(1)
}
