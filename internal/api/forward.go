package api

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/strand-db/strand/internal/ledger"
	"github.com/strand-db/strand/internal/qldberr"
	"github.com/strand-db/strand/internal/store"
)

// Router finds the node that serves a ledger when several nodes share one
// store (package server implements it over package cluster's leases).
type Router interface {
	// Route returns the base URL of the node that serves ledgerName, or ""
	// when this node serves it (having taken its lease if it was free) or
	// when the ledger does not exist (this node then says so).
	Route(ctx context.Context, ledgerName string) (string, error)
}

// forwardedHeader marks a request one node forwarded to another: the
// receiver serves it itself and never forwards it again. It grants
// nothing: the receiver verifies the client's own signature, which the
// forwarder passes on unchanged with the body and the Host it signed.
const forwardedHeader = "X-Strand-Forwarded"

// hopHeaders are the hop-by-hop headers a proxy must not pass on (RFC 9110
// section 7.6.1).
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// routeLedger decides where a request for ledgerName is served: it returns
// the owner's URL to forward to, or "" to serve it here. A request that was
// forwarded already is served here, unless the ledger belongs to yet
// another node, which is an error the client retries (the ledger is
// changing hands).
//
// session says the request is a command of an existing session (see moving).
func (s *Handler) routeLedger(r *http.Request, ledgerName string, session bool) (string, *qldberr.Error) {
	if s.opts.Router == nil || ledgerName == "" {
		return "", nil
	}
	owner, err := s.opts.Router.Route(r.Context(), ledgerName)
	if store.IsCorruption(err) {
		// Damaged lease metadata: no node can serve the ledger until an
		// operator repairs it, so retrying would not help.
		s.log.Error("cannot route request: the ledger's lease metadata is damaged; run strand repair lease", "ledger", ledgerName,
			"row", string(store.CorruptKey(err)), "err", err)
		return "", qldberr.New(qldberr.InternalFailure,
			"Ledger %s cannot be served: its cluster lease metadata row %s is corrupt. An operator must run strand repair lease --ledger %s",
			ledgerName, store.CorruptKey(err), ledgerName)
	}
	if err != nil {
		s.log.Error("cannot route request to its ledger's node", "ledger", ledgerName, "err", err)
		return "", moving(ledgerName, session)
	}
	if owner != "" && r.Header.Get(forwardedHeader) != "" {
		return "", moving(ledgerName, session)
	}
	return owner, nil
}

// moving is the retryable error of a request for a ledger that no node can
// serve at this moment (its owner is unreachable or it is changing hands):
// InvalidSessionException for a command of an existing session, which the
// drivers retry with a new session, and CapacityExceededException (503)
// otherwise (StartSession, the control plane), which the SDKs' standard
// retryers retry.
func moving(ledgerName string, session bool) *qldberr.Error {
	if session {
		return qldberr.New(qldberr.InvalidSession, "Ledger %s is moving to another node; start a new session", ledgerName)
	}
	return qldberr.New(qldberr.CapacityExceeded, "Ledger %s is moving to another node; retry the request", ledgerName)
}

// dispatch serves a request for ledgerName on a store shared by several
// nodes: it reports false when this node serves it itself, and true when
// the request has been answered (forwarded to the owner, or refused). While
// the owner cannot be reached (it died and its lease has not run out yet)
// the request waits and is routed again, for up to Options.RouteWait, so
// that a failover looks like a slow answer rather than an error. A request
// is sent again only when it was never sent whole (the connection was
// refused or broke while it was written), is a read (GET), or is a
// StartSession or control-plane request whose owner lost the ledger while
// it waited (a failover). One whose answer was lost otherwise may have
// been served: answerLost decides what the client hears.
//
// kind says what the request is (see requestKind): whether it may be sent
// again after the connection to the owner broke once it was sent, and
// which retryable error it gets.
func (s *Handler) dispatch(w http.ResponseWriter, r *http.Request, body []byte, ledgerName string, kind requestKind) bool {
	session := kind != kindControl
	contentType := restJSON
	if r.Header.Get(targetHdr) != "" {
		contentType = awsJSON10
	}
	// The wait budget counts the pauses between attempts, not the time a
	// forwarded request spent with an owner that then lost its lease.
	waited := time.Duration(0)
	const pause = 100 * time.Millisecond
	started := time.Now()
	for {
		owner, rerr := s.routeLedger(r, ledgerName, session)
		if rerr != nil {
			writeError(w, contentType, rerr)
			return true
		}
		if owner == "" {
			return false
		}
		switch s.forward(w, r, body, owner, ledgerName) {
		case forwardAnswered:
			return true
		case forwardMoved:
			// The owner stopped answering and lost the ledger: a
			// control-plane request or StartSession goes to the new owner
			// (as after a failover); what was sent within a session is
			// answered as a lost answer.
			if kind != kindControl && s.answerLost(w, r, body, owner, ledgerName, kind, contentType, started) {
				return true
			}
		case forwardLost:
			if s.answerLost(w, r, body, owner, ledgerName, kind, contentType, started) {
				return true
			}
		}
		if waited >= s.opts.RouteWait {
			writeError(w, contentType, moving(ledgerName, session))
			return true
		}
		select {
		case <-r.Context().Done():
			writeError(w, contentType, moving(ledgerName, session))
			return true
		case <-time.After(pause):
			waited += pause
		}
	}
}

