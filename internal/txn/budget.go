package txn

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/strand-db/strand/internal/partiql"
	"github.com/strand-db/strand/internal/qldberr"
)

// This file bounds what one statement and the open transactions of a
// ledger may take from the machine: statements run under a context that
// ends with the transaction's 30 s deadline or when the client goes away,
// and under a budget of rows visited and memory held (partiql.Limits); the
// open transactions of a ledger together hold at most
// Options.MaxPendingBytesPerLedger bytes of pending documents, statement
// texts and result rows kept for FetchPage.

// errTxExpired is the cause of a statement context that reached its
// transaction's deadline.
var errTxExpired = errors.New("txn: transaction expired")

// StatementStats counts statements stopped before they finished, and the
// statements running now.
type StatementStats struct {
	Running  int64 // statements being evaluated now
	Expired  int64 // stopped because their transaction expired
	Canceled int64 // stopped because the client cancelled the request
	Budget   int64 // refused for exceeding the rows or memory budget
}

type statementStats struct {
	running, expired, canceled, budget atomic.Int64
}

// StatementStats reports the engine's statement counters (for metrics and
// tests).
func (e *Engine) StatementStats() StatementStats {
	return StatementStats{
		Running: e.stats.running.Load(), Expired: e.stats.expired.Load(),
		Canceled: e.stats.canceled.Load(), Budget: e.stats.budget.Load(),
	}
}

// PendingBytes reports what the open transactions of a ledger hold, as
// counted against Options.MaxPendingBytesPerLedger.
func (l *LedgerEngine) PendingBytes() int64 { return l.pending.Load() }

// statementContext derives the context a statement of t runs under: ctx
// (the request's), ended at the transaction's deadline with cause
// errTxExpired. The deadline is measured on the real clock from the time
// still left by Options.Now.
func (e *Engine) statementContext(ctx context.Context, t *Transaction) (context.Context, context.CancelFunc) {
	left := e.opts.TxTimeout - e.opts.Now().Sub(t.started)
	return context.WithTimeoutCause(ctx, left, errTxExpired)
}

// limits is the statement budget of the engine's options.
func (e *Engine) limits() partiql.Limits {
	return partiql.Limits{MaxRowsVisited: max(e.opts.MaxStatementRows, 0), MaxMemoryBytes: max(e.opts.MaxStatementMemory, 0)}
}

// stoppedStatement classifies an evaluation error: it counts a stopped or
// refused statement and returns the error the client gets. expired
// reports that the transaction ran out of time (the caller then ends it).
func (e *Engine) stoppedStatement(t *Transaction, err error) (out error, expired bool) {
	switch {
	case errors.Is(err, errTxExpired):
		e.stats.expired.Add(1)
		return qldberr.New(qldberr.InvalidSession, "Transaction %s has expired", t.ID), true
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		e.stats.canceled.Add(1)
		return qldberr.New(qldberr.BadRequest, "Statement cancelled: the client cancelled the request"), false
	case errors.Is(err, partiql.ErrBudget):
		e.stats.budget.Add(1)
	}
	return statementError(err), false
}

// reserve takes n bytes of the ledger's pending-bytes quota, or returns
// LimitExceededException when that would pass it.
func (l *LedgerEngine) reserve(n int64) error {
	if n <= 0 {
		l.pending.Add(n)
		return nil
	}
	if got := l.pending.Add(n); l.maxPending > 0 && got > l.maxPending {
		l.pending.Add(-n)
		return qldberr.New(qldberr.LimitExceeded,
			"Ledger %s exceeds the limit of %d bytes of pending writes and unread result pages held by its open transactions; commit or abort transactions and retry",
			l.Name, l.maxPending)
	}
	return nil
}

// hold charges n more bytes (negative: fewer) of t's pending state to its
// ledger; growth past the ledger's quota fails and charges nothing.
func (t *Transaction) hold(n int64) error {
	if n > 0 {
		if err := t.ledger.reserve(n); err != nil {
			return err
		}
	} else {
		t.ledger.pending.Add(n)
	}
	t.held += n
	return nil
}

// releaseExpired frees the memory of a session's transaction once it has
// expired, without waiting for the client's next command; that command
// still gets "Transaction <id> has expired". A session busy with a command
// is left alone (its command ends the transaction itself).
func (e *Engine) releaseExpired(s *Session, now time.Time) {
	if !s.mu.TryLock() {
		return
	}
	defer s.mu.Unlock()
	if t := s.tx; t != nil && now.Sub(t.started) > e.opts.TxTimeout {
		t.end()
		t.writes, t.writeOrder, t.undo, t.cursors, t.statements = nil, nil, nil, nil, nil
	}
}
