package cluster

// Abandon gives up a held lease because this node can no longer trust
// what it keeps in memory of the ledger (a commit's outcome is unknown:
// the connection to the database broke during it). The lease is released
// and Options.Lost is called, so that the node drops the ledger's engine,
// sessions and streams; whichever node takes the ledger next (this one
// included) takes a new fencing token, whose write waits for any
// transaction of the old engine still holding the fence row, and opens the
// ledger again from the store. A lease not held is no error.
func (s *Leases) Abandon(ledgerID string) error {
	s.gmu.Lock()
	s.mu.Lock()
	_, held := s.held[ledgerID]
	s.mu.Unlock()
	err := s.release(ledgerID)
	s.gmu.Unlock()
	if held {
		s.opts.Logger.Warn("giving up a ledger's lease: a write's outcome on the store is unknown, so the ledger is opened again from the store",
			"ledger_id", ledgerID, "node", s.opts.NodeID, "release_err", err)
	}
	if held && s.opts.Lost != nil {
		s.opts.Lost(ledgerID)
	}
	return err
}
