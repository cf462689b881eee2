package txn

import (
	"encoding/json"
	"fmt"

	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/store"
)

// WriteLedgerMeta records the strand id of a ledger brought in from a QLDB
// journal export:
// the strand id is QLDB's, so that block addresses, digests and proofs
// match what QLDB published. WriteLedgerMeta stores it before the blocks.
func WriteLedgerMeta(st store.Store, ledgerID, strandID string) error {
	b, err := json.Marshal(ledgerMeta{StrandID: strandID})
	if err != nil {
		return fmt.Errorf("txn: import: %w", err)
	}
	batch := st.NewBatch()
	defer batch.Close()
	if err := batch.Set(newKeys(ledgerID).meta(), b); err != nil {
		return fmt.Errorf("txn: import: %w", err)
	}
	if err := st.Apply(batch); err != nil {
		return fmt.Errorf("txn: import: %w", err)
	}
	return nil
}

// ImportDerived builds the derived records of a ledger whose journal was
// imported from a QLDB export (its blocks are in st; nothing else of it
// is). QLDB's journal holds only the hashes of its table catalogue's
// system revisions, so the catalogue is rebuilt by replaying the blocks'
// DDL statements with the table ids their documents name (see
// catalogueReplay): tables that never held a document, dropped and
// undropped tables, indexes (built ONLINE over the imported documents, as
// CREATE INDEX builds them) and CREATE TABLE's literal aws_tags. What the
// replay could not place is returned in RebuildStats.Notes. Then it
// builds everything else as RebuildDerived does (latest revisions,
// history, the revision lookup, the ledger Merkle tree and the index
// entries), so the ledger serves queries, digests and proofs. It refuses
// a ledger that already has a catalogue.
func ImportDerived(st store.Store, ledgerID string, progress func(RebuildStats)) (RebuildStats, error) {
	r := &rebuild{st: st, k: newKeys(ledgerID), lay: journal.LedgerLayout(ledgerID), progress: progress}
	prefix := r.k.tables()
	found := false
	if err := st.Scan(prefix, store.PrefixEnd(prefix), func(_, _ []byte) bool { found = true; return false }); err != nil {
		return r.stats, fmt.Errorf("txn: import: %w", err)
	}
	if found {
		return r.stats, fmt.Errorf("txn: import: ledger %s already has a table catalogue", ledgerID)
	}
	var replay *catalogueReplay
	var blocks uint64
	err := r.blocks(func(b *journal.Block) error {
		if replay == nil {
			replay = newCatalogueReplay(b.Address.StrandID)
		}
		replay.block(b)
		blocks++
		return nil
	})
	if err != nil {
		return r.stats, err
	}
	if replay == nil {
		replay = newCatalogueReplay("")
	}
	meta, _, err := readLedgerMeta(st, r.k)
	if err != nil {
		return r.stats, fmt.Errorf("txn: import: %w", err)
	}
	meta.Imported = &importMeta{Blocks: blocks, Tables: map[string]uint64{}}
	for id, tm := range replay.tables {
		meta.Imported.Tables[id] = tm.Version
	}
	r.imported = meta.Imported
	rawMeta, err := json.Marshal(meta)
	if err != nil {
		return r.stats, fmt.Errorf("txn: import: %w", err)
	}
	batch := st.NewBatch()
	defer batch.Close()
	if err := replay.write(r.k, batch); err != nil {
		return r.stats, err
	}
	if err := batch.Set(r.k.meta(), rawMeta); err != nil {
		return r.stats, fmt.Errorf("txn: import: %w", err)
	}
	if err := st.Apply(batch); err != nil {
		return r.stats, fmt.Errorf("txn: import: catalogue: %w", err)
	}
	r.stats.Notes = replay.Notes
	r.stats.Tables = uint64(len(replay.order))
	if err := r.run(); err != nil {
		return r.stats, err
	}
	r.stats.Phase = "done"
	r.report()
	return r.stats, nil
}

// readLedgerMeta reads a ledger's meta record; found is false (and meta
// the zero record) when it has none.
func readLedgerMeta(st store.Store, k keys) (meta ledgerMeta, found bool, err error) {
	raw, ok, err := st.Get(k.meta())
	if err != nil || !ok {
		return meta, false, err
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		return meta, true, fmt.Errorf("ledger meta: %w", err)
	}
	return meta, true, nil
}