// forward sends the request, with the body already read, to the node at
// base and copies its answer back. The client's Host, signature headers and
// body go unchanged, so the owner verifies the client's own signature. Each
// attempt is bounded by Options.ForwardTimeout, so that an owner that
// accepts connections but never answers (black-holed by a partition
// between the nodes) cannot hold the client forever. It reports whether
// the answer was copied back, or, having written nothing, whether the
// request may have reached the owner (forwardLost) or surely did not
// (forwardUnreachable).
func (s *Handler) forward(w http.ResponseWriter, r *http.Request, body []byte, base, ledgerName string) forwardResult {
	out, err := http.NewRequestWithContext(r.Context(), r.Method, strings.TrimSuffix(base, "/")+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		s.log.Error("cannot forward request", "owner", base, "err", err)
		return forwardUnreachable
	}
	for k, vs := range r.Header {
		out.Header[k] = append([]string(nil), vs...)
	}
	for _, h := range hopHeaders {
		out.Header.Del(h)
	}
	out.Host = r.Host
	out.ContentLength = int64(len(body))
	out.Header.Set(forwardedHeader, "1")
	// An owner that stops answering (paused, partitioned) loses its lease
	// after the TTL; the request is then taken back and routed again
	// rather than left waiting on it.
	ctx, cancel := context.WithCancel(r.Context())
	if s.opts.ForwardTimeout > 0 {
		cancel()
		ctx, cancel = context.WithTimeout(r.Context(), s.opts.ForwardTimeout)
	}
	defer cancel()
	ctx, sent := traceSent(ctx)
	out = out.WithContext(ctx)
	var moved atomic.Bool
	stop := s.watchOwner(ctx, func() { moved.Store(true); cancel() }, ledgerName, base)
	resp, err := s.forwarder().Do(out)
	var answer []byte
	if err == nil {
		// The whole answer is read before any of it is passed on, so that
		// an answer cut short becomes a clear error rather than a
		// truncated body.
		answer, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	stop()
	if err != nil {
		if !sent() {
			s.log.Warn("ledger owner unreachable", "ledger", ledgerName, "owner", base, "err", err)
			return forwardUnreachable
		}
		if moved.Load() {
			return forwardMoved
		}
		s.log.Warn("lost the answer of a request forwarded to the ledger's owner", "ledger", ledgerName, "owner", base, "err", err)
		return forwardLost
	}
	for k, vs := range resp.Header {
		w.Header()[k] = append([]string(nil), vs...)
	}
	for _, h := range hopHeaders {
		w.Header().Del(h)
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(answer)
	return forwardAnswered
}

// watchOwner cancels a forwarded request (cancel) when the ledger's owner
// is no longer base, checking every Options.OwnerCheck until the returned
// stop is called.
func (s *Handler) watchOwner(ctx context.Context, cancel context.CancelFunc, ledgerName, base string) (stop func()) {
	every := s.opts.OwnerCheck
	if every <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if owner, err := s.opts.Router.Route(ctx, ledgerName); err == nil && owner != base {
					s.log.Warn("ledger owner stopped answering and lost its lease; routing the request again",
						"ledger", ledgerName, "former_owner", base, "owner", owner)
					cancel()
					return
				}
			}
		}
	}()
	return func() { close(done); <-exited }
}

// forwarder is the HTTP client that forwards to other nodes.
func (s *Handler) forwarder() *http.Client {
	if s.opts.ForwardClient != nil {
		return s.opts.ForwardClient
	}
	return http.DefaultClient
}

// controlLedger returns the ledger a control-plane request must be served
// by the owner of: the journal reads (digest, block, revision) and the
// journal streams of a ledger, and the tags of a stream or a table. Catalogue
// operations are served by any node ("").
func controlLedger(segs []string) string {
	switch {
	case len(segs) >= 3 && segs[0] == "ledgers" && segs[2] != "permissions-mode":
		return segs[1]
	case len(segs) == 2 && segs[0] == "tags":
		if a, err := ledger.ParseARN(segs[1]); err == nil && (a.StreamID != "" || a.TableID != "") {
			return a.Ledger
		}
	}
	return ""
}
