package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/store/postgres/pgtest"
	"github.com/strand-db/strand/internal/testenv"
	"github.com/strand-db/strand/internal/testenv/tcpproxy"
)

// pgExecute is a PostgreSQL Execute message of the unnamed portal with no
// row limit, as pgx sends after each Bind of a pipeline.
var pgExecute = []byte{'E', 0, 0, 0, 9, 0, 0, 0, 0, 0}

// afterStatementOn matches the bytes a node sends its database right after
// the statement that carries key: through the Execute message that follows
// the key when the statement is sent on its own (a pipeline), else right
// after the key (written out in hex in a single message of statements).
// The cut then falls between that statement and the rest of its
// transaction.
func afterStatementOn(key []byte) func(int, []byte) int {
	forms := [][]byte{key, []byte(hex.EncodeToString(key))}
	return func(_ int, chunk []byte) int {
		for _, form := range forms {
			i := bytes.Index(chunk, form)
			if i < 0 {
				continue
			}
			end := i + len(form)
			if j := bytes.Index(chunk[end:], pgExecute); j >= 0 {
				return end + j + len(pgExecute)
			}
			return end
		}
		return -1
	}
}

// TestClusterCutMidTransaction cuts the link between the owner of a
// ledger and the database in the middle of a commit's transaction: right
// after the statement that locks the ledger's fence row reached the
// database, before the statements that write the block and before COMMIT.
// The other node must take the ledger over while the partition lasts (the
// database must not keep the half-sent transaction and its row lock), the
// cut-off node must stop claiming the ledger and serve again by
// forwarding once healed, nothing of the cut transaction may be half
// written (the chain audits clean), and every key is as its client was
// told.
//
// Before the fix the database kept the half-sent transaction for as long
// as the partition lasted (no idle-in-transaction timeout runs in the
// middle of a pipeline, and TCP keepalives take hours), so the other node
// waited on the fence row and could not take the ledger.
//
// Two more faults: the commit's connection reset at the same moment (A
// keeps its lease and must go on committing; before, the failed write put
// the ledger in the embedded store's "no more commits until restart"
// state, for the whole cluster, as A kept renewing its lease), and reset
// as the answer to its COMMIT comes back (the commit happened; the client
// must hear that its outcome is unknown, and the ledger must go on).
func TestClusterCutMidTransaction(t *testing.T) {
	t.Run("cut", func(t *testing.T) { testMidTransactionFault(t, tcpproxy.CutLink, false) })
	t.Run("reset", func(t *testing.T) { testMidTransactionFault(t, tcpproxy.ResetConn, false) })
	t.Run("reset-commit-answer", func(t *testing.T) { testMidTransactionFault(t, tcpproxy.ResetConn, true) })
}

// pgCommitComplete is PostgreSQL's CommandComplete message of a COMMIT.
var pgCommitComplete = []byte("C\x00\x00\x00\x0bCOMMIT\x00")

// onCommitAnswerAfter matches the answer to the COMMIT of the transaction
// whose locking read returned fence (a commit's check of the ledger's
// fence row, its value in hex): on the connection that carried it.
func onCommitAnswerAfter(fence []byte) func(int, []byte) int {
	mark := []byte(hex.EncodeToString(fence))
	saw := map[int]bool{}
	return func(conn int, chunk []byte) int {
		if bytes.Contains(chunk, mark) {
			saw[conn] = true
		}
		if saw[conn] && bytes.Contains(chunk, pgCommitComplete) {
			return 0
		}
		return -1
	}
}

