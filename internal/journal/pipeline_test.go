package journal

import (
	"bytes"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/store/memstore"
)

// nextBlock returns a sealed block holding one revision of doc, the next
// one of g.
func nextBlock(g *Group, doc string) *Block {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b := &Block{
		Address: BlockAddress{StrandID: g.StrandID(), SequenceNo: g.Next()}, TransactionID: "tx" + doc, Timestamp: now,
		TransactionInfo: TransactionInfo{Statements: []StatementInfo{{Statement: "INSERT", StartTime: now, StatementDigest: bytes.Repeat([]byte{1}, 32)}}},
		Revisions: []Revision{{Data: ionvalue.Struct(ionvalue.Field{Name: "n", Value: ionvalue.Int(1)}),
			Metadata: RevisionMetadata{ID: doc, TxTime: now, TxID: "tx" + doc}}},
	}
	b.Seal(g.Prev())
	return b
}

// barrierReturned reports whether done was closed within a short wait; a
// Barrier that should still wait must not have returned.
func barrierReturned(done <-chan uint64) (uint64, bool) {
	select {
	case n := <-done:
		return n, true
	case <-time.After(50 * time.Millisecond):
		return 0, false
	}
}

// TestGroupsPipelineBehindTheirRecords checks the pipelined group commit:
// a group applied but not yet recorded is what the next group builds on,
// readers see neither until each is published, Barrier waits for both,
// and an abandoned group is never published.
func TestGroupsPipelineBehindTheirRecords(t *testing.T) {
	st := memstore.New(t.TempDir())
	tips := &memTips{}
	l, err := Open(st, tips, "id1", "led", "strand1")
	if err != nil {
		t.Fatal(err)
	}
	apply := func(doc string) (*Group, *Block) {
		t.Helper()
		batch := st.NewIndexedBatch()
		t.Cleanup(func() { batch.Close() })
		g := l.Begin(batch)
		defer g.End()
		b := nextBlock(g, doc)
		if err := g.Append(b); err != nil {
			t.Fatal(err)
		}
		if err := g.Apply(); err != nil {
			t.Fatal(err)
		}
		return g, b
	}

	ga, a := apply("docA")
	gb, b := apply("docB")
	if a.Address.SequenceNo != 0 || b.Address.SequenceNo != 1 || !bytes.Equal(b.PreviousBlockHash, a.BlockHash) {
		t.Fatalf("the second group did not build on the first, applied one: blocks %d, %d, chained %v",
			a.Address.SequenceNo, b.Address.SequenceNo, bytes.Equal(b.PreviousBlockHash, a.BlockHash))
	}
	if l.Next() != 0 || tips.rec.Next != 0 {
		t.Fatalf("applied groups are visible before their records: Next %d, tip record %+v", l.Next(), tips.rec)
	}
	barrier := make(chan uint64, 1)
	go func() { barrier <- l.Barrier() }()
	if n, ok := barrierReturned(barrier); ok {
		t.Fatalf("Barrier returned %d while two groups were in flight", n)
	}

	if err := ga.Record(); err != nil {
		t.Fatal(err)
	}
	ga.Publish()
	if l.Next() != 1 || tips.rec.Next != 1 || !bytes.Equal(tips.rec.Hash, a.BlockHash) {
		t.Fatalf("after the first group: Next %d, tip record %+v", l.Next(), tips.rec)
	}
	if n, ok := barrierReturned(barrier); ok {
		t.Fatalf("Barrier returned %d while the second group was in flight", n)
	}
	if err := gb.Record(); err != nil {
		t.Fatal(err)
	}
	gb.Publish()
	if n, ok := <-barrier; !ok || n != 2 {
		t.Fatalf("Barrier = %d, want 2", n)
	}

	// An abandoned group ends Barrier's wait and is never visible.
	gc, _ := apply("docC")
	go func() { barrier <- l.Barrier() }()
	if n, ok := barrierReturned(barrier); ok {
		t.Fatalf("Barrier returned %d while a group was in flight", n)
	}
	gc.Abandon()
	gc.Abandon() // settles once
	if n := <-barrier; n != 2 || l.Next() != 2 || tips.rec.Next != 2 {
		t.Fatalf("after an abandoned group: Barrier %d, Next %d, tip record %+v", n, l.Next(), tips.rec)
	}
	if l.Barrier() != 2 {
		t.Fatal("a second Barrier waits")
	}
}
