package stream

import (
	"errors"

	"github.com/strand-db/strand/internal/qldberr"
	"github.com/strand-db/strand/internal/store"
)

// requestError is the error a control-plane request gets when a write of
// its stream's keys failed with err. On a shared store the write is fenced
// (Options.Ownership): when this node no longer holds the ledger, or the
// ledger changed hands under the write (store.ErrConflict), nothing was
// written and the request is answered as QLDB answers a request it cannot
// serve at the moment, CapacityExceededException (503), which the SDKs
// retry; the retry is routed to the ledger's new owner. Damaged lease
// metadata is named (500, retrying would not help). Any other error is
// returned unchanged.
func (m *Manager) requestError(ledgerID, ledgerName string, err error) error {
	if err == nil || m.opts.Ownership == nil {
		return err
	}
	if d := m.leaseDamage(ledgerID, err); d != nil {
		return qldberr.New(qldberr.InternalFailure,
			"Ledger %s cannot be served: its cluster lease metadata row %s is corrupt. An operator must run strand repair lease --ledger %s",
			ledgerName, store.CorruptKey(d), ledgerName)
	}
	if errors.Is(err, errNotHeld) || errors.Is(err, store.ErrConflict) {
		return qldberr.New(qldberr.CapacityExceeded, "Ledger %s is moving to another node; retry the request", ledgerName)
	}
	return err
}

// cancelDurably makes a stream CANCELED and writes it: its worker must
// have stopped. When the write fails (this node lost the ledger, or the
// store failed) the stream is put back as it was, its worker started
// again, and the error returned: a cancellation is acknowledged only once
// it is durable, or another node would load the stream as it was and run
// it again.
func (m *Manager) cancelDurably(id string) error {
	m.mu.Lock()
	r, ok := m.streams[id]
	if !ok || terminal(r.def.Status) {
		m.mu.Unlock()
		return nil
	}
	prev := r.def
	m.mu.Unlock()
	if !m.markStatus(id, StatusCanceled, "") {
		return nil
	}
	if err := m.persist(id); err != nil {
		m.mu.Lock()
		if m.streams[id] == r && r.def.Status == StatusCanceled {
			r.def = prev
			m.opts.Metrics.setStatus(prev.LedgerName, id, prev.Status)
			m.startLocked(r)
		}
		m.mu.Unlock()
		m.opts.Logger.Warn("journal stream cancellation not written; the stream runs on", "stream_id", id, "err", err)
		return err
	}
	return nil
}
