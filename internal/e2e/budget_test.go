package e2e

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/amzn/ion-go/ion"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession/types"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/testenv"
)

// ints is the list 0..n-1, sent by the driver as an Ion list.
func ints(n int) []int {
	l := make([]int, n)
	for i := range l {
		l[i] = i
	}
	return l
}

// heapAfterGC is the live heap after a full collection.
func heapAfterGC() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestStatementBudgetCrossJoin: a three-way cross join of 100-element lists
// (a million result rows, about a gigabyte in memory) is refused with a
// statement error once it passes the memory budget; nothing stays held,
// and the transaction and session remain usable.
func TestStatementBudgetCrossJoin(t *testing.T) {
	const memoryBudget = 128 << 20
	n, drv := servertest.StartLedger(t, "budget", func(c *config.Config) { c.MaxStatementMemory = memoryBudget })
	l := n.LedgerEngine("budget")
	before := heapAfterGC()
	list := ints(100)
	attempts := 0
	_, err := drv.Execute(bg, func(tx qldbdriver.Transaction) (any, error) {
		attempts++
		return tx.Execute("SELECT * FROM ? a, ? b, ? c", list, list, list)
	})
	if err == nil {
		t.Fatal("the cross join of three 100-element lists succeeded")
	}
	code, msg := servertest.StatementError(t, err)
	if code != "400" || !strings.Contains(msg, "Statement budget exceeded") || !strings.Contains(msg, fmt.Sprint(memoryBudget)) {
		t.Errorf("error %s %q, want 400 naming the memory budget", code, msg)
	}
	if attempts != 1 {
		t.Errorf("the driver retried %d times", attempts-1)
	}
	if got := n.Sessions().StatementStats().Budget; got != 1 {
		t.Errorf("budget refusals = %d, want 1", got)
	}
	if after := heapAfterGC(); after > before+32<<20 {
		t.Errorf("live heap grew from %d to %d bytes after the refused statement", before, after)
	}
	if p := l.PendingBytes(); p != 0 {
		t.Errorf("ledger holds %d pending bytes with no transaction open", p)
	}
	// The rows budget: a COUNT over the same join holds no rows but visits
	// a million of them.
	n2, drv2 := servertest.StartLedger(t, "rows", func(c *config.Config) { c.MaxStatementRows = 50000 })
	_, err = drv2.Execute(bg, func(tx qldbdriver.Transaction) (any, error) {
		return tx.Execute("SELECT COUNT(*) FROM ? a, ? b, ? c", list, list, list)
	})
	if err == nil {
		t.Fatal("a join visiting a million rows passed a 50,000-row budget")
	}
	if _, msg := servertest.StatementError(t, err); !strings.Contains(msg, "more than 50000 rows") {
		t.Errorf("error %q, want it to name the rows budget", msg)
	}
	if got := n2.Sessions().StatementStats().Budget; got != 1 {
		t.Errorf("budget refusals = %d, want 1", got)
	}
	// Within budget, the statement runs.
	testenv.WantValues(t, "join within budget", servertest.MustQuery(t, drv2, "SELECT COUNT(*) FROM ? a, ? b", list, list), `{_1:10000}`)
}

// longJoin visits 100^5 rows holding nothing: it runs far longer than any
// test, unless something stops it.
const longJoin = "SELECT COUNT(*) FROM ? a, ? b, ? c, ? d, ? e"

func longJoinParams() []any {
	l := ints(100)
	return []any{l, l, l, l, l}
}

// noRowsBudget lifts the rows budget, so that only the context can stop a
// statement.
func noRowsBudget(c *config.Config) { c.MaxStatementRows = 1 << 62 }