// testMidTransactionFault is TestClusterCutMidTransaction with one fault:
// CutLink partitions node A from the database (B must take the ledger),
// ResetConn resets the one connection of the commit (A keeps its lease and
// must go on committing), before the rest of its statements or, with
// atCommit, as the answer to its COMMIT comes back.
func testMidTransactionFault(t *testing.T, fault tcpproxy.Fault, atCommit bool) {
	db := pgtest.NewDatabase(t)
	nodes := startProxiedNodes(t, db, 2, time.Second)
	a, b := nodes[0], nodes[1]
	a.CreateLedger("mid")
	aDrv := a.driver(t, "mid")
	servertest.Commit(t, aDrv, "CREATE TABLE T")
	ledgerID := a.LedgerEngine("mid").ID
	leaseOf := leaseReader(t, db)
	before := leaseOf(ledgerID)
	if before.URL != a.URL() {
		t.Fatalf("node A should own the ledger it created: lease %+v", before)
	}

	told := map[string]string{}
	insert := func(drv *qldbdriver.QLDBDriver, key string, wait time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_, err := drv.Execute(ctx, func(tx qldbdriver.Transaction) (any, error) {
			return tx.Execute("INSERT INTO T ?", map[string]any{"k": key})
		})
		return err
	}
	// insertRetrying is insert as an application retries it: a 503
	// CapacityExceededException (the ledger is moving between nodes, as
	// after the reset, where A gives the ledger up to reopen it) is sent
	// again, after a pause, until wait is over. Nothing of a refused
	// request was executed.
	insertRetrying := func(drv *qldbdriver.QLDBDriver, key string, wait time.Duration) error {
		deadline := time.Now().Add(wait)
		for {
			err := insert(drv, key, time.Until(deadline))
			if err == nil || errorName(err) != "CapacityExceededException" || time.Until(deadline) < time.Second {
				return err
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	for i := range 3 {
		key := fmt.Sprintf("a-before-%d", i)
		told[key] = outcome(insert(aDrv, key, 20*time.Second))
	}

	var fired <-chan struct{}
	if atCommit {
		fired = a.proxy.Arm(tcpproxy.FromTarget, onCommitAnswerAfter(binary.BigEndian.AppendUint64(nil, before.Token)), fault)
	} else {
		fired = a.proxy.Arm(tcpproxy.ToTarget, afterStatementOn(journal.LedgerLayout(ledgerID).Fence), fault)
	}
	cutErr := make(chan error, 1)
	go func() { cutErr <- insert(aDrv, "a-cut", 60*time.Second) }()
	select {
	case <-fired:
	case <-time.After(20 * time.Second):
		t.Fatal("node A's commit never sent its fence statement")
	}

	// While A is cut off in the middle of its transaction, B takes the
	// ledger and commits.
	cutAt := time.Now()
	bDrv := b.driver(t, "mid")
	taken := before
	testenv.Await(t, 40*time.Second, func() error {
		if fault == tcpproxy.ResetConn {
			return nil // A still reaches the database and keeps the ledger
		}
		taken = leaseOf(ledgerID)
		if taken.URL == b.URL() && taken.Token > before.Token {
			return nil
		}
		return fmt.Errorf("waiting for node B to take the ledger while A is cut off mid-transaction (lease %+v, was %+v)", taken, before)
	})
	if fault == tcpproxy.CutLink {
		t.Logf("node B took the ledger (token %d -> %d) %v after the cut", before.Token, taken.Token, time.Since(cutAt).Round(time.Millisecond))
	}
	for i := range 3 {
		key := fmt.Sprintf("b-during-%d", i)
		err := insertRetrying(bDrv, key, 20*time.Second)
		told[key] = outcome(err)
		if err != nil {
			t.Errorf("commit through B while A is cut off: %v", err)
		}
	}

	a.proxy.Heal()
	told["a-cut"] = outcome(<-cutErr)
	if atCommit && told["a-cut"] != "unknown" {
		t.Errorf("a commit whose COMMIT answer was lost: told %s, want that its outcome is unknown", told["a-cut"])
	}
	// A serves again, by forwarding to B; it no longer claims the ledger.
	for i := range 3 {
		key := fmt.Sprintf("a-after-%d", i)
		err := insertRetrying(aDrv, key, 30*time.Second)
		told[key] = outcome(err)
		if err != nil {
			t.Errorf("commit through A after the heal: %v", err)
		}
	}
	if now := leaseOf(ledgerID); fault == tcpproxy.CutLink && (now.Token != taken.Token || now.URL != b.URL()) {
		t.Errorf("the lease after the heal: %+v; want B's %+v (A must not claim the ledger back)", now, taken)
	}
	counts := checkOutcomes(t, clusterDriver(b.Node, "mid"), told)
	t.Logf("the cut commit: %s; outcomes: %v; node A's clients saw %s", told["a-cut"], counts, &a.wire)
	for _, n := range nodes {
		n.Stop()
	}
	rep := servertest.AuditDatabase(t, db, "after the mid-transaction cut")
	t.Logf("audit: %d blocks, %d revisions verify", rep.Ledgers[0].Blocks, rep.Ledgers[0].Revisions)
}
