// Package txn owns QLDB sessions and transactions: session tokens and
// expiry, the 30-second transaction timeout, statement execution through
// package partiql, read sets for optimistic concurrency control, the commit
// digest computed exactly as the QLDB drivers do, and the per-ledger commit
// pipeline that turns transactions into journal blocks (group commit: a
// transaction is acknowledged only once its block is synced).
package txn

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/ledger"
	"github.com/strand-db/strand/internal/qldberr"
	"github.com/strand-db/strand/internal/store"
)

// Options configure an Engine. Zero values take the defaults noted.
type Options struct {
	MaxSessionsPerLedger int           // default 1500
	TxTimeout            time.Duration // default 30 s
	SessionIdle          time.Duration // default 60 s
	SessionLifetimeMin   time.Duration // default 13 min; each session lives a random time in [min, max]
	SessionLifetimeMax   time.Duration // default 17 min
	PageSize             int           // rows per result page; default 200
	// Tips records each ledger's acknowledged tip outside the store and
	// is checked when a ledger is opened (see journal.Tips); nil turns both off.
	Tips journal.Tips
	// Observer is told about every commit group and OCC conflict (nil:
	// nobody).
	Observer CommitObserver

	// MaxStatementRows bounds the rows one statement may visit (see
	// partiql.Limits); default 10,000,000, negative for no limit.
	MaxStatementRows int64
	// MaxStatementMemory bounds the approximate bytes one statement may
	// hold for its rows; default 512 MiB, negative for no limit.
	MaxStatementMemory int64
	// MaxPendingBytesPerLedger bounds what the open transactions of a ledger
	// hold in memory: their pending documents (Ion binary), statement texts
	// and result rows kept for FetchPage. Default 256 MiB, negative for no
	// limit.
	MaxPendingBytesPerLedger int64
	// PartiQLExtensions allows, on every ledger, what QLDB refused:
	// ORDER BY, LIMIT/OFFSET and unique indexes (see extensions.go).
	PartiQLExtensions bool

	// Ownership, when set, says which ledgers this node may serve: on a
	// store shared by several nodes (package cluster implements it) a
	// ledger is opened only while this node holds its lease, and every
	// commit batch expects the lease's fencing token. Nil: this node owns
	// every ledger of its store.
	Ownership Ownership

	Now func() time.Time
}

// Ownership tells which ledgers this node holds on a shared store.
type Ownership interface {
	// Fence returns what every write of this node for the ledger must
	// expect (store.Batch.Expect(key, value)), and false when this node
	// does not hold the ledger.
	Fence(ledgerID string) (key, value []byte, ok bool)
	// Take makes this node the ledger's owner if no live node is, and
	// reports whether this node holds it afterwards.
	Take(ledgerID string) (bool, error)
	// Abandon gives the ledger up because what this node keeps of it may
	// no longer be the store's (a commit failed with its outcome unknown):
	// the node drops the ledger's engine, and whoever takes it next opens
	// it again from the store under a new fencing token.
	Abandon(ledgerID string) error
}

// Defaults of the engine's quotas and budgets: the values a zero Options
// field takes, and config.Default's values for the flags that set them
// (each default is written here once).
const (
	DefaultMaxSessionsPerLedger     = 1500
	DefaultTxTimeout                = 30 * time.Second
	DefaultMaxStatementRows         = 10_000_000
	DefaultMaxStatementMemory       = 512 << 20
	DefaultMaxPendingBytesPerLedger = 256 << 20
)