// TestStatementStopsWhenTransactionExpires: a statement still running at
// its transaction's deadline stops and gets QLDB's expiry error, which the
// driver does not retry; the session is gone.
func TestStatementStopsWhenTransactionExpires(t *testing.T) {
	n, _ := servertest.StartLedger(t, "expiry", func(c *config.Config) {
		noRowsBudget(c)
		c.TxTimeout = 5 * time.Second
	})
	r := newRaw(t, n, "expiry")
	r.begin()
	ctx, cancel := context.WithTimeout(bg, time.Minute) // a bound on failure only
	defer cancel()
	_, err := r.c.SendCommand(ctx, &qldbsession.SendCommandInput{SessionToken: aws.String(r.token),
		ExecuteStatement: &types.ExecuteStatementRequest{TransactionId: aws.String(r.txID), Statement: aws.String(longJoin),
			Parameters: ionParams(t, longJoinParams()...)}})
	var ise *types.InvalidSessionException
	if !errors.As(err, &ise) {
		t.Fatalf("error %v (%T), want InvalidSessionException", err, err)
	}
	if want := regexp.MustCompile(`^Transaction ` + r.txID + ` has expired$`); !want.MatchString(ise.ErrorMessage()) {
		t.Errorf("message %q, want %q", ise.ErrorMessage(), want)
	}
	if st := n.Sessions().StatementStats(); st.Expired != 1 || st.Running != 0 {
		t.Errorf("statement stats %+v, want one stopped by expiry and none running", st)
	}
	if err := r.abort(); !errors.As(err, &ise) {
		t.Errorf("AbortTransaction on the discarded session: %v, want InvalidSessionException", err)
	}
}

