package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/strand-db/strand/internal/api/sessionwire"
	"github.com/strand-db/strand/internal/qldberr"
	"github.com/strand-db/strand/internal/txn"
)

func toPage(p txn.Page) sessionwire.Page {
	out := sessionwire.Page{Values: make([]sessionwire.ValueHolder, len(p.Values))}
	for i, v := range p.Values {
		out.Values[i] = sessionwire.ValueHolder{IonBinary: v}
	}
	if p.NextPageToken != "" {
		tok := p.NextPageToken
		out.NextPageToken = &tok
	}
	return out
}

// sessionErrorPrefix namespaces __type the way the session service did.
const sessionErrorPrefix = "com.amazonaws.qldbsession#"

func (s *Handler) writeSessionError(w http.ResponseWriter, err error) {
	e := *s.toAWSError(err)
	w.Header().Set("X-Amzn-ErrorType", e.Type)
	writeErrorTyped(w, awsJSON10, &e, sessionErrorPrefix+e.Type)
}

// sendCommand serves QLDBSession.SendCommand. ctx is the request's: a
// statement stops when the client goes away.
func (s *Handler) sendCommand(w http.ResponseWriter, r *http.Request, body []byte) {
	ctx := r.Context()
	started := time.Now()
	var in sessionwire.Request
	if err := decodeSendCommand(body, &in); err != nil {
		s.writeSessionError(w, err)
		return
	}
	setOperation(w, commandOf(&in))
	n := 0
	for _, set := range []bool{in.StartSession != nil, in.StartTransaction != nil, in.ExecuteStatement != nil,
		in.FetchPage != nil, in.CommitTransaction != nil, in.AbortTransaction != nil, in.EndSession != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		s.writeSessionError(w, qldberr.New(qldberr.BadRequest, "Exactly one command must be set in a SendCommand request, got %d", n))
		return
	}
	token := ""
	if in.SessionToken != nil {
		token = *in.SessionToken
	}
	if in.StartSession == nil && token == "" {
		s.writeSessionError(w, qldberr.New(qldberr.BadRequest, "The parameter SessionToken is required for this command"))
		return
	}
	if in.StartSession == nil && !validToken(token) {
		s.writeSessionError(w, qldberr.New(qldberr.BadRequest, "The parameter SessionToken is not valid"))
		return
	}
	// On a shared store the ledger's owner serves the session: the ledger is
	// named by StartSession, and by the session token after it.
	ledgerName := ""
	if in.StartSession != nil {
		ledgerName = in.StartSession.LedgerName
	} else if name, ok := txn.TokenLedger(token); ok {
		ledgerName = name
	}
	if aerr := s.authorizeSession(r, ledgerName); aerr != nil {
		s.writeSessionError(w, aerr)
		return
	}
	ctx = s.statementAuthorizer(ctx)
	// A StartSession that cannot be routed gets a 503 the SDKs retry (the
	// drivers do not retry a failed StartSession themselves); a command of
	// an existing session gets InvalidSessionException, which the drivers
	// retry with a new session.
	if s.dispatch(w, r, body, ledgerName, requestKindOf(&in)) {
		return
	}
	// Commands that only give resources back (EndSession, AbortTransaction)
	// are always admitted: refusing them would prolong the overload.
	if in.EndSession == nil && in.AbortTransaction == nil {
		if !s.cmds.acquire() {
			s.writeSessionError(w, qldberr.New(qldberr.CapacityExceeded,
				"This node is serving its limit of %d concurrent commands; retry with backoff", s.cmds.max))
			return
		}
		defer s.cmds.release()
	}
	e := s.opts.Sessions
	elapsed := func() sessionwire.Timed {
		return sessionwire.Timed{TimingInformation: sessionwire.TimingInformation{ProcessingTimeMilliseconds: time.Since(started).Milliseconds()}}
	}
	var out sessionwire.Response
	var err error
	switch {
	case in.StartSession != nil:
		var tok string
		tok, err = e.StartSession(ctx, in.StartSession.LedgerName)
		out.StartSession = &sessionwire.StartSessionResult{SessionToken: tok, Timed: elapsed()}
	case in.StartTransaction != nil:
		var id string
		id, err = e.StartTransaction(token)
		out.StartTransaction = &sessionwire.StartTransactionResult{TransactionId: id, Timed: elapsed()}
	case in.ExecuteStatement != nil:
		x := in.ExecuteStatement
		params := make([]txn.Param, len(x.Parameters))
		for i, p := range x.Parameters {
			switch {
			case p.IonBinary != nil && p.IonText == nil:
				params[i] = txn.Param{IonBinary: p.IonBinary}
			case p.IonText != nil && p.IonBinary == nil:
				params[i] = txn.Param{IonText: *p.IonText}
			default:
				err = qldberr.New(qldberr.BadRequest, "Parameter %d must set exactly one of IonBinary and IonText", i+1)
			}
		}
		if err == nil {
			var pg txn.Page
			var io txn.IOUsage
			pg, io, err = e.ExecuteStatement(ctx, token, x.TransactionId, x.Statement, params)
			out.ExecuteStatement = &sessionwire.ExecuteStatementResult{FirstPage: toPage(pg), ConsumedIOs: sessionwire.IOUsage(io), Timed: elapsed()}
		}
	case in.FetchPage != nil:
		var pg txn.Page
		var io txn.IOUsage
		pg, io, err = e.FetchPage(token, in.FetchPage.TransactionId, in.FetchPage.NextPageToken)
		out.FetchPage = &sessionwire.FetchPageResult{Page: toPage(pg), ConsumedIOs: sessionwire.IOUsage(io), Timed: elapsed()}
	case in.CommitTransaction != nil:
		var digest []byte
		var io txn.IOUsage
		digest, io, err = e.CommitTransaction(ctx, token, in.CommitTransaction.TransactionId, in.CommitTransaction.CommitDigest)
		out.CommitTransaction = &sessionwire.CommitTransactionResult{TransactionId: in.CommitTransaction.TransactionId,
			CommitDigest: digest, ConsumedIOs: sessionwire.IOUsage(io), Timed: elapsed()}
	case in.AbortTransaction != nil:
		err = e.AbortTransaction(token)
		t := elapsed()
		out.AbortTransaction = &t
	case in.EndSession != nil:
		err = e.EndSession(token)
		t := elapsed()
		out.EndSession = &t
	}
	if err != nil {
		s.writeSessionError(w, err)
		return
	}
	writeSendCommand(w, &out)
}

// validToken checks the model's SessionToken shape: 4–1024 characters of
// ^[A-Za-z-0-9+/=]+$.
func validToken(t string) bool {
	if len(t) < 4 || len(t) > 1024 {
		return false
	}
	return strings.Trim(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-") == ""
}
