package pgstore

import (
	"bytes"
	"slices"

	"github.com/strand-db/strand/internal/store"
)

// mergeIter is an IndexedBatch's iterator: the committed keys not written
// by the batch (base), merged with the keys the batch sets (overlay, its
// final values). Forward moves stream from base; the first backward move
// reads the rest of the range into memory (mem) and serves every later
// move from it.
type mergeIter struct {
	base         store.Iterator
	lower, upper []byte
	points       map[string]bool // keys a Set or Delete of the batch wrote
	ranges       []op            // the batch's DeleteRanges
	overlay      []kv            // keys the batch sets, in range, sorted

	oi     int  // next overlay entry not yet passed (forward mode)
	fromOv bool // the current key is overlay[oi]
	cur    kv
	valid  bool
	err    error
	mem    *iter // backward mode: the whole merged range
}

func (m *mergeIter) inRange(k []byte) bool {
	return bytes.Compare(k, m.lower) >= 0 && (m.upper == nil || bytes.Compare(k, m.upper) < 0)
}

// written reports whether the batch wrote k: then base's value is not seen.
func (m *mergeIter) written(k []byte) bool {
	if m.points[string(k)] {
		return true
	}
	for _, r := range m.ranges {
		if r.covers(k) {
			return true
		}
	}
	return false
}

// settle skips base keys the batch wrote and puts the iterator on the
// smaller of base's key and the next overlay key.
func (m *mergeIter) settle() bool {
	for m.base.Valid() && m.written(m.base.Key()) {
		m.base.Next()
	}
	if err := m.base.Error(); err != nil {
		m.err, m.valid = err, false
		return false
	}
	haveOv := m.oi < len(m.overlay)
	switch {
	case m.base.Valid() && (!haveOv || bytes.Compare(m.base.Key(), m.overlay[m.oi].k) < 0):
		v, err := m.base.Value()
		if err != nil {
			m.err, m.valid = err, false
			return false
		}
		m.cur, m.fromOv, m.valid = kv{m.base.Key(), v}, false, true
	case haveOv:
		m.cur, m.fromOv, m.valid = m.overlay[m.oi], true, true
	default:
		m.valid = false
	}
	return m.valid
}

func (m *mergeIter) First() bool {
	if m.mem != nil {
		return m.mem.First()
	}
	m.oi = 0
	m.base.First()
	return m.settle()
}

func (m *mergeIter) Next() bool {
	if m.mem != nil {
		return m.mem.Next()
	}
	if !m.valid {
		return false
	}
	if m.fromOv {
		m.oi++
	} else {
		m.base.Next()
	}
	return m.settle()
}

func (m *mergeIter) Last() bool {
	if !m.toMemory() {
		return false
	}
	return m.mem.Last()
}

func (m *mergeIter) Prev() bool {
	if m.mem == nil {
		if !m.valid {
			return false
		}
		at := bytes.Clone(m.cur.k)
		if !m.toMemory() {
			return false
		}
		i, _ := slices.BinarySearchFunc(m.mem.kvs, at, func(e kv, k []byte) int { return bytes.Compare(e.k, k) })
		m.mem.pos = i
	}
	return m.mem.Prev()
}

// toMemory reads the whole merged range into mem, through base from its
// first key (the same snapshot).
func (m *mergeIter) toMemory() bool {
	if m.mem != nil {
		return true
	}
	if m.err != nil {
		return false
	}
	var kvs []kv
	for ok := m.First(); ok; ok = m.Next() {
		kvs = append(kvs, kv{bytes.Clone(m.cur.k), bytes.Clone(m.cur.v)})
	}
	if m.err != nil {
		return false
	}
	m.mem = &iter{kvs: kvs, pos: -1, begun: true, start: true, end: true}
	return true
}

func (m *mergeIter) Valid() bool {
	if m.mem != nil {
		return m.mem.Valid()
	}
	return m.valid
}

func (m *mergeIter) Key() []byte {
	if m.mem != nil {
		return m.mem.Key()
	}
	return m.cur.k
}

func (m *mergeIter) Value() ([]byte, error) {
	if m.mem != nil {
		return m.mem.Value()
	}
	return m.cur.v, nil
}

func (m *mergeIter) Error() error { return m.err }

func (m *mergeIter) Close() error {
	err := m.base.Close()
	if m.err != nil {
		return m.err
	}
	return err
}
