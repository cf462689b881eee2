package txn

import "time"

// CommitObserver is told about every commit group a ledger's committer
// writes, for metrics. Its methods run on the committer's goroutine and
// must not block.
type CommitObserver interface {
	// CommitGroup reports a group written durably (ok) or not: size
	// transactions shared one synced write that took sync (the store's
	// synced batch and the tip record).
	CommitGroup(size int, sync time.Duration, ok bool)
	// OCCConflict reports a commit refused with OccConflictException.
	OCCConflict()
}

// OpenSessions returns the number of open sessions on every ledger.
func (e *Engine) OpenSessions() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.sessions)
}

// observer returns the engine's CommitObserver, or one that ignores all.
func (o *Options) observer() CommitObserver {
	if o.Observer == nil {
		return ignoreCommits{}
	}
	return o.Observer
}

type ignoreCommits struct{}

func (ignoreCommits) CommitGroup(int, time.Duration, bool) {}
func (ignoreCommits) OCCConflict()                         {}
