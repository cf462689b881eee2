package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/strand-db/strand/internal/store"
)

// CheckCatalogue names a failure of the ledger's table catalogue (its t/
// entries): an entry that does not decode, that names another table than
// its key, or a table whose documents are stored but which the catalogue
// lacks. (The journal holds only the hash of each catalogue revision, so a
// damaged table name or index list that still decodes is not caught here.)
const CheckCatalogue = "catalogue"

// catalogue checks the t/ entries against their keys and the tables whose
// revisions are stored (h/): without its entry a table's documents are
// unreachable, which statements would report as an empty or missing table.
func (r *ledgerRun) catalogue() error {
	tPrefix := append(bytes.Clone(r.keys.prefix), "t/"...)
	tables := map[string]bool{}
	var failed bool
	err := r.st.Scan(tPrefix, store.PrefixEnd(tPrefix), func(k, v []byte) bool {
		id := string(k[len(tPrefix):])
		var t struct {
			ID      string `json:"id"`
			Name    string `json:"name"`
			Version uint64 `json:"version"`
		}
		if err := json.Unmarshal(v, &t); err != nil || t.ID != id || t.Name == "" {
			r.failAt(CheckCatalogue, 0, false, k, "the catalogue entry of table %s is damaged: %q", id, v)
			failed = true
			return false
		}
		if r.imported != nil {
			if iv, ok := r.imported.Tables[id]; ok && t.Version < iv {
				r.failAt(CheckMeta, 0, false, r.keys.meta, "the ledger's meta entry says the import left table %s (%s) at version %d, but its catalogue entry is at version %d", t.Name, id, iv, t.Version)
				failed = true
				return false
			}
		}
		tables[id] = true
		return true
	})
	if err != nil || failed {
		return err
	}
	if r.imported != nil {
		for _, id := range slices.Sorted(maps.Keys(r.imported.Tables)) {
			if !tables[id] {
				r.failAt(CheckMeta, 0, false, r.keys.meta, "the ledger's meta entry names imported table %s, which the catalogue lacks", id)
				return nil
			}
		}
	}
	// The tables whose revisions are stored: one short scan per table.
	lo, hi := span(r.keys.history)
	for {
		var key []byte
		if err := r.st.Scan(lo, hi, func(k, _ []byte) bool { key = bytes.Clone(k); return false }); err != nil {
			return err
		}
		if key == nil {
			return nil
		}
		table, _, _, err := historyKey(r.keys.history, key)
		if err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		if !tables[table] {
			r.failAt(CheckCatalogue, 0, false, key, "documents of table %s are stored but the table catalogue has no entry for it", table)
			return nil
		}
		lo = store.PrefixEnd(append(bytes.Clone(r.keys.history), table+"/"...))
	}
}
