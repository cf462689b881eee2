package journal

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/qldbhash"
	"github.com/strand-db/strand/internal/store"
	"github.com/strand-db/strand/internal/store/memstore"
)

// appendBlock appends one block holding one revision of document doc
// through a group and returns it; publish decides whether readers see it.
func appendBlock(t *testing.T, st store.Store, l *Log, doc string, version uint64, publish bool) *Block {
	t.Helper()
	batch := st.NewIndexedBatch()
	defer batch.Close()
	g := l.Begin(batch)
	defer g.End()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b := &Block{
		Address: BlockAddress{StrandID: g.StrandID(), SequenceNo: g.Next()}, TransactionID: "tx" + doc, Timestamp: now,
		TransactionInfo: TransactionInfo{Statements: []StatementInfo{{Statement: "INSERT", StartTime: now, StatementDigest: bytes.Repeat([]byte{1}, 32)}}},
		Revisions: []Revision{
			{Hash: bytes.Repeat([]byte{7}, 32)}, // a table's system revision: no revision lookup entry
			{Data: ionvalue.Struct(ionvalue.Field{Name: "n", Value: ionvalue.Int(1)}),
				Metadata: RevisionMetadata{ID: doc, Version: version, TxTime: now, TxID: "tx" + doc}},
		},
	}
	b.Seal(g.Prev())
	if err := g.Append(b); err != nil {
		t.Fatal(err)
	}
	wrong := *b
	if err := g.Append(&wrong); err == nil {
		t.Fatal("appending a block with a used sequence number succeeded")
	}
	if !publish {
		return b
	}
	if err := g.Commit(); err != nil {
		t.Fatal(err)
	}
	g.Publish()
	return b
}

// TestLogAppendAndRead drives a Log over the in-memory store: appends go
// through a group, become visible only when published, record the tip, and
// are found again (block, revision lookup, digest, proof, tip) after the
// ledger is reopened.
func TestLogAppendAndRead(t *testing.T) {
	st := memstore.New(t.TempDir())
	tips := &memTips{}
	l, err := Open(st, tips, "id1", "led", "strand1")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := l.Tip(); ok || l.Next() != 0 {
		t.Fatalf("new journal: Next %d, tip ok %v", l.Next(), ok)
	}
	changed := l.Changed()

	// A group that is not committed leaves the Log as it was.
	appendBlock(t, st, l, "docA", 0, false)
	if l.Next() != 0 || tips.rec.Next != 0 {
		t.Fatalf("an abandoned group moved Next to %d (tip record %+v)", l.Next(), tips.rec)
	}

	b0 := appendBlock(t, st, l, "docA", 0, true)
	select {
	case <-changed:
	default:
		t.Fatal("Changed was not closed by Publish")
	}
	b1 := appendBlock(t, st, l, "docB", 3, true)
	if tips.rec.Next != 2 || !bytes.Equal(tips.rec.Hash, b1.BlockHash) {
		t.Fatalf("tip record %+v, want next 2 and block 1's hash", tips.rec)
	}
	if !bytes.Equal(b1.PreviousBlockHash, b0.BlockHash) {
		t.Fatal("block 1 is not chained to block 0")
	}

	for _, reopen := range []bool{false, true} {
		if reopen {
			if l, err = Open(st, tips, "id1", "led", "strand1"); err != nil {
				t.Fatal(err)
			}
		}
		addr, hash, ok := l.Tip()
		if !ok || addr.SequenceNo != 1 || addr.StrandID != "strand1" || !bytes.Equal(hash, b1.BlockHash) || l.Barrier() != 2 {
			t.Fatalf("reopen %v: tip %+v %x %v, Barrier %d", reopen, addr, hash, ok, l.Barrier())
		}
		got, ok, err := l.Block(1)
		if err != nil || !ok || !bytes.Equal(got.BlockHash, b1.BlockHash) || got.Revisions[1].Metadata.ID != "docB" {
			t.Fatalf("reopen %v: Block(1) = %v, %v, %v", reopen, got, ok, err)
		}
		if seq, ok, err := l.RevisionBlock("docB", 3); err != nil || !ok || seq != 1 {
			t.Fatalf("reopen %v: RevisionBlock(docB, 3) = %d, %v, %v", reopen, seq, ok, err)
		}
		if _, ok, _ := l.RevisionBlock("docB", 2); ok {
			t.Fatalf("reopen %v: a revision never written has a block", reopen)
		}
		want := qldbhash.MerkleRoot([][]byte{b0.BlockHash, b1.BlockHash})
		if d, err := l.Digest(1); err != nil || !bytes.Equal(d, want) {
			t.Fatalf("reopen %v: Digest(1) = %x, %v; want %x", reopen, d, err, want)
		}
		if p, err := l.BlockProof(0, 1); err != nil || len(p) != 1 || !bytes.Equal(p[0], b1.BlockHash) {
			t.Fatalf("reopen %v: BlockProof(0, 1) = %x, %v", reopen, p, err)
		}
	}

	// A record that claims more blocks than the journal holds refuses
	// the ledger.
	tips.rec.Next = 3
	var loss *JournalLoss
	if _, err := Open(st, tips, "id1", "led", "strand1"); !errors.As(err, &loss) || loss.JournalNext != 2 || loss.AckedNext != 3 {
		t.Fatalf("Open with a record ahead of the journal: %v", err)
	}
}
