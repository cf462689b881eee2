package e2e

import (
	"bytes"
	"testing"

	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/testenv"
)

// TestRestart commits, stops the node, starts a new one on the same data
// directory and checks that everything is there (documents, indexes,
// dropped tables, history, the journal) and that new commits continue the
// chain and the sequence numbers.
func TestRestart(t *testing.T) {
	n, drv := servertest.StartLedger(t, "durable", nil)
	servertest.MustQuery(t, drv, "CREATE TABLE T")
	servertest.MustQuery(t, drv, "CREATE INDEX ON T (k)")
	servertest.MustQuery(t, drv, "CREATE TABLE Gone")
	servertest.MustQuery(t, drv, "DROP TABLE Gone")
	ids := docIDs(t, servertest.MustQuery(t, drv, "INSERT INTO T << {'k': 'a', 'n': 1}, {'k': 'b', 'n': 2} >>"))
	servertest.MustQuery(t, drv, "UPDATE T SET n = 10 WHERE k = 'a'")
	servertest.MustQuery(t, drv, "DELETE FROM T WHERE k = 'b'")

	l := n.LedgerEngine("durable")
	oldBlocks := servertest.VerifyChain(t, l)
	oldNext := l.Next()
	lastHash := oldBlocks[len(oldBlocks)-1].BlockHash
	strand := l.StrandID
	cfg := n.Config
	n.Stop()

	n2 := servertest.StartConfig(t, cfg)
	l2 := n2.LedgerEngine("durable")
	if l2.StrandID != strand {
		t.Errorf("strand id changed across restart: %s -> %s", strand, l2.StrandID)
	}
	if l2.Next() != oldNext {
		t.Fatalf("after restart Next = %d, want %d", l2.Next(), oldNext)
	}
	if _, tip, ok := l2.Tip(); !ok || !bytes.Equal(tip, lastHash) {
		t.Fatalf("after restart the tip hash is %x, want %x", tip, lastHash)
	}
	restored := servertest.VerifyChain(t, l2)
	for i, b := range restored {
		if !bytes.Equal(b.BlockHash, oldBlocks[i].BlockHash) || b.TransactionID != oldBlocks[i].TransactionID {
			t.Errorf("block %d changed across restart", i)
		}
	}

	drv2 := n2.Driver("durable")
	testenv.WantValues(t, "documents after restart", servertest.MustQuery(t, drv2, "SELECT * FROM T"), `{k:"a",n:10}`)
	testenv.WantValues(t, "index lookup after restart", servertest.MustQuery(t, drv2, "SELECT n FROM T WHERE k = ?", "a"), `{n:10}`)
	testenv.WantValues(t, "catalogue after restart", servertest.MustQuery(t, drv2, "SELECT name, status FROM information_schema.user_tables"),
		`{name:"T",status:"ACTIVE"}`, `{name:"Gone",status:"INACTIVE"}`)
	testenv.WantValues(t, "history after restart", servertest.MustQuery(t, drv2,
		"SELECT VALUE h.metadata.version FROM history(T) AS h WHERE h.metadata.id = ?", ids[0]), `0`, `1`)

	// New commits continue the chain and the sequence numbers.
	before := l2.Next()
	var txID string
	_, err := drv2.Execute(bg, func(tx qldbdriver.Transaction) (any, error) {
		txID = tx.ID()
		return tx.Execute("INSERT INTO T VALUE {'k': 'c', 'n': 3}")
	})
	if err != nil {
		t.Fatal(err)
	}
	all := servertest.VerifyChain(t, l2)
	first := -1
	for i := int(before); i < len(all); i++ {
		if all[i].TransactionID == txID {
			first = i
		}
	}
	if first < 0 {
		t.Fatalf("no block for the new transaction after sequence %d", before)
	}
	nb := all[oldNext] // the first block written after the restart
	if nb.Address.SequenceNo != oldNext {
		t.Errorf("first block after restart has sequenceNo %d, want %d", nb.Address.SequenceNo, oldNext)
	}
	if !bytes.Equal(nb.PreviousBlockHash, lastHash) {
		t.Errorf("first block after restart has previousBlockHash %x, want the last old block's %x", nb.PreviousBlockHash, lastHash)
	}

	// A conflict check across the restart: the index still drives OCC.
	r := newRaw(t, n2, "durable")
	r.begin()
	r.mustExec("SELECT * FROM T WHERE k = 'z'")
	servertest.MustQuery(t, drv2, "INSERT INTO T VALUE {'k': 'y'}")
	if err := r.commit(); err != nil {
		t.Errorf("lookup of k = 'z' conflicted with an insert of k = 'y' after restart: %v", err)
	}
}
