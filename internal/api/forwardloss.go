package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"time"

	"github.com/strand-db/strand/internal/api/sessionwire"
	"github.com/strand-db/strand/internal/qldberr"
)

// requestKind says what a request routed to a ledger's owner is, which
// decides what happens when the connection to the owner breaks after the
// request was sent (see answerLost).
type requestKind int

const (
	// kindControl is a control-plane request or a StartSession.
	kindControl requestKind = iota
	// kindSession is a command of an existing session other than a commit.
	kindSession
	// kindCommit is a CommitTransaction.
	kindCommit
)

// requestKindOf is the requestKind of a SendCommand.
func requestKindOf(in *sessionwire.Request) requestKind {
	switch {
	case in.StartSession != nil:
		return kindControl
	case in.CommitTransaction != nil:
		return kindCommit
	}
	return kindSession
}

// forwardResult is how an attempt to forward a request ended.
type forwardResult int

const (
	// forwardAnswered: the owner's answer was copied to the client.
	forwardAnswered forwardResult = iota
	// forwardUnreachable: the request never reached the owner whole (the
	// connection was refused, or broke while the request was written).
	forwardUnreachable
	// forwardLost: the request was sent whole and no answer came back (the
	// connection broke, or the attempt timed out): the owner may have
	// served it.
	forwardLost
	// forwardMoved: as forwardLost, but the attempt was taken back because
	// the owner lost the ledger meanwhile (it stopped answering and its
	// lease ran out).
	forwardMoved
)

// traceSent returns ctx with a trace that records whether the request was
// written whole, and the function that reports it.
func traceSent(ctx context.Context) (context.Context, func() bool) {
	var sent atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				sent.Store(true)
			}
		},
	})
	return ctx, sent.Load
}

// answerLost answers the client of a request whose answer from the owner
// at base was lost after it was sent, or reports false to have dispatch
// route and send it again (reads only). What a driver does with the answer
// decides it:
//
//   - A command of a session (a statement, a page, a StartTransaction) may
//     have run: sending it again could run a statement twice in the
//     transaction. It gets InvalidSessionException, which the drivers
//     retry with a new session and a new transaction; the old transaction
//     is never committed (only a CommitTransaction commits, and the driver
//     sends none for it).
//   - A CommitTransaction may have committed. Answering a retryable error
//     would make the driver run the transaction again and commit it twice.
//     So it is sent again to the same owner, which answers a repeated
//     commit of a session's last transaction with that commit's outcome
//     (package txn), at least twice and until Options.ForwardTimeout has
//     passed since the loss, or until the ledger moved to another node. If no answer comes, the
//     client gets BadRequestException saying that the outcome is unknown,
//     which the drivers do not retry: the transaction may or may not have
//     committed, as when a client's own connection breaks during a commit.
//   - A control-plane request or a StartSession that changes something gets
//     a 503 CapacityExceededException, which the SDKs' standard retryers
//     retry, as they retry a request whose connection broke; a read (GET)
//     is routed and sent again while less than Options.ForwardTimeout has
//     passed since the request's first attempt (started), then gets the
//     503 too.
func (s *Handler) answerLost(w http.ResponseWriter, r *http.Request, body []byte, base, ledgerName string, kind requestKind, contentType string, started time.Time) bool {
	switch kind {
	case kindSession:
		writeError(w, contentType, qldberr.New(qldberr.InvalidSession,
			"The connection to the node serving ledger %s broke before it answered, so the command may or may not have run; start a new session", ledgerName))
		return true
	case kindCommit:
		s.resendCommit(w, r, body, base, ledgerName, contentType)
		return true
	}
	if r.Method == http.MethodGet && (s.opts.ForwardTimeout <= 0 || time.Since(started) < s.opts.ForwardTimeout) {
		return false
	}
	writeError(w, contentType, qldberr.New(qldberr.CapacityExceeded,
		"The connection to the node serving ledger %s broke before it answered, so the request may or may not have been applied; check before retrying it", ledgerName))
	return true
}

// resendCommit sends a CommitTransaction whose answer was lost to the
// ledger's owner again, and copies back the first answer that comes; see
// answerLost.
func (s *Handler) resendCommit(w http.ResponseWriter, r *http.Request, body []byte, base, ledgerName, contentType string) {
	budget := s.opts.ForwardTimeout
	if budget <= 0 {
		budget = defaultResendBudget
	}
	deadline := time.Now().Add(budget)
	const pause = 100 * time.Millisecond
	// At least two attempts: a link that heals while the first is held
	// still gets its answer through the second.
	for attempt := 1; attempt <= 2 || time.Now().Before(deadline); attempt++ {
		select {
		case <-r.Context().Done():
			attempt, deadline = 2, time.Time{}
			continue
		case <-time.After(pause):
		}
		owner, err := s.opts.Router.Route(r.Context(), ledgerName)
		if err == nil && owner != base {
			// The ledger moved: the owner that had the session is no
			// longer serving it, and nobody else knows the outcome.
			s.log.Warn("the ledger moved before a lost commit's outcome was known", "ledger", ledgerName, "former_owner", base, "owner", owner)
			break
		}
		if err != nil {
			continue
		}
		if s.forward(w, r, body, base, ledgerName) == forwardAnswered {
			s.log.Info("a lost commit's outcome was learnt by sending the commit again", "ledger", ledgerName, "owner", base, "attempts", attempt)
			return
		}
	}
	writeError(w, contentType, qldberr.New(qldberr.BadRequest,
		"The outcome of the commit of transaction %s is unknown: the connection to the node serving ledger %s broke after the commit was sent and before it answered. "+
			"The transaction may or may not have committed; read the ledger before running it again", commitTxID(body), ledgerName))
}

// defaultResendBudget is how long a lost commit is sent again when
// Options.ForwardTimeout is 0.
const defaultResendBudget = 30 * time.Second

// commitTxID is the TransactionId of a SendCommand body carrying a
// CommitTransaction ("" when it has none).
func commitTxID(body []byte) string {
	var in struct {
		CommitTransaction struct {
			TransactionId string
		}
	}
	_ = json.Unmarshal(body, &in)
	return qldberr.Clip(in.CommitTransaction.TransactionId)
}
