package txn

import (
	"sync"
)

// readSet is what a transaction read, for optimistic concurrency control at
// commit: documents by id, whole tables (scans and history), index keys
// looked up, tables whose definition it relied on, and table names it
// resolved (found or not). Each item maps to the ledger's durable block
// count (journal.Log.Next) loaded just before the item was first read: the read
// saw every block below that number, so only a change by a block at or
// above it can have made the read stale.
type readSet struct {
	docs   map[string]uint64
	scans  map[string]uint64
	keys   map[string]uint64
	tables map[string]uint64
	names  map[string]uint64
}

// newReadSet returns an empty read set; its maps are made on first use
// (note), since most transactions read only some kinds of item.
func newReadSet() *readSet { return &readSet{} }

// note records in *m a read of item k that saw every block below seq; the
// first read of an item is the one that counts. It makes *m when nil.
func note(m *map[string]uint64, k string, seq uint64) {
	if *m == nil {
		*m = make(map[string]uint64, 1)
	}
	if _, ok := (*m)[k]; !ok {
		(*m)[k] = seq
	}
}

// catalogName stands, in the names maps, for the whole table listing:
// Tables (information_schema.user_tables) reads it and every DDL commit
// writes it, so a catalogue scan conflicts with any concurrent DDL,
// including the creation of a table it could not have seen.
const catalogName = "\x00catalog"

// indexKeyID names one value of one index in the OCC maps.
func indexKeyID(table, field string, key []byte) string {
	return table + "\x00" + field + "\x00" + string(key)
}

// occState remembers, for everything a transaction can read, the sequence
// number of the last block that changed it. A transaction conflicts when
// anything it read was changed by a block numbered at or above the read's
// sequence number (see readSet). Only the committer goroutine touches an
// occState.
type occState struct {
	docs   map[string]uint64 // document id
	scans  map[string]uint64 // table id: any document change in the table
	keys   map[string]uint64 // indexKeyID: a document gained or lost that key
	tables map[string]uint64 // table id: definition changed (DDL)
	names  map[string]uint64 // table name: created, dropped or undropped
}

func newOCCState() *occState {
	return &occState{docs: map[string]uint64{}, scans: map[string]uint64{}, keys: map[string]uint64{},
		tables: map[string]uint64{}, names: map[string]uint64{}}
}

// changedSince reports whether an item of set was changed (per m) by a block
// numbered at or above the item's read sequence number.
func changedSince(m map[string]uint64, set map[string]uint64) bool {
	if len(m) < len(set) {
		for k, seq := range m {
			if read, ok := set[k]; ok && seq >= read {
				return true
			}
		}
		return false
	}
	for k, read := range set {
		if seq, ok := m[k]; ok && seq >= read {
			return true
		}
	}
	return false
}

// conflicts reports whether anything in rs changed after it was read.
func (o *occState) conflicts(rs *readSet) bool {
	return changedSince(o.docs, rs.docs) ||
		changedSince(o.scans, rs.scans) ||
		changedSince(o.keys, rs.keys) ||
		changedSince(o.tables, rs.tables) ||
		changedSince(o.names, rs.names)
}

// writeSet is what a committed transaction changed, in the same terms.
type writeSet struct {
	docs   []string
	scans  []string
	keys   []string
	tables []string
	names  []string
}

func (o *occState) record(ws *writeSet, seq uint64) {
	for _, k := range ws.docs {
		o.docs[k] = seq
	}
	for _, k := range ws.scans {
		o.scans[k] = seq
	}
	for _, k := range ws.keys {
		o.keys[k] = seq
	}
	for _, k := range ws.tables {
		o.tables[k] = seq
	}
	for _, k := range ws.names {
		o.names[k] = seq
	}
}

// size is the number of remembered changes.
func (o *occState) size() int {
	return len(o.docs) + len(o.scans) + len(o.keys) + len(o.tables) + len(o.names)
}

// prune forgets changes older than every open transaction's snapshot: no
// transaction can conflict with them any more.
func (o *occState) prune(minSnapshot uint64) {
	for _, m := range []map[string]uint64{o.docs, o.scans, o.keys, o.tables, o.names} {
		for k, seq := range m {
			if seq < minSnapshot {
				delete(m, k)
			}
		}
	}
}

// snapshots tracks the snapshots of a ledger's open transactions.
type snapshots struct {
	mu   sync.Mutex
	open map[*Transaction]uint64
}

func (s *snapshots) add(t *Transaction, snap uint64) {
	s.mu.Lock()
	if s.open == nil {
		s.open = map[*Transaction]uint64{}
	}
	s.open[t] = snap
	s.mu.Unlock()
}

func (s *snapshots) remove(t *Transaction) {
	s.mu.Lock()
	delete(s.open, t)
	s.mu.Unlock()
}

// min returns the oldest open snapshot, or fallback when none is open.
func (s *snapshots) min(fallback uint64) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := fallback
	for _, v := range s.open {
		if v < m {
			m = v
		}
	}
	return m
}
