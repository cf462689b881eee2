package txn

import (
	"sync"
)

// readSet is what a transaction read, for optimistic concurrency control at
// commit: documents by id, whole tables (scans and history), index keys
// looked up, tables whose definition it relied on, and table names it
// resolved (found or not).
type readSet struct {
	docs   map[string]struct{}
	scans  map[string]struct{}
	keys   map[string]struct{}
	tables map[string]struct{}
	names  map[string]struct{}
}

func newReadSet() *readSet {
	return &readSet{docs: map[string]struct{}{}, scans: map[string]struct{}{}, keys: map[string]struct{}{},
		tables: map[string]struct{}{}, names: map[string]struct{}{}}
}

// indexKeyID names one value of one index in the OCC maps.
func indexKeyID(table, field string, key []byte) string {
	return table + "\x00" + field + "\x00" + string(key)
}

// occState remembers, for everything a transaction can read, the sequence
// number of the last block that changed it. A transaction whose snapshot is
// S (it started when S blocks were durable) conflicts when anything it read
// was changed by a block with sequence number >= S. Only the committer
// goroutine touches an occState.
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

func changedSince(m map[string]uint64, set map[string]struct{}, snapshot uint64) bool {
	if len(m) < len(set) {
		for k, seq := range m {
			if _, ok := set[k]; ok && seq >= snapshot {
				return true
			}
		}
		return false
	}
	for k := range set {
		if seq, ok := m[k]; ok && seq >= snapshot {
			return true
		}
	}
	return false
}

// conflicts reports whether anything in rs changed at or after snapshot.
func (o *occState) conflicts(rs *readSet, snapshot uint64) bool {
	return changedSince(o.docs, rs.docs, snapshot) ||
		changedSince(o.scans, rs.scans, snapshot) ||
		changedSince(o.keys, rs.keys, snapshot) ||
		changedSince(o.tables, rs.tables, snapshot) ||
		changedSince(o.names, rs.names, snapshot)
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

// notifier wakes any number of waiters each time something happens.
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

func newNotifier() *notifier { return &notifier{ch: make(chan struct{})} }

// Wait returns a channel closed at the next broadcast.
func (n *notifier) Wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ch
}

func (n *notifier) broadcast() {
	n.mu.Lock()
	close(n.ch)
	n.ch = make(chan struct{})
	n.mu.Unlock()
}
