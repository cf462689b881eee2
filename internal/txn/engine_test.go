package txn

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/ledger"
	"github.com/strand-db/strand/internal/qldberr"
	"github.com/strand-db/strand/internal/qldbhash"
	pebblestore "github.com/strand-db/strand/internal/store/pebble"
)

// clock is a settable time source for Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// newTestEngine opens an engine over a fresh store with one ledger, "l".
func newTestEngine(t testing.TB, opts Options) (*Engine, *clock) {
	t.Helper()
	st, err := pebblestore.Open(t.TempDir(), pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := ledger.Open(st, ledger.Options{Region: "us-east-1", AccountID: "000000000000", MaxLedgers: 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cat.Create(ledger.CreateInput{Name: "l", PermissionsMode: ledger.PermissionsAllowAll}, time.Now()); err != nil {
		t.Fatal(err)
	}
	c := &clock{now: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)}
	if opts.Now == nil {
		opts.Now = c.Now
	}
	e := NewEngine(st, cat, opts)
	t.Cleanup(func() {
		e.Close()
		st.Close()
	})
	return e, c
}

// client drives the engine the way a QLDB driver does, keeping the commit
// digest.
type client struct {
	t      testing.TB
	e      *Engine
	token  string
	txID   string
	digest *qldbhash.CommitDigest
}

func newClient(t testing.TB, e *Engine) *client {
	t.Helper()
	tok, err := e.StartSession(context.Background(), "l")
	if err != nil {
		t.Fatalf("StartSession: %v", err)
	}
	return &client{t: t, e: e, token: tok}
}

func (c *client) begin() error {
	id, err := c.e.StartTransaction(c.token)
	if err != nil {
		return err
	}
	c.txID, c.digest = id, qldbhash.NewCommitDigest(id)
	return nil
}

// exec runs a statement whose parameters are Ion text.
func (c *client) exec(stmt string, params ...string) ([]*ionvalue.Value, error) {
	ps := make([]Param, len(params))
	vals := make([]*ionvalue.Value, len(params))
	for i, p := range params {
		ps[i] = Param{IonText: p}
		v, err := ionvalue.DecodeOne([]byte(p))
		if err != nil {
			c.t.Fatalf("parameter %q: %v", p, err)
		}
		vals[i] = v
	}
	c.digest.Add(qldbhash.StatementHash(stmt, vals))
	page, _, err := c.e.ExecuteStatement(context.Background(), c.token, c.txID, stmt, ps)
	if err != nil {
		return nil, err
	}
	out := make([]*ionvalue.Value, len(page.Values))
	for i, b := range page.Values {
		if out[i], err = ionvalue.DecodeOne(b); err != nil {
			c.t.Fatalf("row %d: %v", i, err)
		}
	}
	return out, nil
}

func (c *client) commit() error {
	d, _, err := c.e.CommitTransaction(context.Background(), c.token, c.txID, c.digest.Sum())
	if err == nil && !bytes.Equal(d, c.digest.Sum()) {
		return fmt.Errorf("commit returned digest %x, want %x", d, c.digest.Sum())
	}
	return err
}

// do runs stmts in one transaction and commits, failing the test on error.
func (c *client) do(stmts ...string) []*ionvalue.Value {
	c.t.Helper()
	if err := c.begin(); err != nil {
		c.t.Fatal(err)
	}
	var rows []*ionvalue.Value
	for _, s := range stmts {
		r, err := c.exec(s)
		if err != nil {
			c.t.Fatalf("%s: %v", s, err)
		}
		rows = r
	}
	if err := c.commit(); err != nil {
		c.t.Fatalf("commit: %v", err)
	}
	return rows
}

func errType(err error) string {
	if qe := qldberr.As(err); qe != nil {
		return qe.Type
	}
	return fmt.Sprint(err)
}

// TestSessionExpiry checks the three session clocks with a fake time
// source: the transaction timeout, the idle limit and the lifetime. Each
// ends the session with InvalidSessionException and frees its quota slot.
func TestSessionExpiry(t *testing.T) {
	cases := []struct {
		name    string
		advance time.Duration
		inTx    bool
		want    string // message pattern, %s is the id
	}{
		{"transaction timeout", 31 * time.Second, true, "Transaction %s has expired"},
		{"transaction within timeout", 29 * time.Second, true, ""},
		{"idle", 61 * time.Second, false, "Exceeded the session idle time limit: Session %s"},
		{"lifetime", 0, false, "Session %s has expired"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, clk := newTestEngine(t, Options{MaxSessionsPerLedger: 1})
			cl := newClient(t, e)
			cl.do("CREATE TABLE T")
			e.mu.Lock()
			sess := e.sessions[cl.token]
			e.mu.Unlock()
			switch {
			case c.inTx:
				if err := cl.begin(); err != nil {
					t.Fatal(err)
				}
				clk.advance(c.advance)
			case c.advance > 0:
				clk.advance(c.advance)
			default:
				// Keep the session busy (never idle) up to its lifetime.
				for clk.Now().Add(50 * time.Second).Before(sess.expires) {
					clk.advance(50 * time.Second)
					if err := cl.begin(); err != nil {
						t.Fatalf("before the lifetime: %v", err)
					}
					if err := e.AbortTransaction(cl.token); err != nil {
						t.Fatal(err)
					}
				}
				clk.advance(sess.expires.Sub(clk.Now()))
			}
			var err error
			if c.inTx {
				_, err = cl.exec("SELECT * FROM T")
			} else {
				err = cl.begin()
			}
			if c.want == "" {
				if err != nil {
					t.Fatalf("within the timeout: %v", err)
				}
				return
			}
			id := sess.ID
			if c.inTx {
				id = cl.txID
			}
			qe := qldberr.As(err)
			if qe == nil || qe.Type != qldberr.InvalidSession || qe.Message != fmt.Sprintf(c.want, id) || qe.Code != "" {
				t.Fatalf("got %v; want InvalidSessionException %q without Code", err, fmt.Sprintf(c.want, id))
			}
			// The session is gone and its slot free.
			if err := cl.begin(); errType(err) != qldberr.InvalidSession {
				t.Errorf("the expired session still works: %v", err)
			}
			if _, err := e.StartSession(context.Background(), "l"); err != nil {
				t.Errorf("StartSession after expiry (limit 1): %v", err)
			}
		})
	}
}

// TestSessionLimitReapsExpired: when the ledger is at its session limit,
// sessions that have expired but were not yet swept must not count.
func TestSessionLimitReapsExpired(t *testing.T) {
	e, clk := newTestEngine(t, Options{MaxSessionsPerLedger: 2})
	newClient(t, e)
	newClient(t, e)
	if _, err := e.StartSession(context.Background(), "l"); errType(err) != qldberr.LimitExceeded {
		t.Fatalf("third session: %v, want LimitExceededException", err)
	}
	clk.advance(2 * time.Minute) // both idle past 60 s
	if _, err := e.StartSession(context.Background(), "l"); err != nil {
		t.Fatalf("StartSession with only expired sessions open: %v", err)
	}
}

// TestStatementRollback: a statement that fails part-way leaves the
// transaction as it was before the statement, including its quota counts.
func TestStatementRollback(t *testing.T) {
	e, _ := newTestEngine(t, Options{})
	cl := newClient(t, e)
	cl.do("CREATE TABLE T")
	if err := cl.begin(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 39; i++ {
		if _, err := cl.exec("INSERT INTO T VALUE {'i': ?}", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Two documents: the second would exceed 40 and the first must be undone.
	_, err := cl.exec("INSERT INTO T << {'i': 100}, {'i': 101} >>")
	if errType(err) != qldberr.LimitExceeded {
		t.Fatalf("41st document: %v, want LimitExceededException", err)
	}
	if _, err := cl.exec("INSERT INTO T VALUE {'i': 39}"); err != nil {
		t.Fatalf("the 40th document after the rollback: %v", err)
	}
	rows, err := cl.exec("SELECT COUNT(*) FROM T")
	if err != nil || len(rows) != 1 || rows[0].Get("_1").Int != 40 {
		t.Fatalf("count %v, %v; want 40", rows, err)
	}
	if err := cl.commit(); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentCounter hammers one document from many sessions directly on
// the engine (no HTTP), retrying on OCC: the counter must equal the number
// of committed increments, and every block must verify and chain. Run with
// -race, it also checks the committer's group commit for data races.
func TestConcurrentCounter(t *testing.T) {
	const workers, each = 16, 25
	e, _ := newTestEngine(t, Options{Now: time.Now})
	setup := newClient(t, e)
	setup.do("CREATE TABLE C", "INSERT INTO C VALUE {'n': 0}")
	l, err := e.Ledger("l")
	if err != nil {
		t.Fatal(err)
	}
	base := l.Next()

	var wg sync.WaitGroup
	var mu sync.Mutex
	conflicts := 0
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := newClient(t, e)
			streak := 0
			for i := 0; i < each; {
				if err := cl.begin(); err != nil {
					errs <- err
					return
				}
				rows, err := cl.exec("SELECT VALUE n FROM C")
				if err == nil {
					_, err = cl.exec("UPDATE C SET n = ?", fmt.Sprint(rows[0].Int+1))
				}
				if err == nil {
					err = cl.commit()
				}
				switch {
				case err == nil:
					i++
					streak = 0
				case errType(err) == qldberr.OccConflict:
					mu.Lock()
					conflicts++
					mu.Unlock()
					// Back off like the drivers do, so that retries spread out.
					streak = min(streak+1, 6)
					time.Sleep(time.Duration(rand.Int64N(int64(time.Millisecond) << streak)))
				default:
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := setup.do("SELECT VALUE n FROM C")
	if len(got) != 1 || got[0].Int != workers*each {
		t.Fatalf("counter %v, want %d", got, workers*each)
	}
	t.Logf("%d increments, %d OCC conflicts", workers*each, conflicts)
	if n := l.Next() - base; n != workers*each+1 { // +1: the final SELECT
		t.Errorf("%d blocks for %d committed transactions", n, workers*each+1)
	}
	var prev []byte
	for seq := uint64(0); seq < l.Next(); seq++ {
		b, ok, err := l.Block(seq)
		if err != nil || !ok {
			t.Fatalf("block %d: %v %v", seq, ok, err)
		}
		if err := journal.VerifyBlock(b, prev); err != nil {
			t.Fatalf("block %d: %v", seq, err)
		}
		prev = b.BlockHash
	}
}

// TestReadSetSequence checks the OCC rule on the data structures: an item
// conflicts only when it was changed by a block numbered at or above the
// sequence number recorded when it was first read.
func TestReadSetSequence(t *testing.T) {
	o := newOCCState()
	o.record(&writeSet{docs: []string{"a"}, scans: []string{"T"}}, 5)
	cases := []struct {
		name string
		read func(rs *readSet)
		want bool
	}{
		{"read before the change", func(rs *readSet) { note(&rs.docs, "a", 5) }, true},
		{"read long before the change", func(rs *readSet) { note(&rs.docs, "a", 1) }, true},
		{"read after the change", func(rs *readSet) { note(&rs.docs, "a", 6) }, false},
		{"first read counts", func(rs *readSet) { note(&rs.docs, "a", 4); note(&rs.docs, "a", 9) }, true},
		{"other document", func(rs *readSet) { note(&rs.docs, "b", 0) }, false},
		{"scan before", func(rs *readSet) { note(&rs.scans, "T", 3) }, true},
		{"scan of another table", func(rs *readSet) { note(&rs.scans, "U", 3) }, false},
		{"empty", func(rs *readSet) {}, false},
	}
	for _, c := range cases {
		rs := newReadSet()
		c.read(rs)
		if got := o.conflicts(rs); got != c.want {
			t.Errorf("%s: conflicts = %v, want %v", c.name, got, c.want)
		}
	}
	o.prune(6)
	if o.size() != 0 {
		t.Errorf("prune(6) kept %d entries changed at 5", o.size())
	}
}
