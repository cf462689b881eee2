package txn

import (
	"github.com/strand-db/strand/internal/qldberr"
	"github.com/strand-db/strand/internal/store"
)

// storageFailure is what a request gets when reading ledger (id, name) met
// on-disk corruption at where: the ledger is marked damaged in the
// catalogue (which logs it once, and the metrics show it) and the client
// gets an InternalFailure that says so without naming files or keys. Other
// errors are returned unchanged.
func (e *Engine) storageFailure(id, name, where string, err error) error {
	if !store.IsCorruption(err) {
		return err
	}
	if lerr, ok := leaseDamage(id, name, err); ok {
		return lerr
	}
	e.catalog.MarkDamaged(id, where, err)
	return qldberr.New(qldberr.InternalFailure,
		"Ledger %s cannot serve this request: its stored data is damaged (%s). Other ledgers are not affected; the operator must restore this ledger",
		name, where)
}

// checkRead is storageFailure for a read of l's data; a ledger not opened
// by an Engine returns err unchanged.
func (l *LedgerEngine) checkRead(where string, err error) error {
	if err == nil || l.damage == nil {
		return err
	}
	return l.damage(where, err)
}
