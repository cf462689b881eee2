package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/qldbsession/types"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/store/postgres/pgtest"
	"github.com/strand-db/strand/internal/testenv"
)

// TestClusterClockSkew runs two nodes on one PostgreSQL database, node A
// with its lease clock two TTLs behind node B's (config.LeaseClock). A
// takes the ledger alone and opens a transaction; then B starts. By B's
// clock A's lease expired a TTL before A wrote it, so B takes the ledger at
// once, while by A's own clock A still holds it: two nodes each believe
// they own the ledger. A's commit of the transaction it had open must
// then fail (the fence row holds B's token, or A has noticed and dropped
// its sessions) and leave nothing in the journal; B goes on committing.
// Clients then commit through both nodes: every acknowledged commit is
// read back, the ledger stays with B (A, whose clock is behind, sees B's
// lease as live for longer, never shorter) and the journal audits clean.
//
// What a read on A returns in the window is logged: A reads the shared
// database, so it sees what B committed, unless A still believes it owns
// the ledger and answers from the state it keeps in memory.
func TestClusterClockSkew(t *testing.T) {
	db := pgtest.NewDatabase(t)
	// A's TTL is long, so that A renews (and notices B's lease) only every
	// 5 s: the commit below meets the fence row rather than a session A
	// already dropped (either way it fails). B's is short, so that it
	// takes over at once.
	const ttlA, ttlB = 15 * time.Second, time.Second
	a := servertest.Start(t, func(c *config.Config) {
		c.Store = db
		c.LeaseTTL = ttlA
		c.LeaseClock = func() time.Time { return time.Now().Add(-2 * ttlA) }
	})
	a.CreateLedger("skew")
	servertest.Commit(t, a.Driver("skew"), "CREATE TABLE T", "INSERT INTO T VALUE {'k': 'a0'}")
	ledgerID := a.LedgerEngine("skew").ID
	leaseOf := leaseReader(t, db)
	before := leaseOf(ledgerID)
	if before.URL != a.URL() {
		t.Fatalf("lease %+v: A (%s) should hold the ledger it served alone", before, a.URL())
	}
	open := newRaw(t, a, "skew")
	open.begin()
	open.mustExec("INSERT INTO T VALUE {'k': 'fenced'}")

	b := servertest.Start(t, func(c *config.Config) {
		c.Store = db
		c.LeaseTTL = ttlB
	})
	testenv.AwaitTrue(t, "B to take the ledger A's clock still holds", 30*time.Second, func() bool {
		return leaseOf(ledgerID).URL == b.URL()
	})
	servertest.Commit(t, clusterDriver(b, "skew"), "INSERT INTO T VALUE {'k': 'b1'}")

	page, rerr := open.exec("SELECT k FROM T")
	switch {
	case rerr != nil:
		t.Logf("read on A's open session after B took over: %v", rerr)
	default:
		t.Logf("read on A's open session after B took over: %d rows (A's snapshot; B's b1 %s)", len(page.Values), map[bool]string{true: "seen", false: "not seen"}[hasValue(t, page, "b1")])
	}
	cerr := open.commit()
	if cerr == nil {
		t.Fatal("A acknowledged a commit after B took the ledger over")
	}
	servertest.WantAPIError(t, cerr, "InvalidSessionException", http.StatusBadRequest)
	t.Logf("A's commit after B took over: %v", cerr)
	if rows := servertest.MustQuery(t, clusterDriver(b, "skew"), "SELECT k FROM T WHERE k = 'fenced'"); len(rows) != 0 {
		t.Fatalf("the fenced transaction is in the ledger: %v", rows)
	}

	// Both nodes serve; every acknowledged commit stays.
	var mu sync.Mutex
	acked := []string{"a0", "b1"}
	failed := [2]int{}
	var wg sync.WaitGroup
	for i, n := range []*servertest.Node{a, b} {
		drv := clusterDriver(n, "skew")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 5 {
				k := fmt.Sprintf("n%d-%d", i, j)
				_, err := drv.Execute(context.Background(), func(tx qldbdriver.Transaction) (any, error) {
					return tx.Execute("INSERT INTO T ?", map[string]any{"k": k})
				})
				if err != nil {
					// A serves its open sessions until its next renewal
					// drops the lease; their commits are refused by the
					// fence, and the driver may run out of retries.
					mu.Lock()
					failed[i]++
					mu.Unlock()
					continue
				}
				mu.Lock()
				acked = append(acked, k)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	rows := servertest.MustQuery(t, clusterDriver(a, "skew"), "SELECT k FROM T")
	got := map[string]bool{}
	for _, r := range rows {
		got[strField(t, r, "k")] = true
	}
	for _, k := range acked {
		if !got[k] {
			t.Errorf("acknowledged document %s is missing", k)
		}
	}
	if l := leaseOf(ledgerID); l.URL != b.URL() {
		t.Fatalf("the ledger moved back to the node whose clock is behind: %+v", l)
	}
	t.Logf("%d commits acknowledged, %d documents read back; commits given up through A: %d, through B: %d", len(acked), len(rows), failed[0], failed[1])
	a.Stop()
	b.Stop()
	servertest.AuditDatabase(t, db, "after the skewed nodes")
}

// hasValue reports whether a page of {k: ...} rows holds k.
func hasValue(t *testing.T, page *types.Page, k string) bool {
	t.Helper()
	for _, row := range servertest.DecodePage(t, page) {
		if v := row.Get("k"); v != nil && v.Text == k {
			return true
		}
	}
	return false
}
