package txn

import (
	"bytes"
	"fmt"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/partiql"
	"github.com/strand-db/strand/internal/qldberr"
)

// The PartiQL extension mode (Options.PartiQLExtensions, see
// partiql/extensions.go): ORDER BY, LIMIT and OFFSET need nothing of this
// package; unique indexes are enforced here, when a statement writes.
//
// A unique index refuses an insert or update whose value of the indexed
// field equals (partiql.IndexKey) that of another live document in the
// transaction's view. The check reads through the index (Lookup), or a
// scan while the index is being created by this transaction, so the value
// enters the OCC read set: of two concurrent transactions writing the same
// value, the second to commit gets an OCC conflict, and its retry sees
// the first's document and fails the check. A unique index is otherwise an
// ordinary index, recorded in the journal's catalogue revision with
// unique: true.

var (
	_ partiql.Extensions    = (*Transaction)(nil)
	_ partiql.UniqueIndexer = (*Transaction)(nil)
)

// PartiQLExtensions implements partiql.Extensions.
func (t *Transaction) PartiQLExtensions() bool { return t.ledger.extensions }

// uniqueErr is the error of a write that breaks a unique index.
func uniqueErr(table, field string, v *ionvalue.Value, other string) error {
	return &partiql.Error{Code: partiql.CodeEvaluation, Message: fmt.Sprintf(
		"Evaluation Error: unique index on %s.%s: document %s already has %s = %s", table, field, other, field, qldberr.Clip(ionvalue.MarshalText(v)))}
}

// CreateUniqueIndex implements partiql.UniqueIndexer. It fails when two
// live documents of the table already share a value of field.
func (t *Transaction) CreateUniqueIndex(tableID, field string) (string, error) {
	tm, ok := t.lookupTable(tableID)
	if !ok {
		return "", fmt.Errorf("txn: no table %s", tableID)
	}
	seen := map[string]string{}
	var dup error
	if err := t.Scan(tableID, func(d partiql.Document) bool {
		v := d.Data.Get(field)
		k := partiql.IndexKey(v)
		if k == nil {
			return true
		}
		if other, ok := seen[string(k)]; ok {
			dup = &partiql.Error{Code: partiql.CodeEvaluation, Message: fmt.Sprintf(
				"Evaluation Error: cannot create a unique index on %s.%s: documents %s and %s both have %s = %s", tm.Name, field, other, d.ID, field, qldberr.Clip(ionvalue.MarshalText(v)))}
			return false
		}
		seen[string(k)] = d.ID
		return true
	}); err != nil {
		return "", err
	}
	if dup != nil {
		return "", dup
	}
	id, err := t.CreateIndex(tableID, field)
	if err != nil {
		return "", err
	}
	ntm := t.tables[tableID]
	for i := range ntm.Indexes {
		if ntm.Indexes[i].ID == id {
			ntm.Indexes[i].Unique = true
		}
	}
	return id, nil
}

// checkUnique checks data, the new data of document docID ("" for an
// insert) of a table, against the table's unique indexes.
func (t *Transaction) checkUnique(tableID, docID string, data *ionvalue.Value) error {
	tm, ok := t.lookupTable(tableID)
	if !ok {
		return nil
	}
	for _, ix := range tm.Indexes {
		if !ix.Unique {
			continue
		}
		v := data.Get(ix.Field)
		key := partiql.IndexKey(v)
		if key == nil {
			continue
		}
		other := ""
		found := func(d partiql.Document) bool {
			if d.ID != docID && bytes.Equal(partiql.IndexKey(d.Data.Get(ix.Field)), key) {
				other = d.ID
				return false
			}
			return true
		}
		var err error
		if ix.Status == partiql.IndexOnline {
			err = t.Lookup(tableID, ix.Field, v, found)
		} else {
			err = t.Scan(tableID, found)
		}
		if err != nil {
			return err
		}
		if other != "" {
			return uniqueErr(tm.Name, ix.Field, v, other)
		}
	}
	return nil
}
