// Package store defines the ordered key-value storage Strand's engine runs
// on, as interfaces described by what the engine needs: point reads,
// bounded iteration in key order, write batches (some of which can read
// their own writes) and a synced commit. Implementations live in
// subpackages: store/pebble (the embedded Pebble database the server uses)
// and store/memstore (in memory, for unit tests). No package outside store
// imports an implementation's engine; the server and the command-line tools
// choose one and hand the engine a Store.
//
// The package also keeps the tip record files (TipFiles), which live beside
// the store rather than in it.
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
)

// ErrCorruption is matched (errors.Is) by every error of a read that met
// data damaged on disk: a block whose checksum does not match what was
// written. Such data cannot be trusted; the store reports it and goes on
// serving the rest.
var ErrCorruption = errors.New("store: on-disk corruption")

// ErrClosed is matched (errors.Is) by the errors of operations on a Store
// after its Close.
var ErrClosed = errors.New("store: closed")

// ErrConflict is matched (errors.Is) by the error of an Apply whose batch
// carried an expectation (Batch.Expect) that did not hold at the commit:
// nothing of the batch was applied.
var ErrConflict = errors.New("store: expectation failed")

// ErrNotApplied is matched (errors.Is) by the error of an Apply that
// failed before its batch could be committed, with nothing of it applied,
// while the store itself is not known to be at fault: a database that
// could not be reached, a connection that broke before COMMIT was sent, a
// COMMIT the database refused. A failed Apply that matches neither this
// nor ErrConflict may have left the store failed, or (a database whose
// connection broke during COMMIT) applied the batch or not.
var ErrNotApplied = errors.New("store: batch not applied")

// CorruptionError is a read that met on-disk corruption: it matches
// ErrCorruption and wraps the implementation's error. Implementations
// return it (wrapped) for every corrupt read.
type CorruptionError struct {
	Op  string // the operation, e.g. "get", "scan", "open"
	Key []byte // the key read, or the lower bound of the scan; nil if none
	Err error  // the implementation's error
}

func (e *CorruptionError) Error() string {
	if e.Key == nil {
		return fmt.Sprintf("on-disk corruption (%s): %s", e.Op, FirstLine(e.Err))
	}
	return fmt.Sprintf("on-disk corruption (%s %q): %s", e.Op, e.Key, FirstLine(e.Err))
}

// Is makes a CorruptionError match ErrCorruption.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorruption }

// Unwrap returns the implementation's error.
func (e *CorruptionError) Unwrap() error { return e.Err }

// IsCorruption reports whether err (from any read of a Store, including
// through its batches and iterators) is on-disk corruption.
func IsCorruption(err error) bool { return err != nil && errors.Is(err, ErrCorruption) }

// CorruptKey returns the key of a corruption error (the key read or the
// scan's lower bound), or nil.
func CorruptKey(err error) []byte {
	var ce *CorruptionError
	if errors.As(err, &ce) {
		return ce.Key
	}
	return nil
}

// FirstLine returns the first line of err's message ("" for nil), for
// errors of storage engines that append stack traces.
func FirstLine(err error) string {
	if err == nil {
		return ""
	}
	line, _, _ := bytes.Cut([]byte(err.Error()), []byte("\n"))
	return string(line)
}

// Reader reads keys. Reads through a Store see everything applied before
// the read began; reads through an IndexedBatch see the batch's own writes
// over that.
type Reader interface {
	// Get returns a copy of the value stored at key (the caller may keep
	// and modify it) and whether the key exists. A missing key is not an
	// error: it returns (nil, false, nil).
	Get(key []byte) (value []byte, ok bool, err error)

	// NewIter returns an iterator over the keys in [lower, upper), in
	// increasing byte order (bytes.Compare). A nil lower means from the
	// first key, a nil upper up to the last. The iterator sees the state
	// when it was created, and must be closed.
	NewIter(lower, upper []byte) (Iterator, error)
}

