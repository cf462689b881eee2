// Package api is Strand's HTTP front: it authenticates requests (SigV4),
// decodes QLDB's rest-json control plane and awsJson1_0 session API, calls
// one engine method per request, and encodes the answer or an AWS-typed
// error. It holds no business logic.
package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/strand-db/strand/internal/api/sigv4"
	"github.com/strand-db/strand/internal/export"
	"github.com/strand-db/strand/internal/ledger"
	"github.com/strand-db/strand/internal/policy"
	"github.com/strand-db/strand/internal/qldberr"
	"github.com/strand-db/strand/internal/qldbid"
	"github.com/strand-db/strand/internal/stream"
	"github.com/strand-db/strand/internal/txn"
)

// MaxBodyBytes bounds a request body. The largest legitimate request is an
// ExecuteStatement with a 100,000-character statement and parameters of up
// to 128 KB each (base64 in JSON) inside a 4 MB transaction.
const MaxBodyBytes = 8 << 20

// Options configure a Server.
type Options struct {
	Region       string
	AccountID    string
	Credentials  map[string]string // empty: accept any well-formed signature
	MaxClockSkew time.Duration
	Ledgers      *ledger.Catalog
	Sessions     *txn.Engine
	Streams      *stream.Manager
	Exports      *export.Manager // nil: journal exports are refused
	Logger       *slog.Logger
	Now          func() time.Time // nil: time.Now

	// BodyReadTimeout bounds the time to receive a request's body once its
	// headers are in (zero: DefaultBodyReadTimeout).
	BodyReadTimeout time.Duration
	// ResponseWriteTimeout bounds each write of an answer to the client
	// (zero: DefaultResponseWriteTimeout); see timedWriter.
	ResponseWriteTimeout time.Duration
	// MaxInflightBodyBytes bounds the request-body bytes held at once
	// across all requests (zero: DefaultMaxInflightBodyBytes).
	MaxInflightBodyBytes int64
	// MaxConcurrentCommands bounds the SendCommand requests this node
	// serves at once (zero: DefaultMaxConcurrentCommands); see admitCommand.
	MaxConcurrentCommands int

	// Backup takes online backups (POST /strand/backup); nil refuses them.
	// BackupKeys are the access key ids allowed to take them when
	// Credentials are configured (none when empty); without credentials
	// any client may.
	Backup     Backuper
	BackupKeys map[string]bool

	// Policies, when set, are the IAM-style policies every request is
	// checked against (see authz.go); nil: every authenticated key may do
	// everything. Principals maps access key ids to principal names.
	// TableTags supplies table tags for aws:ResourceTag conditions (nil:
	// tables have none). ReloadPolicies serves POST /strand/policy/reload.
	Policies       *policy.Store
	Principals     map[string]string
	TableTags      TableTagger
	ReloadPolicies func() (policy.Changes, error)

	// Router, when set (several nodes on one shared store), names the node
	// that serves each ledger: session commands, journal reads and journal
	// stream requests for a ledger another node owns are forwarded to it
	// (see forward.go). ForwardClient sends them (nil: http.DefaultClient).
	Router        Router
	ForwardClient *http.Client
	// RouteWait bounds how long a request waits for a ledger whose owner
	// cannot be reached before it is refused with a retryable error.
	RouteWait time.Duration
	// ForwardTimeout bounds each attempt to forward a request to the
	// ledger's owner, the answer included (0: no bound).
	ForwardTimeout time.Duration
	// OwnerCheck is how often a forwarded request checks that its target
	// still owns the ledger (0: never); it is taken back when not.
	OwnerCheck time.Duration

	// Observer, when set, is told about every request (see observe.go).
	Observer Observer
}

// Handler serves both QLDB APIs on one handler.
type Handler struct {
	opts   Options
	auth   *sigv4.Verifier
	budget *bodyBudget
	cmds   *commandSlots
	log    *slog.Logger
	routes []route
}

// New returns a Server for opts.
func New(opts Options) *Handler {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.BodyReadTimeout <= 0 {
		opts.BodyReadTimeout = DefaultBodyReadTimeout
	}
	if opts.ResponseWriteTimeout <= 0 {
		opts.ResponseWriteTimeout = DefaultResponseWriteTimeout
	}
	if opts.MaxInflightBodyBytes <= 0 {
		opts.MaxInflightBodyBytes = DefaultMaxInflightBodyBytes
	}
	if opts.MaxConcurrentCommands <= 0 {
		opts.MaxConcurrentCommands = DefaultMaxConcurrentCommands
	}
	s := &Handler{
		opts:   opts,
		budget: &bodyBudget{max: opts.MaxInflightBodyBytes},
		cmds:   &commandSlots{max: int64(opts.MaxConcurrentCommands)},
		log:    opts.Logger,
		auth:   sigv4.NewVerifier(opts.Credentials, opts.Region, opts.MaxClockSkew, opts.Now),
	}
	s.routes = s.controlRoutes()
	return s
}

