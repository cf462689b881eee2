package txn

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/partiql"
	"github.com/strand-db/strand/internal/qldberr"
	"github.com/strand-db/strand/internal/qldbhash"
	"github.com/strand-db/strand/internal/qldbid"
)

// Session is one QLDB session: at most one open transaction at a time.
type Session struct {
	ID      string
	ledger  *LedgerEngine
	created time.Time
	expires time.Time

	lastUsed atomic.Int64 // unix nanos of the last command
	mu       sync.Mutex   // serializes commands
	tx       *Transaction
	last     *commitOutcome // the last CommitTransaction (see recommit.go)
}

func newSession(l *LedgerEngine, now, expires time.Time) *Session {
	s := &Session{ID: qldbid.New(), ledger: l, created: now, expires: expires}
	s.lastUsed.Store(now.UnixNano())
	return s
}

// expiredAt returns why the session is no longer usable at now, or "".
func (s *Session) expiredAt(now time.Time, o Options) string {
	if !now.Before(s.expires) {
		return fmt.Sprintf("Session %s has expired", s.ID)
	}
	if now.Sub(time.Unix(0, s.lastUsed.Load())) > o.SessionIdle {
		return fmt.Sprintf("Exceeded the session idle time limit: Session %s", s.ID)
	}
	return ""
}

// close ends the open transaction, if any.
func (s *Session) close() {
	s.mu.Lock()
	if s.tx != nil {
		s.tx.end()
		s.tx = nil
	}
	s.mu.Unlock()
}

// Page is one page of statement results: each value a self-contained Ion
// binary stream. NextPageToken is empty on the last page.
type Page struct {
	Values        [][]byte
	NextPageToken string
}

// IOUsage is what a command read and wrote (ConsumedIOs).
type IOUsage struct {
	ReadIOs  int64
	WriteIOs int64
}

// Param is one statement parameter as sent: Ion binary or Ion text.
type Param struct {
	IonBinary []byte
	IonText   string
}

// cursor holds the rows of a statement not yet fetched.
type cursor struct {
	rows  [][]byte
	bytes int64 // charged to the ledger's pending-bytes quota
}

// withSession runs fn with the session locked. If fn returns an error
// that ends the session, the session is discarded.
func (e *Engine) withSession(token string, fn func(s *Session) error) error {
	s, err := e.session(token)
	if err != nil {
		return err
	}
	s.mu.Lock()
	err = s.ledger.checkRead("documents", fn(s))
	s.lastUsed.Store(e.opts.Now().UnixNano())
	s.mu.Unlock()
	if qe := qldberr.As(err); qe != nil && qe.Type == qldberr.InvalidSession {
		e.discard(token, s)
	}
	return err
}

// openTx returns the session's open transaction with the given id.
func (e *Engine) openTx(s *Session, txID string) (*Transaction, error) {
	if s.tx == nil {
		return nil, qldberr.New(qldberr.BadRequest, "No open transaction")
	}
	if s.tx.ID != txID {
		return nil, qldberr.New(qldberr.BadRequest, "Transaction %s is not the open transaction of this session", txID)
	}
	if e.opts.Now().Sub(s.tx.started) > e.opts.TxTimeout {
		id := s.tx.ID
		s.tx.end()
		s.tx = nil
		return nil, qldberr.New(qldberr.InvalidSession, "Transaction %s has expired", id)
	}
	return s.tx, nil
}

// StartTransaction opens a transaction in the session.
func (e *Engine) StartTransaction(token string) (string, error) {
	var id string
	err := e.withSession(token, func(s *Session) error {
		now := e.opts.Now()
		if s.tx != nil {
			if now.Sub(s.tx.started) <= e.opts.TxTimeout {
				return qldberr.New(qldberr.BadRequest, "Transaction already open")
			}
			s.tx.end()
			s.tx = nil
		}
		s.tx = newTransaction(s.ledger, now)
		id = s.tx.ID
		return nil
	})
	return id, err
}

// AbortTransaction ends the open transaction, if any, writing nothing.
func (e *Engine) AbortTransaction(token string) error {
	return e.withSession(token, func(s *Session) error {
		if s.tx != nil {
			s.tx.end()
			s.tx = nil
		}
		return nil
	})
}

// parseCache keeps parsed statements; drivers send the same texts again
// and again. It is bounded by clearing when full.
var parseCache = struct {
	sync.Mutex
	m map[string]*partiql.Statement
}{m: map[string]*partiql.Statement{}}

func parseStatement(text string) (*partiql.Statement, error) {
	parseCache.Lock()
	st, ok := parseCache.m[text]
	parseCache.Unlock()
	if ok {
		return st, nil
	}
	st, err := partiql.Parse(text)
	if err != nil {
		return nil, err
	}
	parseCache.Lock()
	if len(parseCache.m) >= 4096 {
		parseCache.m = map[string]*partiql.Statement{}
	}
	parseCache.m[text] = st
	parseCache.Unlock()
	return st, nil
}

