package stream

import (
	"encoding/json"
	"fmt"

	"github.com/strand-db/strand/internal/store"
)

// This file holds the Manager's writes of stream definitions and their
// removal, and the rule that keeps a removed stream's keys removed.

// persist durably writes the current definition of stream id. Callers
// change a definition under mu and call persist after unlocking, so no
// fsync happens under mu. Ordering: persist holds wmu while it takes a
// snapshot of the definition (under mu) and writes it, so concurrent
// changes of one stream are written in the order their snapshots were
// taken and the last write carries the newest state. A stream that is no
// longer in the map was removed (ledger deleted or retention expired) by a
// caller that deletes its keys under wmu after removing it, so persist
// writes nothing for it and cannot resurrect it.
//
// On a shared store another node may remove the stream's keys (it served
// DeleteLedger while this node still ran the stream), so the map alone
// cannot protect them. The rule (with Options.Ownership): every write of a
// stream's keys, its definition (here) or its checkpoint
// (worker.saveCheckpoint), expects the definition exactly as this manager
// last loaded or wrote it. Once DropLedger or expiry
// deleted the definition, on any node, no such write can land again, and
// the store refuses it with store.ErrConflict. Without Ownership one
// manager owns the store, and the map with DropLedger's join of the
// workers suffices; the expectation is then left out, since the embedded
// store commits a batch with expectations alone, holding up every other
// commit (journal blocks included) for its sync.
func (m *Manager) persist(id string) error {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	m.mu.Lock()
	r, ok := m.streams[id]
	var b, prev []byte
	var err error
	var ledgerID string
	if ok {
		b, err = json.Marshal(&r.def)
		ledgerID = r.def.LedgerID
		prev = r.raw
	}
	m.mu.Unlock()
	if !ok {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	batch := m.opts.Store.NewBatch()
	defer batch.Close()
	if err := m.fence(batch, ledgerID); err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	if err := m.expectDefinition(batch, id, prev); err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	if err := batch.Set(defKey(id), b); err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	if err := m.opts.Store.Apply(batch); err != nil {
		return fmt.Errorf("stream: write definition of %s: %w", id, err)
	}
	m.mu.Lock()
	if m.streams[id] == r {
		r.raw = b
	}
	m.mu.Unlock()
	return nil
}

// expectDefinition makes b expect stream id's definition to be stored as
// raw, on a shared store (see persist). A stream not stored yet (raw nil:
// Create's first write) expects nothing: its id is new, and expecting an
// absent key would only add a predicate lock (PostgreSQL's SERIALIZABLE).
func (m *Manager) expectDefinition(b store.Batch, id string, raw []byte) error {
	if m.opts.Ownership == nil || raw == nil {
		return nil
	}
	return b.Expect(defKey(id), raw)
}

// currentRaw is storedRaw without waiting for a definition write under
// way: the value may be one such a write is replacing.
func (m *Manager) currentRaw(id string) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.streams[id]
	if !ok || r.raw == nil {
		return nil, false
	}
	return r.raw, true
}

// storedRaw returns the stored definition of stream id as this manager
// last loaded or wrote it, after every write of it under way has ended;
// false when the stream was removed from the map.
func (m *Manager) storedRaw(id string) ([]byte, bool) {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.streams[id]
	if !ok || r.raw == nil {
		return nil, false
	}
	return r.raw, true
}

// forget deletes the stored definitions and checkpoints of streams already
// removed from the map (see persist for the ordering).
func (m *Manager) forget(ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	m.wmu.Lock()
	defer m.wmu.Unlock()
	batch := m.opts.Store.NewBatch()
	defer batch.Close()
	for _, id := range ids {
		if err := batch.Delete(defKey(id)); err != nil {
			return fmt.Errorf("stream: %w", err)
		}
		if err := batch.Delete(cpKey(id)); err != nil {
			return fmt.Errorf("stream: %w", err)
		}
	}
	return m.opts.Store.Apply(batch)
}