// Iterator walks a bounded key range. It starts unpositioned: call First or
// Last. Not safe for concurrent use.
type Iterator interface {
	// First, Last, Next and Prev move the iterator and report whether it
	// is on a key (Valid). Next and Prev must only be called while Valid.
	First() bool
	Last() bool
	Next() bool
	Prev() bool

	// Valid reports whether the iterator is on a key.
	Valid() bool

	// Key returns the current key. Valid only until the iterator moves or
	// closes: copy it to keep it.
	Key() []byte

	// Value returns the current value, valid only until the iterator moves
	// or closes. An error (e.g. corruption) does not move the iterator.
	Value() ([]byte, error)

	// Error returns the error that stopped the iteration, if any: a move
	// that returns false because of an error leaves it here.
	Error() error

	// Close releases the iterator and returns its error, if any.
	Close() error
}

// Writer collects writes. Nothing is visible to the Store's readers until
// Store.Apply. Key and value are copied: the caller may reuse them.
type Writer interface {
	Set(key, value []byte) error
	Delete(key []byte) error
	// DeleteRange deletes every key in [start, end).
	DeleteRange(start, end []byte) error
}

// Batch is a set of writes that Store.Apply commits atomically. A batch is
// not safe for concurrent use, and must be closed (after Apply, or instead
// of it to discard the writes).
type Batch interface {
	Writer

	// Expect makes the batch conditional: Apply of this batch fails,
	// applying nothing, with an error matching ErrConflict unless, at the
	// moment of the commit, key's committed value equals value (a nil
	// value means: key is absent; an empty non-nil value means: key is
	// present with an empty value). The check is atomic with the batch's
	// writes with respect to every other Apply of the same Store (what
	// other processes write to the same storage, where an implementation
	// allows that, is covered only where the implementation says so). It
	// looks at the committed state only, never at the batch's own writes.
	// Key and value are copied. A batch may carry several expectations;
	// all must hold.
	Expect(key, value []byte) error

	Close() error
}

// IndexedBatch is a Batch that can also be read from: Get and NewIter see
// its own writes, in order, over the Store's committed state.
type IndexedBatch interface {
	Batch
	Reader
}

// Store is an open key-value store. Its methods are safe for concurrent
// use, except Close, which must come after every other use has ended
// (batches and iterators closed). After Close, operations fail with
// ErrClosed.
//
// Errors of reads that met damaged data match ErrCorruption (IsCorruption);
// the store keeps serving the rest.
type Store interface {
	Reader

	// Scan calls fn for every key in [lower, upper) in increasing order
	// until fn returns false. Key and value are only valid during the call.
	Scan(lower, upper []byte, fn func(key, value []byte) bool) error

	// ScanReverse is Scan from the last key down.
	ScanReverse(lower, upper []byte, fn func(key, value []byte) bool) error

	// NewBatch returns an empty write batch.
	NewBatch() Batch

	// NewIndexedBatch returns an empty batch that can also be read from.
	NewIndexedBatch() IndexedBatch

	// Apply commits b, which must come from this store's NewBatch or
	// NewIndexedBatch, atomically and durably: when it returns nil the
	// writes survive a crash (they are synced to stable storage) and are
	// visible to every later read. When it fails, none of them is
	// visible. Concurrent Apply calls may share one sync. b must still be
	// closed.
	Apply(b Batch) error

	// Close releases the store.
	Close() error

	// Dir returns the data directory the store belongs to (where the tip
	// record files and the lock live).
	Dir() string
}

// Scan calls fn for every key of r in [lower, upper) in increasing order
// until fn returns false, through an iterator; key and value are only valid
// during the call. Implementations of Store may use it for their Scan.
func Scan(r Reader, lower, upper []byte, fn func(key, value []byte) bool) error {
	return scan(r, lower, upper, false, fn)
}

// ScanReverse is Scan from the last key down.
func ScanReverse(r Reader, lower, upper []byte, fn func(key, value []byte) bool) error {
	return scan(r, lower, upper, true, fn)
}

func scan(r Reader, lower, upper []byte, reverse bool, fn func(key, value []byte) bool) error {
	it, err := r.NewIter(lower, upper)
	if err != nil {
		return err
	}
	ok := it.First()
	if reverse {
		ok = it.Last()
	}
	for ; ok; ok = next(it, reverse) {
		v, err := it.Value()
		if err != nil {
			it.Close()
			return err
		}
		if !fn(it.Key(), v) {
			break
		}
	}
	return it.Close()
}

func next(it Iterator, reverse bool) bool {
	if reverse {
		return it.Prev()
	}
	return it.Next()
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