const (
	restJSON   = "application/json"
	awsJSON10  = "application/x-amz-json-1.0"
	targetHdr  = "X-Amz-Target"
	sessionTgt = "QLDBSession."
)

// ServeHTTP implements http.Handler. A request is checked in an order that
// keeps unauthenticated clients cheap: first everything of its signature the
// headers alone decide (checkHeaders), then its declared size and a share of
// the in-flight body budget, then its body is read within the body-read
// timeout, and only then are the payload hash and the signature verified
// and the request decoded. No panic escapes it: a handler that panics
// answers 500 InternalFailure and the stack goes to the log.
func (s *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w, observed := s.observe(s.timeWrites(w))
	defer observed()
	w.Header().Set("X-Amzn-RequestId", qldbid.New())
	session := r.Header.Get(targetHdr) != ""
	contentType := restJSON
	if session {
		contentType = awsJSON10
	}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler { //nolint:errorlint // the sentinel net/http compares by identity
				panic(p) // a deliberately cut-off response (see serveBackup)
			}
			s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			writeError(w, contentType, qldberr.New(qldberr.InternalFailure, "The request processing has failed because of an unknown error."))
		}
	}()
	ah, aerr := s.auth.CheckHeaders(r)
	if aerr != nil {
		closeUnread(w, r)
		writeError(w, contentType, aerr)
		return
	}
	body, release, berr := s.admitBody(w, r)
	if berr != nil {
		writeError(w, contentType, berr)
		return
	}
	defer release()
	if aerr := s.auth.CheckBody(r, ah, body); aerr != nil {
		writeError(w, contentType, aerr)
		return
	}
	if s.policiesOn() {
		r = r.WithContext(withCaller(r.Context(), s.callerFor(ah)))
	}
	if session {
		s.serveSession(w, r, body)
		return
	}
	if r.URL.Path == PolicyReloadPath {
		s.servePolicyReload(w, r, ah)
		return
	}
	if r.URL.Path == BackupPath {
		setOperation(w, OpBackup)
		s.serveBackup(w, r, ah)
		return
	}
	s.serveControl(w, r, body)
}

// serveSession handles the awsJson1_0 session API (POST / with X-Amz-Target).
func (s *Handler) serveSession(w http.ResponseWriter, r *http.Request, body []byte) {
	target := r.Header.Get(targetHdr)
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		writeError(w, awsJSON10, qldberr.New(errUnknownOperation, "The session API is served by POST /"))
		return
	}
	if !strings.HasPrefix(target, sessionTgt) {
		writeError(w, awsJSON10, qldberr.New(errUnknownOperation, "Unknown target %q", target))
		return
	}
	if op := strings.TrimPrefix(target, sessionTgt); op != "SendCommand" {
		writeError(w, awsJSON10, qldberr.New(errUnknownOperation, "Unknown operation %s: the session API has only SendCommand", op))
		return
	}
	if mt := r.Header.Get("Content-Type"); !strings.HasPrefix(mt, awsJSON10) && !strings.HasPrefix(mt, "application/x-amz-json-1.1") {
		writeError(w, awsJSON10, qldberr.New(errUnsupportedMedia, "Content-Type must be %s, got %q", awsJSON10, mt))
		return
	}
	s.sendCommand(w, r, body)
}

// decodeJSON strictly decodes a JSON request body into v. An empty body
// decodes as {}.
func decodeJSON(body []byte, v any) *qldberr.Error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			if te.Type == nil { // a timestamp member (epochIn) that is not a number
				return qldberr.New(errSerialization, "Member %s must be a timestamp in seconds since the epoch, got %s", te.Field, te.Value)
			}
			return qldberr.New(errSerialization, "Member %s has the wrong type: expected %s, got JSON %s", te.Field, te.Type, te.Value)
		}
		return qldberr.New(errSerialization, "The request body is not valid JSON")
	}
	if dec.More() {
		return qldberr.New(errSerialization, "The request body holds more than one JSON value")
	}
	return nil
}

// writeJSON sends a 200 response with v as its JSON body.
func writeJSON(w http.ResponseWriter, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, contentType, qldberr.New(qldberr.InternalFailure, "could not encode the response"))
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// toAWSError converts an engine error into a client-visible one. Errors
// that are not *qldberr.Error are internal: they are logged, and the client
// gets a generic InternalFailure without details.
func (s *Handler) toAWSError(err error) *qldberr.Error {
	if e := qldberr.As(err); e != nil {
		if e.Type == qldberr.InternalFailure && err != error(e) {
			// An InternalFailure wrapped with its cause: the cause is
			// for the log only.
			s.log.Error("internal error", "err", err)
		}
		return e
	}
	s.log.Error("internal error", "err", err)
	return qldberr.New(qldberr.InternalFailure, "The request processing has failed because of an unknown error.")
}
