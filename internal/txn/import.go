package txn

import (
	"encoding/json"
	"fmt"
	"sort"

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
// system revisions, so the catalogue is derived from the blocks'
// transactionInfo.documents: one ACTIVE table per table id, named as the
// newest block that touched it names it, with no indexes (QLDB's index
// definitions are not in an export; create them again with CREATE INDEX).
// Tables that never held a document, and whether a table was dropped, are
// not in the journal either: such tables are absent or shown ACTIVE. Then
// it builds everything else as RebuildDerived does (latest revisions,
// history, the revision lookup and the ledger Merkle tree), so the ledger
// serves queries, digests and proofs. It refuses a ledger that already
// has a catalogue.
func ImportDerived(st store.Store, ledgerID string, progress func(RebuildStats)) (RebuildStats, error) {
	r := &rebuild{st: st, k: newKeys(ledgerID), lay: journal.LedgerLayout(ledgerID), progress: progress, imported: true}
	prefix := r.k.tables()
	found := false
	if err := st.Scan(prefix, store.PrefixEnd(prefix), func(_, _ []byte) bool { found = true; return false }); err != nil {
		return r.stats, fmt.Errorf("txn: import: %w", err)
	}
	if found {
		return r.stats, fmt.Errorf("txn: import: ledger %s already has a table catalogue", ledgerID)
	}
	names := map[string]string{}
	err := r.blocks(func(b *journal.Block) error {
		for _, d := range b.TransactionInfo.Documents {
			if d.TableID != "" {
				names[d.TableID] = d.TableName
			}
		}
		return nil
	})
	if err != nil {
		return r.stats, err
	}
	ids := make([]string, 0, len(names))
	for id := range names {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	batch := st.NewBatch()
	defer batch.Close()
	for _, id := range ids {
		v, err := json.Marshal(&tableMeta{ID: id, Name: names[id], Active: true})
		if err != nil {
			return r.stats, fmt.Errorf("txn: import: %w", err)
		}
		if err := batch.Set(r.k.table(id), v); err != nil {
			return r.stats, fmt.Errorf("txn: import: %w", err)
		}
	}
	if err := st.Apply(batch); err != nil {
		return r.stats, fmt.Errorf("txn: import: catalogue: %w", err)
	}
	r.stats.Tables = uint64(len(ids))
	if err := r.run(); err != nil {
		return r.stats, err
	}
	r.stats.Phase = "done"
	r.report()
	return r.stats, nil
}