func (o *Options) setDefaults() {
	if o.MaxSessionsPerLedger == 0 {
		o.MaxSessionsPerLedger = DefaultMaxSessionsPerLedger
	}
	if o.TxTimeout == 0 {
		o.TxTimeout = DefaultTxTimeout
	}
	if o.SessionIdle == 0 {
		o.SessionIdle = 60 * time.Second
	}
	if o.SessionLifetimeMin == 0 {
		o.SessionLifetimeMin = 13 * time.Minute
	}
	if o.SessionLifetimeMax < o.SessionLifetimeMin {
		o.SessionLifetimeMax = o.SessionLifetimeMin + 4*time.Minute
	}
	if o.PageSize == 0 {
		o.PageSize = 200
	}
	if o.MaxStatementRows == 0 {
		o.MaxStatementRows = DefaultMaxStatementRows
	}
	if o.MaxStatementMemory == 0 {
		o.MaxStatementMemory = DefaultMaxStatementMemory
	}
	if o.MaxPendingBytesPerLedger == 0 {
		o.MaxPendingBytesPerLedger = DefaultMaxPendingBytesPerLedger
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Engine serves the session API for every ledger of a catalogue.
type Engine struct {
	st      store.Store
	catalog *ledger.Catalog
	opts    Options

	mu       sync.Mutex
	ledgers  map[string]*LedgerEngine        // open ledger engines by catalogue id
	sessions map[string]*Session             // by token
	counts   map[string]int                  // open sessions per ledger id
	refused  map[string]*journal.JournalLoss // ledgers refused because acknowledged blocks are missing, by id
	done     chan struct{}
	janitor  sync.WaitGroup

	stats statementStats
}

// NewEngine returns an engine over the catalogue's ledgers.
func NewEngine(st store.Store, catalog *ledger.Catalog, opts Options) *Engine {
	opts.setDefaults()
	e := &Engine{st: st, catalog: catalog, opts: opts, ledgers: map[string]*LedgerEngine{},
		sessions: map[string]*Session{}, counts: map[string]int{}, refused: map[string]*journal.JournalLoss{}, done: make(chan struct{})}
	e.janitor.Add(1)
	go e.expireLoop()
	return e
}

// Ledger returns the engine of an ACTIVE ledger, opening it on first use.
// A ledger whose journal lacks acknowledged blocks (a *journal.JournalLoss when it
// is opened) is refused with a ResourcePreconditionNotMetException naming
// the missing blocks, until the server is restarted after an operator
// accepted the loss.
func (e *Engine) Ledger(name string) (*LedgerEngine, error) {
	meta, err := e.catalog.Active(name)
	if err != nil {
		return nil, err
	}
	var fence *fenceKV
	if e.opts.Ownership != nil {
		key, value, ok := e.opts.Ownership.Fence(meta.ID)
		if !ok {
			// Nobody may hold it (a ledger nobody used yet): take it.
			held, err := e.opts.Ownership.Take(meta.ID)
			if err != nil {
				return nil, e.storageFailure(meta.ID, meta.Name, "ledger lease", err)
			}
			if held {
				key, value, ok = e.opts.Ownership.Fence(meta.ID)
			}
		}
		if !ok {
			return nil, notHeld(meta.Name)
		}
		fence = &fenceKV{key: key, value: value}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if l, ok := e.ledgers[meta.ID]; ok {
		if fence == nil || bytes.Equal(l.fence.value, fence.value) {
			return l, nil
		}
		// This node lost the ledger and took it again since l was opened:
		// what l keeps in memory may be stale, so it is rebuilt.
		if old := e.dropLocked(meta.ID); old != nil {
			old.close()
		}
	}
	if loss := e.refused[meta.ID]; loss != nil {
		return nil, refusal(loss)
	}
	l, err := openLedger(e.st, e.opts.Tips, meta.ID, meta.Name, fence, e.opts.Now)
	var loss *journal.JournalLoss
	if errors.As(err, &loss) {
		e.refused[meta.ID] = loss
		return nil, refusal(loss)
	}
	if err != nil {
		return nil, e.storageFailure(meta.ID, meta.Name, "ledger state", err)
	}
	l.damage = func(where string, err error) error { return e.storageFailure(meta.ID, meta.Name, where, err) }
	l.SetDamage(l.damage)
	if fence != nil {
		l.fenceDamage = func() error { return e.checkFence(meta.ID) }
		l.abandon = func() { e.abandon(meta.ID) }
	}
	l.maxPending = e.opts.MaxPendingBytesPerLedger
	l.catalog = e.catalog
	l.extensions = e.opts.PartiQLExtensions
	l.observer = e.opts.observer()
	e.ledgers[meta.ID] = l
	return l, nil
}

// notHeld is the error of a ledger that another node serves (or that is
// changing hands). The drivers retry InvalidSessionException with a new
// session, which the api layer routes to the ledger's owner.
func notHeld(name string) error {
	return qldberr.New(qldberr.InvalidSession, "Ledger %s is served by another node; start a new session", name)
}

// Release closes the engine of a ledger this node no longer holds (its
// lease was lost or given up): its sessions end (their next command gets
// InvalidSessionException) and its committer stops after the queued
// commits, which its fencing token makes fail if another node took over.
// Nothing of the ledger's data is removed.
func (e *Engine) Release(ledgerID string) {
	e.mu.Lock()
	l := e.dropLocked(ledgerID)
	e.mu.Unlock()
	if l != nil {
		l.close()
	}
}

// dropLocked forgets a ledger's engine and sessions and returns the engine
// for closing (outside e.mu, unless its committer is known idle).
func (e *Engine) dropLocked(ledgerID string) *LedgerEngine {
	for tok, s := range e.sessions {
		if s.ledger.ID == ledgerID {
			delete(e.sessions, tok)
		}
	}
	delete(e.counts, ledgerID)
	l := e.ledgers[ledgerID]
	delete(e.ledgers, ledgerID)
	return l
}

// refusal is the client-visible error of a refused ledger.
func refusal(loss *journal.JournalLoss) error {
	return qldberr.Precondition("LEDGER", loss.Ledger,
		"Ledger %s is unavailable: its journal is missing acknowledged blocks: %s. An operator must restore the data directory from a backup or accept the loss with 'strand repair accept-journal-loss --ledger %s'",
		loss.Ledger, loss.Detail(), loss.Ledger)
}

// OpenAll opens every ACTIVE ledger of the catalogue, so that a journal
// missing acknowledged blocks is found at start-up rather than on first
// use. It returns the *journal.JournalLoss of each refused ledger (other ledgers
// keep serving) and the first other error.
func (e *Engine) OpenAll() ([]*journal.JournalLoss, error) {
	var losses []*journal.JournalLoss
	var first error
	for _, name := range e.catalog.Names() {
		meta, err := e.catalog.Active(name)
		if err != nil {
			continue
		}
		if _, err := e.Ledger(name); err != nil {
			e.mu.Lock()
			loss := e.refused[meta.ID]
			e.mu.Unlock()
			if loss != nil {
				losses = append(losses, loss)
			} else if first == nil {
				first = err
			}
		}
	}
	return losses, first
}

// DropLedger ends the sessions of a deleted ledger, stops its engine and
// removes its data.
func (e *Engine) DropLedger(meta ledger.Entry) error {
	e.Release(meta.ID)
	e.mu.Lock()
	delete(e.refused, meta.ID)
	e.mu.Unlock()
	k := newKeys(meta.ID)
	batch := e.st.NewBatch()
	defer batch.Close()
	if err := batch.DeleteRange(k.all(), store.PrefixEnd(k.all())); err != nil {
		return err
	}
	if err := e.st.Apply(batch); err != nil {
		return err
	}
	// The tip record goes after the journal: a crash in between leaves a
	// record of a ledger id that is never used again.
	if e.opts.Tips != nil {
		return e.opts.Tips.Remove(meta.ID)
	}
	return nil
}

// Close stops the engine: every ledger's committer finishes what is queued.
func (e *Engine) Close() {
	close(e.done)
	e.janitor.Wait()
	e.mu.Lock()
	ls := e.ledgers
	e.ledgers = map[string]*LedgerEngine{}
	e.sessions = map[string]*Session{}
	e.mu.Unlock()
	for _, l := range ls {
		l.close()
	}
}

// expireLoop frees the quota slots of expired sessions and the memory of
// expired transactions.
func (e *Engine) expireLoop() {
	defer e.janitor.Done()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-e.done:
			return
		case <-t.C:
			e.sweep(e.opts.Now())
		}
	}
}

// sweep closes the sessions expired at now and frees the pending state of
// the transactions expired at now.
func (e *Engine) sweep(now time.Time) {
	e.mu.Lock()
	stale := e.reapLocked(now, "")
	live := make([]*Session, 0, len(e.sessions))
	for _, s := range e.sessions {
		live = append(live, s)
	}
	e.mu.Unlock()
	for _, s := range stale {
		s.close()
	}
	for _, s := range live {
		e.releaseExpired(s, now)
	}
}

// reapLocked removes the expired sessions (of ledger ledgerID, or of every
// ledger when it is empty) and returns them for closing outside e.mu.
func (e *Engine) reapLocked(now time.Time, ledgerID string) []*Session {
	var stale []*Session
	for tok, s := range e.sessions {
		if (ledgerID == "" || s.ledger.ID == ledgerID) && s.expiredAt(now, e.opts) != "" {
			delete(e.sessions, tok)
			e.counts[s.ledger.ID]--
			stale = append(stale, s)
		}
	}
	return stale
}

// newToken returns a new session token: the ledger's name, a zero byte and
// 32 random bytes, in standard base64, so that any node of a cluster can
// tell from a token which ledger (and so which owner) it belongs to
// (TokenLedger). Only the random part makes it unguessable.
func newToken(ledgerName string) string {
	b := make([]byte, 0, len(ledgerName)+33)
	b = append(b, ledgerName...)
	b = append(b, 0)
	var r [32]byte
	if _, err := rand.Read(r[:]); err != nil {
		panic("txn: random source failed: " + err.Error())
	}
	return base64.StdEncoding.EncodeToString(append(b, r[:]...))
}

// TokenLedger returns the name of the ledger a session token of this
// server belongs to, and false for anything else.
func TokenLedger(token string) (string, bool) {
	if len(token) > 128 {
		return "", false
	}
	b, err := base64.StdEncoding.DecodeString(token)
	if err != nil || len(b) < 34 {
		return "", false
	}
	name, rest, ok := bytes.Cut(b, []byte{0})
	if !ok || len(rest) != 32 || len(name) == 0 {
		return "", false
	}
	return string(name), true
}

func randomDuration(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	n, err := rand.Int(rand.Reader, big.NewInt(int64(hi-lo)))
	if err != nil {
		return lo
	}
	return lo + time.Duration(n.Int64())
}

// StartSession opens a session on an ACTIVE ledger and returns its token.
// It may open the ledger (see Ledger), reading its journal; ctx is accepted
// for the blocking-call convention and not consulted.
func (e *Engine) StartSession(ctx context.Context, ledgerName string) (string, error) {
	if err := ledger.ValidateName("LedgerName", ledgerName); err != nil {
		return "", qldberr.New(qldberr.BadRequest, "%s", err.(*qldberr.Error).Message)
	}
	l, err := e.Ledger(ledgerName)
	if err != nil {
		if qe := qldberr.As(err); qe != nil && qe.Type == qldberr.ResourceNotFound {
			return "", qldberr.New(qldberr.BadRequest, "Ledger %s does not exist", ledgerName)
		}
		if qe := qldberr.As(err); qe != nil && qe.Type == qldberr.PreconditionNotMet {
			return "", qldberr.New(qldberr.BadRequest, "%s", qe.Message)
		}
		if qe := qldberr.As(err); qe != nil && qe.Type == qldberr.InvalidSession {
			// Another node holds the ledger (it is changing hands): a 503
			// the SDKs retry, since the drivers do not retry StartSession.
			return "", qldberr.New(qldberr.CapacityExceeded, "%s", strings.Replace(qe.Message, "; start a new session", "; retry", 1))
		}
		return "", err
	}
	now := e.opts.Now()
	s := newSession(l, now, now.Add(randomDuration(e.opts.SessionLifetimeMin, e.opts.SessionLifetimeMax)))
	e.mu.Lock()
	var stale []*Session
	if e.counts[l.ID] >= e.opts.MaxSessionsPerLedger {
		// Expired sessions not yet swept by expireLoop do not count.
		stale = e.reapLocked(now, l.ID)
	}
	full := e.counts[l.ID] >= e.opts.MaxSessionsPerLedger
	tok := ""
	if !full {
		tok = newToken(l.Name)
		e.sessions[tok] = s
		e.counts[l.ID]++
	}
	e.mu.Unlock()
	for _, st := range stale {
		st.close()
	}
	if full {
		return "", qldberr.New(qldberr.LimitExceeded, "Exceeded the limit of %d active sessions for ledger %s", e.opts.MaxSessionsPerLedger, ledgerName)
	}
	return tok, nil
}

// session finds a live session, expiring it when its time is up.
func (e *Engine) session(token string) (*Session, error) {
	if token == "" {
		return nil, qldberr.New(qldberr.BadRequest, "SessionToken is required for this command")
	}
	now := e.opts.Now()
	e.mu.Lock()
	s, ok := e.sessions[token]
	if !ok {
		e.mu.Unlock()
		return nil, qldberr.New(qldberr.InvalidSession, "Session does not exist or has expired; start a new session")
	}
	if why := s.expiredAt(now, e.opts); why != "" {
		delete(e.sessions, token)
		e.counts[s.ledger.ID]--
		e.mu.Unlock()
		s.close()
		return nil, qldberr.New(qldberr.InvalidSession, "%s", why)
	}
	e.mu.Unlock()
	return s, nil
}

// discard removes a session after an error that ends it.
func (e *Engine) discard(token string, s *Session) {
	e.mu.Lock()
	if cur, ok := e.sessions[token]; ok && cur == s {
		delete(e.sessions, token)
		e.counts[s.ledger.ID]--
	}
	e.mu.Unlock()
	s.close()
}

// EndSession closes a session (aborting its open transaction).
func (e *Engine) EndSession(token string) error {
	s, err := e.session(token)
	if err != nil {
		return err
	}
	e.discard(token, s)
	return nil
}

// Journal returns the journal of an ACTIVE ledger, opening the ledger on
// first use (see Ledger): the read side that stream workers tail.
func (e *Engine) Journal(ledgerName string) (journal.Reader, error) {
	l, err := e.Ledger(ledgerName)
	if err != nil {
		return nil, err
	}
	return l.Log, nil
}