// TestStatementStopsWhenClientGoesAway: a client that gives up on a long
// statement stops it; the statement is undone and the transaction stays
// usable.
func TestStatementStopsWhenClientGoesAway(t *testing.T) {
	n, _ := servertest.StartLedger(t, "gone", noRowsBudget)
	r := newRaw(t, n, "gone")
	r.begin()
	r.mustExec("CREATE TABLE T")
	ctx, cancel := context.WithCancel(bg)
	done := make(chan error, 1)
	go func() {
		_, err := r.c.SendCommand(ctx, &qldbsession.SendCommandInput{SessionToken: aws.String(r.token),
			ExecuteStatement: &types.ExecuteStatementRequest{TransactionId: aws.String(r.txID), Statement: aws.String(longJoin),
				Parameters: ionParams(t, longJoinParams()...)}})
		done <- err
	}()
	e := n.Sessions()
	testenv.AwaitTrue(t, "the statement to run", 30*time.Second, func() bool { return e.StatementStats().Running == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("client error %v, want context.Canceled", err)
	}
	testenv.AwaitTrue(t, "the server to stop the statement", 30*time.Second, func() bool { return e.StatementStats().Canceled == 1 })
	if st := e.StatementStats(); st.Running != 0 || st.Expired != 0 {
		t.Errorf("statement stats %+v", st)
	}
	// The session and its transaction carry on (the abandoned statement is
	// not in the digest the client computed, so abort rather than commit).
	testenv.WantValues(t, "after the cancelled statement", r.mustExec("SELECT COUNT(*) FROM T"), `{_1:0}`)
	if err := r.abort(); err != nil {
		t.Errorf("AbortTransaction: %v", err)
	}
}

// TestPendingBytesPerLedger: the open transactions of a ledger together hold
// at most --max-pending-bytes-per-ledger; past it a write gets
// LimitExceededException naming the limit and changes nothing, and ending a
// transaction (abort or commit) gives its share back.
func TestPendingBytesPerLedger(t *testing.T) {
	const limit = 2 << 20
	n, drv := servertest.StartLedger(t, "pending", func(c *config.Config) { c.MaxPendingBytesPerLedger = limit })
	l := n.LedgerEngine("pending")
	servertest.MustQuery(t, drv, "CREATE TABLE T")
	doc := strings.Repeat("x", 100*1024)
	a, b := newRaw(t, n, "pending"), newRaw(t, n, "pending")
	a.begin()
	b.begin()
	for i := 0; i < 12; i++ {
		a.mustExec("INSERT INTO T VALUE {'d': ?}", doc)
	}
	var lee *types.LimitExceededException
	inserted := 0
	for ; inserted < 20; inserted++ {
		if _, err := b.exec("INSERT INTO T VALUE {'d': ?}", doc); err != nil {
			if !errors.As(err, &lee) {
				t.Fatalf("insert %d: %v (%T), want LimitExceededException", inserted+1, err, err)
			}
			break
		}
	}
	if lee == nil {
		t.Fatalf("two transactions held %d documents of 100 KB under a %d-byte ledger limit", 12+inserted, limit)
	}
	if msg := lee.ErrorMessage(); !strings.Contains(msg, fmt.Sprint(limit)) || !strings.Contains(msg, "pending writes") {
		t.Errorf("message %q, want it to name the limit", msg)
	}
	if p := l.PendingBytes(); p > limit {
		t.Errorf("ledger holds %d pending bytes, over its limit %d", p, limit)
	}
	// Aborting a frees its share: b's next write fits.
	if err := a.abort(); err != nil {
		t.Fatalf("abort: %v", err)
	}
	// The refused statement entered b's digest (the client folded it before
	// sending) but changed nothing: b commits exactly its accepted inserts.
	b.mustExec("INSERT INTO T VALUE {'d': ?}", doc)
	if err := b.commit(); err != nil {
		t.Fatalf("commit: %v", err)
	}
	testenv.WantValues(t, "committed", servertest.MustQuery(t, drv, "SELECT COUNT(*) FROM T"), fmt.Sprintf("{_1:%d}", inserted+1))
	if p := l.PendingBytes(); p != 0 {
		t.Errorf("ledger holds %d pending bytes with no transaction open", p)
	}
}

// ionParams encodes statement parameters as the driver does.
func ionParams(t *testing.T, xs ...any) []types.ValueHolder {
	t.Helper()
	out := make([]types.ValueHolder, len(xs))
	for i, x := range xs {
		b, err := ion.MarshalBinary(x)
		if err != nil {
			t.Fatalf("parameter %d: %v", i, err)
		}
		out[i] = types.ValueHolder{IonBinary: b}
	}
	return out
}

// TestPendingDocumentsHeldCompactly: pending documents are held as Ion
// binary, and that is what the ledger's pending-bytes quota counts. A
// document of 2,000 small fields is about 18 KB of Ion binary but about
// half a megabyte as a decoded value tree; ten of them in one open
// transaction must not hold megabytes.
func TestPendingDocumentsHeldCompactly(t *testing.T) {
	n, drv := servertest.StartLedger(t, "compact", nil)
	l := n.LedgerEngine("compact")
	servertest.MustQuery(t, drv, "CREATE TABLE T")
	const docs = 10
	doc := make(map[string]int, 2000)
	for i := 0; i < 2000; i++ {
		doc[fmt.Sprintf("f%d", i)] = i
	}
	raw, err := ion.MarshalBinary(doc)
	if err != nil {
		t.Fatal(err)
	}
	r := newRaw(t, n, "compact")
	r.begin()
	before := heapAfterGC()
	for i := 0; i < docs; i++ {
		r.mustExec("INSERT INTO T VALUE ?", doc)
	}
	grown := int64(heapAfterGC()) - int64(before)
	binary := int64(len(raw) * docs)
	t.Logf("%d documents: %d bytes of Ion binary, live heap grew %d bytes, ledger counts %d", docs, binary, grown, l.PendingBytes())
	if grown > 2*binary+1<<20 {
		t.Errorf("an open transaction of %d bytes of documents grew the live heap by %d bytes", binary, grown)
	}
	if p := l.PendingBytes(); p < binary || p > binary+16<<10 {
		t.Errorf("ledger counts %d pending bytes for %d bytes of documents", p, binary)
	}
	if err := r.commit(); err != nil {
		t.Fatalf("commit: %v", err)
	}
	rows := servertest.MustQuery(t, drv, "SELECT f1999 FROM T")
	if len(rows) != docs {
		t.Fatalf("%d documents committed", len(rows))
	}
	testenv.WantValues(t, "a committed field", rows[:1], `{f1999:1999}`)
}
