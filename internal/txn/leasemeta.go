package txn

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/qldberr"
	"github.com/strand-db/strand/internal/store"
)

// fenceChecker is implemented by an Ownership that can tell a damaged
// lease metadata row from another node's ownership when a fenced write is
// refused (package cluster: a *store.CorruptionError whose key is the
// ledger's lease or fence row).
type fenceChecker interface {
	CheckFence(ledgerID string) error
}

// checkFence returns the damage of ledger l's lease metadata after a
// fenced write of l was refused, or nil when the rows are intact (another
// node took the ledger) or cannot be checked.
func (e *Engine) checkFence(id string) error {
	fc, ok := e.opts.Ownership.(fenceChecker)
	if !ok {
		return nil
	}
	if err := fc.CheckFence(id); store.IsCorruption(err) {
		return err
	}
	return nil
}

// leaseDamage returns the client's error when err is damaged lease
// metadata of ledger id (a *store.CorruptionError whose key is its lease
// or fence row): InternalFailure naming the ledger and the row, wrapping
// err for the server's log. ok is false for any other error. The ledger
// is not marked damaged: its data is intact, and it is served again once
// an operator has repaired the row (strand repair lease).
func leaseDamage(id, name string, err error) (_ error, ok bool) {
	if !store.IsCorruption(err) {
		return nil, false
	}
	var ce *store.CorruptionError
	if !errors.As(err, &ce) {
		return nil, false
	}
	lay := journal.LedgerLayout(id)
	if !bytes.Equal(ce.Key, lay.Lease) && !bytes.Equal(ce.Key, lay.Fence) {
		return nil, false
	}
	reason := ce.Err
	if u := errors.Unwrap(reason); u != nil {
		reason = u
	}
	return fmt.Errorf("%w: txn: ledger %s: %w", qldberr.New(qldberr.InternalFailure,
		"Ledger %s cannot be served: its cluster lease metadata row %s is corrupt (%s). Nothing was committed. "+
			"An operator must run strand repair lease --ledger %s", name, ce.Key, store.FirstLine(reason), name), name, err), true
}
