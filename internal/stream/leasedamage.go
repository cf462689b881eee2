package stream

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/strand-db/strand/internal/store"
)

// fenceChecker is implemented by an Ownership that can tell damaged lease
// metadata from another node's ownership when a fenced write is refused
// (package cluster: CheckFence returns a *store.CorruptionError naming the
// ledger's damaged lease or fence row).
type fenceChecker interface {
	CheckFence(ledgerID string) error
}

// leaseDamage returns, for a write of ledgerID refused by the store
// (store.ErrConflict), the damage of the ledger's lease metadata when that
// is why it was refused (its fence row no longer holds the lease's token,
// so every fenced write fails although no other node took the ledger), and
// nil for any other error or when the rows are intact or cannot be checked.
func (m *Manager) leaseDamage(ledgerID string, err error) error {
	if m.opts.Ownership == nil || !errors.Is(err, store.ErrConflict) {
		return nil
	}
	fc, ok := m.opts.Ownership.(fenceChecker)
	if !ok {
		return nil
	}
	if cerr := fc.CheckFence(ledgerID); store.IsCorruption(cerr) {
		return cerr
	}
	return nil
}

// checkpointRefused handles a checkpoint write that failed with err and
// reports whether the worker must stop. Damaged lease metadata is named as
// such: the stream becomes IMPAIRED (an internal fault, logged with the
// damaged row) and the worker retries with backoff, so that it resumes
// once an operator has repaired the row (strand repair lease) or, if the
// repair hands the ledger to another node, stops when this node loses the
// lease. A stream removed, or a ledger held by another node, stops the
// worker without a status change; any other error is an internal fault.
func (w *worker) checkpointRefused(err error) (stop bool) {
	if d := w.m.leaseDamage(w.def.LedgerID, err); d != nil {
		w.internalFault("checkpoint not saved: its ledger's lease metadata is damaged (row "+string(store.CorruptKey(d))+
			"); no node can write for the ledger until an operator runs strand repair lease",
			fmt.Errorf("%w (the store refused the write: %w)", d, err))
		return false
	}
	if lostLedger(err) && w.m.fenceRestored(w.def.LedgerID, err) {
		// The row that refused the write (damaged, say) holds this node's
		// token again (repaired): the refusal is over, so write again.
		w.internalFault("checkpoint not saved: the ledger's fence row refused the write and now holds this node's token again", err)
		return false
	}
	if lostLedger(err) {
		w.m.opts.Logger.Info("journal stream stopped: removed, or its ledger is held by another node", append(w.log(), "err", err)...)
		return true
	}
	w.internalFault("checkpoint not saved", err)
	return false
}

// fenceRestored reports, for a write of ledgerID refused by the store
// (store.ErrConflict), whether this node still holds the ledger and the
// stored fence row now holds exactly what its writes expect: the refusal
// came from a fence row that has since been put back (a damaged row
// repaired between the write and this check), not from another node.
func (m *Manager) fenceRestored(ledgerID string, err error) bool {
	if m.opts.Ownership == nil || !errors.Is(err, store.ErrConflict) {
		return false
	}
	key, want, ok := m.opts.Ownership.Fence(ledgerID)
	if !ok {
		return false
	}
	got, found, gerr := m.opts.Store.Get(key)
	return gerr == nil && found && bytes.Equal(got, want)
}
