package txn

import (
	"encoding/json"
	"fmt"

	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/store"
)

// An import (strand import) writes a new ledger's data under a fresh
// ledger id while no catalogue entry names that id, and writes the
// catalogue entry last: until then the ledger does not exist for a server,
// so an import killed partway leaves no ledger. What it wrote is found
// again through its staging record, c/import/<name> = {"id": ledgerID},
// written before anything else and deleted after the catalogue entry; the
// next import of that name (or ClearImport) deletes the leftovers. This is
// how etcd restores a snapshot into a fresh directory and PostgreSQL's
// CREATE DATABASE builds a database before its catalogue row commits.

func importStageKey(name string) []byte { return []byte("c/import/" + name) }

type importStage struct {
	ID string `json:"id"`
}

// StageImport records that ledger name is being imported under ledgerID.
// Call it before writing any of the ledger's data.
func StageImport(st store.Store, name, ledgerID string) error {
	raw, err := json.Marshal(importStage{ID: ledgerID})
	if err != nil {
		return fmt.Errorf("txn: import: %w", err)
	}
	batch := st.NewBatch()
	defer batch.Close()
	if err := batch.Set(importStageKey(name), raw); err != nil {
		return fmt.Errorf("txn: import: %w", err)
	}
	if err := st.Apply(batch); err != nil {
		return fmt.Errorf("txn: import: staging record: %w", err)
	}
	return nil
}

// ClearImport removes the staging record of an import of ledger name and,
// unless the record names keepID (the id of the ledger's catalogue entry:
// the import finished), every key of the ledger id it names and that id's
// tip record (tips may be nil). It returns the id whose data it removed
// ("" when none). The server must not be running.
func ClearImport(st store.Store, tips journal.Tips, name, keepID string) (removed string, err error) {
	raw, ok, err := st.Get(importStageKey(name))
	if err != nil {
		return "", fmt.Errorf("txn: import: staging record: %w", err)
	}
	if !ok {
		return "", nil
	}
	var s importStage
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("txn: import: staging record of %s is damaged: %w", name, err)
	}
	batch := st.NewBatch()
	defer batch.Close()
	if s.ID != "" && s.ID != keepID {
		k := newKeys(s.ID)
		if err := batch.DeleteRange(k.all(), store.PrefixEnd(k.all())); err != nil {
			return "", fmt.Errorf("txn: import: %w", err)
		}
		removed = s.ID
	}
	if err := batch.Delete(importStageKey(name)); err != nil {
		return "", fmt.Errorf("txn: import: %w", err)
	}
	if err := st.Apply(batch); err != nil {
		return "", fmt.Errorf("txn: import: remove leftovers: %w", err)
	}
	if removed != "" && tips != nil {
		if err := tips.Remove(removed); err != nil {
			return removed, fmt.Errorf("txn: import: %w", err)
		}
	}
	return removed, nil
}
