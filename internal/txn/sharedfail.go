package txn

import (
	"errors"
	"fmt"

	"github.com/strand-db/strand/internal/qldberr"
	"github.com/strand-db/strand/internal/store"
)

// sharedStoreFailure answers a group whose durable write failed on a store
// shared by several nodes (PostgreSQL) for a reason other than the fence: a
// database that could not be reached, a connection that broke. The store
// itself is not known to be at fault, so the embedded store's answer
// (refuse every commit until a restart) would wedge the ledger for the
// whole cluster while this node kept renewing its lease. Instead:
//
//   - when the store says nothing was applied (store.ErrNotApplied), each
//     transaction gets InvalidSessionException, which the drivers retry
//     with a new session;
//   - otherwise (the connection broke during COMMIT) the outcome is unknown
//     and each gets BadRequestException saying so, which the drivers do not
//     retry (running the transaction again could commit it twice);
//
// and either way this engine's view of the ledger (its tip, tables, OCC
// state) may no longer be the store's, so it takes no more commits
// (l.failed is set) and the node gives the ledger up (Ownership.Abandon).
// Whoever takes it next opens it again from the store with a new fencing
// token, whose write waits for any transaction of this engine still
// holding the fence row: nothing half-known is built upon.
func (l *LedgerEngine) sharedStoreFailure(group []*commitRequest, err error) {
	notApplied := errors.Is(err, store.ErrNotApplied)
	for _, r := range group {
		var cerr error
		if notApplied {
			cerr = fmt.Errorf("%w: txn: %w", errAbandoned(l.Name), err)
		} else {
			cerr = fmt.Errorf("%w: txn: %w", errOutcomeUnknown(r.tx.ID, l.Name), err)
		}
		r.done <- commitResult{err: cerr}
	}
	go l.abandon()
}

// errAbandoned is the error of a commit that a shared store did not apply
// (or that came after one whose outcome is unknown): nothing of it was
// written.
func errAbandoned(name string) error {
	return qldberr.New(qldberr.InvalidSession,
		"Ledger %s could not commit on this node (its database connection failed); nothing of this transaction was written; start a new session", name)
}

// errOutcomeUnknown is the error of a commit whose COMMIT the database may
// or may not have applied.
func errOutcomeUnknown(txID, name string) error {
	return qldberr.New(qldberr.BadRequest,
		"The outcome of the commit of transaction %s is unknown: the connection to ledger %s's database broke during its COMMIT. "+
			"The transaction may or may not have committed; read the ledger before running it again", txID, name)
}

// abandon gives a ledger up after sharedStoreFailure (see
// Ownership.Abandon); the node's handler of a lost lease drops its engine.
func (e *Engine) abandon(ledgerID string) {
	// The lease is dropped from this node's memory before its release is
	// written: if that write fails too, the lease lapses after its TTL.
	_ = e.opts.Ownership.Abandon(ledgerID)
}
