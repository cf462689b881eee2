package txn

import (
	"bytes"
	"context"

	"github.com/strand-db/strand/internal/qldberr"
)

// commitOutcome is what a session remembers of its last CommitTransaction,
// so that the same command sent again gets the same answer. A node that
// forwards a commit to the ledger's owner and loses the connection before
// the answer comes sends it again (package api): had the owner answered
// "No open transaction", the driver would take a commit that may have
// happened for a failure, and one that answered a retryable error would
// have it run the transaction twice.
type commitOutcome struct {
	txID   string
	digest []byte
	io     IOUsage
	done   chan struct{} // closed once err is set
	err    error         // nil: committed
}

// beginCommit records that the session is committing txID with digest.
func (s *Session) beginCommit(txID string, digest []byte, io IOUsage) *commitOutcome {
	o := &commitOutcome{txID: txID, digest: digest, io: io, done: make(chan struct{})}
	s.last = o
	return o
}

// settle records the commit's real outcome (nil: committed); called once.
func (o *commitOutcome) settle(err error) {
	o.err = err
	close(o.done)
}

// repeated returns the session's last commit when a CommitTransaction of
// txID repeats it (txID is not the open transaction), else nil.
func (s *Session) repeated(txID string) *commitOutcome {
	if s.last == nil || s.last.txID != txID || (s.tx != nil && s.tx.ID == txID) {
		return nil
	}
	return s.last
}

// wait answers a repeated commit with digest: the first commit's digest and
// usage when it committed, its error when it failed, waiting while ctx
// lasts for an outcome not yet known (then errCommitCancelled, the outcome
// still unknown to the caller).
func (o *commitOutcome) wait(ctx context.Context, digest []byte) ([]byte, IOUsage, error) {
	if !bytes.Equal(digest, o.digest) {
		return nil, IOUsage{}, qldberr.New(qldberr.BadRequest, "Digests don't match")
	}
	select {
	case <-o.done:
	case <-ctx.Done():
		return nil, IOUsage{}, errCommitCancelled(o.txID)
	}
	if o.err != nil {
		return nil, IOUsage{}, o.err
	}
	return o.digest, o.io, nil
}

// errNeverCommitted is the outcome of a commit whose request was cancelled
// before the committer took it: it never commits. A repeated commit gets
// InvalidSessionException, which the drivers retry with a new session and
// a new transaction.
func errNeverCommitted(txID string) error {
	return qldberr.New(qldberr.InvalidSession, "Transaction %s was not committed: its commit was cancelled before it started; start a new session", txID)
}