// statementError turns an evaluation error into what the client sees.
func statementError(err error) error {
	var pe *partiql.Error
	if errors.As(err, &pe) {
		return &qldberr.Error{Type: qldberr.BadRequest, Code: pe.Code, Message: pe.Message}
	}
	return err
}

// decodeParam decodes and hashes parameter i (0-based), or refuses it as
// a BadRequestException naming it: when it is longer than the QLDBSession
// model allows a ValueHolder (as QLDB's request validation did), nested
// too deep, not valid UTF-8 or not a single Ion value.
func decodeParam(i int, p Param) (*ionvalue.Value, []byte, error) {
	raw := p.IonBinary
	if raw == nil {
		raw = []byte(p.IonText)
	}
	if p.IonBinary != nil && len(p.IonBinary) > MaxParamBinaryBytes {
		return nil, nil, qldberr.New(qldberr.BadRequest, "Parameter %d: IonBinary is %d bytes, more than the limit of %d", i+1, len(p.IonBinary), MaxParamBinaryBytes)
	}
	if p.IonBinary == nil && len(p.IonText) > MaxParamTextChars {
		if n := utf8.RuneCountInString(p.IonText); n > MaxParamTextChars {
			return nil, nil, qldberr.New(qldberr.BadRequest, "Parameter %d: IonText is %d characters, more than the limit of %d", i+1, n, MaxParamTextChars)
		}
	}
	v, h, err := qldbhash.HashIonValue(raw)
	switch {
	case err == nil:
		return v, h, nil
	case errors.Is(err, ionvalue.ErrTooDeep):
		return nil, nil, qldberr.New(qldberr.BadRequest, "Parameter %d: Ion nesting depth exceeds the limit of %d", i+1, ionvalue.MaxDepth)
	case errors.Is(err, ionvalue.ErrInvalidText):
		return nil, nil, qldberr.New(qldberr.BadRequest, "Parameter %d: Ion text is not valid UTF-8", i+1)
	}
	return nil, nil, qldberr.New(qldberr.BadRequest, "Parameter %d is not a single valid Ion value", i+1)
}

// ExecuteStatement runs one statement in the open transaction and
// returns the first page of its results. The statement stops when ctx is
// done (the client went away: BadRequestException, the statement undone)
// or when the transaction's timeout passes (InvalidSessionException
// "Transaction <id> has expired"; the transaction ends and the session is
// discarded, as when the timeout is noticed between statements). A
// statement over the rows or memory budget (Options) is a
// BadRequestException and is undone; the transaction stays open. A
// statement text that would take the ledger's open transactions past
// Options.MaxPendingBytesPerLedger is a LimitExceededException.
func (e *Engine) ExecuteStatement(ctx context.Context, token, txID, statement string, params []Param) (Page, IOUsage, error) {
	var page Page
	var io IOUsage
	err := e.withSession(token, func(s *Session) error {
		t, err := e.openTx(s, txID)
		if err != nil {
			return err
		}
		if n := len([]rune(statement)); n == 0 || n > MaxStatementChars {
			return qldberr.New(qldberr.BadRequest, "Statement must be 1 to %d characters, got %d", MaxStatementChars, n)
		}
		start := e.opts.Now()
		// The statement enters the commit digest as soon as it is received,
		// as the drivers fold it before sending.
		sh := qldbhash.HashString(statement)
		values := make([]*ionvalue.Value, len(params))
		for i, p := range params {
			v, h, perr := decodeParam(i, p)
			if perr != nil {
				t.digest.Add(sh)
				return perr
			}
			sh = qldbhash.Dot(sh, h)
			values[i] = v
		}
		t.digest.Add(sh)
		parsed, err := parseStatement(statement)
		if err != nil {
			return statementError(err)
		}
		runTx, guard, err := authorizeStatement(ctx, s.ledger, t, parsed)
		if err != nil {
			return err
		}
		textBytes := int64(len(statement))
		if err := t.hold(textBytes); err != nil {
			return err
		}
		t.stmtBytes += textBytes
		mark := len(t.undo)
		t.current = len(t.statements)
		t.statements = append(t.statements, journal.StatementInfo{Statement: statement, StartTime: start.UTC().Truncate(time.Millisecond), StatementDigest: sh})
		readsBefore := t.docsRead
		sctx, cancel := e.statementContext(ctx, t)
		e.stats.running.Add(1)
		res, err := partiql.ExecuteContext(sctx, runTx, parsed, values, e.limits())
		if err == nil {
			err = guard.check()
		}
		e.stats.running.Add(-1)
		cancel()
		undo := func() {
			t.rollbackTo(mark)
			t.statements = t.statements[:len(t.statements)-1]
			t.stmtBytes -= textBytes
			t.syncHeld()
		}
		if err != nil {
			undo()
			out, expired := e.stoppedStatement(t, err)
			if expired {
				s.tx = nil
				t.end()
			}
			return out
		}
		// Encode the rows, letting each value go once encoded, so the
		// statement never holds both forms of its whole result.
		rows := make([][]byte, len(res.Rows))
		for i, r := range res.Rows {
			b, err := ionvalue.MarshalBinary(r)
			if errors.Is(err, ionvalue.ErrTooDeep) {
				// A statement can wrap a document of MaxDepth in further containers.
				undo()
				return qldberr.New(qldberr.BadRequest, "Result %d: Ion nesting depth exceeds the limit of %d", i+1, ionvalue.MaxStoredDepth)
			}
			if err != nil {
				undo()
				return fmt.Errorf("txn: encode row: %w", err)
			}
			rows[i] = b
			res.Rows[i] = nil
		}
		if page, err = e.pageOf(t, rows, 0); err != nil {
			undo()
			return err
		}
		t.undo = t.undo[:0]
		reads := res.DocumentsRead
		if reads == 0 {
			reads = t.docsRead - readsBefore
		}
		io = IOUsage{ReadIOs: reads, WriteIOs: int64(res.DocumentsWritten)}
		return nil
	})
	return page, io, err
}

