// Package memstore is a store.Store in memory, for unit tests: a sorted
// slice of keys and a map of values under one lock. Apply is atomic but
// nothing is durable; iterators copy their range when created, so they see
// a snapshot. It is small rather than fast.
package memstore

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/strand-db/strand/internal/store"
)

// Store is an in-memory store.Store.
type Store struct {
	dir    string
	mu     sync.RWMutex
	keys   []string // sorted
	vals   map[string][]byte
	closed bool
}

var _ store.Store = (*Store)(nil)

// New returns an empty store whose Dir is dir (where tip record files go;
// "" when the test needs none).
func New(dir string) *Store { return &Store{dir: dir, vals: map[string][]byte{}} }

// Dir implements store.Store.
func (s *Store) Dir() string { return s.dir }

// Close implements store.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("memstore: close: %w", store.ErrClosed)
	}
	s.closed = true
	return nil
}

// Get implements store.Store.
func (s *Store) Get(key []byte) ([]byte, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, false, fmt.Errorf("memstore: get: %w", store.ErrClosed)
	}
	v, ok := s.vals[string(key)]
	return bytes.Clone(v), ok, nil
}

// NewIter implements store.Store.
func (s *Store) NewIter(lower, upper []byte) (store.Iterator, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, fmt.Errorf("memstore: scan: %w", store.ErrClosed)
	}
	it := &iter{pos: -1}
	for i := s.search(lower); i < len(s.keys) && (upper == nil || s.keys[i] < string(upper)); i++ {
		it.kvs = append(it.kvs, kv{s.keys[i], s.vals[s.keys[i]]})
	}
	return it, nil
}

// Scan implements store.Store.
func (s *Store) Scan(lower, upper []byte, fn func(key, value []byte) bool) error {
	return store.Scan(s, lower, upper, fn)
}

// ScanReverse implements store.Store.
func (s *Store) ScanReverse(lower, upper []byte, fn func(key, value []byte) bool) error {
	return store.ScanReverse(s, lower, upper, fn)
}

// NewBatch implements store.Store.
func (s *Store) NewBatch() store.Batch { return &batch{s: s} }

// NewIndexedBatch implements store.Store.
func (s *Store) NewIndexedBatch() store.IndexedBatch { return &batch{s: s} }

// Apply implements store.Store.
func (s *Store) Apply(b store.Batch) error {
	mb, ok := b.(*batch)
	if !ok || mb.s != s {
		return fmt.Errorf("memstore: commit: a batch of another store (%T)", b)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("memstore: commit: %w", store.ErrClosed)
	}
	for _, e := range mb.expects {
		v, ok := s.vals[e.key]
		if ok != (e.value != nil) || !bytes.Equal(v, e.value) {
			return fmt.Errorf("memstore: commit: key %q: %w", e.key, store.ErrConflict)
		}
	}
	for _, o := range mb.ops {
		switch {
		case o.end != nil:
			lo, hi := s.search([]byte(o.key)), s.search([]byte(*o.end))
			for _, k := range s.keys[lo:max(lo, hi)] {
				delete(s.vals, k)
			}
			s.keys = slices.Delete(s.keys, lo, max(lo, hi))
		case o.val == nil:
			if i := s.search([]byte(o.key)); i < len(s.keys) && s.keys[i] == o.key {
				s.keys = slices.Delete(s.keys, i, i+1)
				delete(s.vals, o.key)
			}
		default:
			if _, had := s.vals[o.key]; !had {
				s.keys = slices.Insert(s.keys, s.search([]byte(o.key)), o.key)
			}
			s.vals[o.key] = o.val
		}
	}
	return nil
}

// search returns the index of the first key >= k.
func (s *Store) search(k []byte) int {
	return sort.SearchStrings(s.keys, string(k))
}

// op is one write: a range deletion when end is set, a deletion when val is
// nil, else a set.
type op struct {
	key string
	end *string
	val []byte
}

func (o op) covers(k string) bool {
	if o.end != nil {
		return o.key <= k && k < *o.end
	}
	return o.key == k
}

// batch is both a store.Batch and a store.IndexedBatch: its reads replay
// its writes over the store.
type batch struct {
	s       *Store
	ops     []op
	expects []expectation
}

// expectation is one Batch.Expect, checked by Apply under the store's lock:
// value nil means absent.
type expectation struct {
	key   string
	value []byte
}

func (b *batch) Expect(key, value []byte) error {
	b.expects = append(b.expects, expectation{key: string(key), value: bytes.Clone(value)})
	return nil
}

func (b *batch) Set(key, value []byte) error {
	b.ops = append(b.ops, op{key: string(key), val: append([]byte{}, value...)})
	return nil
}

func (b *batch) Delete(key []byte) error {
	b.ops = append(b.ops, op{key: string(key)})
	return nil
}

func (b *batch) DeleteRange(start, end []byte) error {
	e := string(end)
	b.ops = append(b.ops, op{key: string(start), end: &e})
	return nil
}

func (b *batch) Close() error { b.ops, b.expects = nil, nil; return nil }

func (b *batch) Get(key []byte) ([]byte, bool, error) {
	v, ok, err := b.s.Get(key)
	for _, o := range b.ops {
		if o.covers(string(key)) {
			v, ok = bytes.Clone(o.val), o.end == nil && o.val != nil
		}
	}
	return v, ok, err
}

func (b *batch) NewIter(lower, upper []byte) (store.Iterator, error) {
	base, err := b.s.NewIter(lower, upper)
	if err != nil {
		return nil, err
	}
	m := map[string][]byte{}
	for _, e := range base.(*iter).kvs {
		m[e.k] = e.v
	}
	for _, o := range b.ops {
		if o.end == nil && o.val != nil && o.key >= string(lower) && (upper == nil || o.key < string(upper)) {
			m[o.key] = o.val
			continue
		}
		for k := range m {
			if o.covers(k) {
				delete(m, k)
			}
		}
	}
	it := &iter{pos: -1}
	for k, v := range m {
		it.kvs = append(it.kvs, kv{k, v})
	}
	slices.SortFunc(it.kvs, func(x, y kv) int { return strings.Compare(x.k, y.k) })
	return it, nil
}

type kv struct {
	k string
	v []byte
}

// iter walks a copied, sorted range.
type iter struct {
	kvs []kv
	pos int // -1 or len(kvs) when not on a key
}

func (i *iter) First() bool  { i.pos = 0; return i.Valid() }
func (i *iter) Last() bool   { i.pos = len(i.kvs) - 1; return i.Valid() }
func (i *iter) Next() bool   { i.pos++; return i.Valid() }
func (i *iter) Prev() bool   { i.pos--; return i.Valid() }
func (i *iter) Valid() bool  { return i.pos >= 0 && i.pos < len(i.kvs) }
func (i *iter) Key() []byte  { return []byte(i.kvs[i.pos].k) }
func (i *iter) Error() error { return nil }
func (i *iter) Close() error { return nil }

func (i *iter) Value() ([]byte, error) { return i.kvs[i.pos].v, nil }