// pageOf returns the first page of rows, keeping the rest behind a token.
// The rows kept count against the ledger's pending-bytes quota; charged is
// what these rows were already charged (a cursor being paged on). Past
// the quota it returns LimitExceededException and keeps nothing.
func (e *Engine) pageOf(t *Transaction, rows [][]byte, charged int64) (Page, error) {
	if len(rows) <= e.opts.PageSize {
		t.cursorBytes -= charged
		return Page{Values: rows}, t.hold(-charged)
	}
	// A new slice, so the first page's rows are not kept alive by the
	// cursor's backing array.
	rest := append([][]byte(nil), rows[e.opts.PageSize:]...)
	n := int64(0)
	for _, r := range rest {
		n += int64(len(r)) + 24
	}
	if err := t.hold(n - charged); err != nil {
		return Page{}, err
	}
	t.cursorBytes += n - charged
	var b [18]byte
	_, _ = rand.Read(b[:])
	tok := base64.StdEncoding.EncodeToString(b[:])
	if t.cursors == nil {
		t.cursors = map[string]*cursor{}
	}
	t.cursors[tok] = &cursor{rows: rest, bytes: n}
	return Page{Values: rows[:e.opts.PageSize], NextPageToken: tok}, nil
}

// FetchPage returns the next page of an earlier statement's results.
func (e *Engine) FetchPage(token, txID, pageToken string) (Page, IOUsage, error) {
	var page Page
	err := e.withSession(token, func(s *Session) error {
		t, err := e.openTx(s, txID)
		if err != nil {
			return err
		}
		c, ok := t.cursors[pageToken]
		if !ok {
			return qldberr.New(qldberr.BadRequest, "NextPageToken is not valid for transaction %s", txID)
		}
		delete(t.cursors, pageToken)
		page, err = e.pageOf(t, c.rows, c.bytes)
		return err
	})
	return page, IOUsage{}, err
}

// CommitTransaction commits the open transaction if the client's digest
// equals the server's, and returns the digest. On OccConflictException
// nothing is written and the session stays usable.
//
// It waits for the transaction's group commit (its block synced). When ctx
// is done while it waits, it returns at once with a BadRequestException
// ("Commit of transaction <id> cancelled") and no digest, and the outcome
// is then unknown to the caller: a transaction the committer had already
// taken (or takes later from its queue) still commits or fails as it would
// have, so it may be in the journal; one not yet queued never commits.
// Either way it is no longer the session's open transaction, and the
// session stays usable. A client that went away never sees this answer; a
// later read (or GetRevision) shows what happened.
//
// The same CommitTransaction sent again (the session's last commit, same
// transaction id and digest) gets that commit's outcome instead of "No
// open transaction", waiting for it while ctx lasts: see repeatedCommit.
func (e *Engine) CommitTransaction(ctx context.Context, token, txID string, digest []byte) ([]byte, IOUsage, error) {
	var out []byte
	var io IOUsage
	err := e.withSession(token, func(s *Session) error {
		if o := s.repeated(txID); o != nil {
			var err error
			out, io, err = o.wait(ctx, digest)
			return err
		}
		t, err := e.openTx(s, txID)
		if err != nil {
			return err
		}
		s.tx = nil
		want := t.digest.Sum()
		if !bytes.Equal(digest, want) {
			t.end()
			return qldberr.New(qldberr.BadRequest, "Digests don't match")
		}
		writes := IOUsage{WriteIOs: int64(len(t.writes))}
		o := s.beginCommit(txID, want, writes)
		if _, err := s.ledger.commit(ctx, t, o.settle); err != nil { // commit ends t
			return err
		}
		out = want
		io = writes
		return nil
	})
	return out, io, err
}
