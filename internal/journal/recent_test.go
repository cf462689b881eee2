package journal

import (
	"testing"

	"github.com/strand-db/strand/internal/store/memstore"
)

// TestRecentBlocks: once asked, the Log keeps the blocks it publishes (the
// very blocks appended), never an unpublished one, within its bounds
// (oldest dropped first), and a redaction drops the block it rewrites, so
// that readers get the redacted block from the store.
func TestRecentBlocks(t *testing.T) {
	st := memstore.New(t.TempDir())
	l, err := Open(st, nil, "id1", "led", "strand1")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := l.Recent(0); ok {
		t.Fatal("Recent found a block in an empty journal")
	}
	var appended []*Block
	for i := 0; i < 5; i++ {
		appended = append(appended, appendBlock(t, st, l, "doc"+string(rune('a'+i)), 0, true))
	}
	for i, want := range appended {
		if got, ok := l.Recent(uint64(i)); !ok || got != want {
			t.Fatalf("Recent(%d) = %p, %v; want the appended block %p", i, got, ok, want)
		}
	}
	appendBlock(t, st, l, "unpublished", 0, false)
	if _, ok := l.Recent(5); ok {
		t.Fatal("Recent found an unpublished block")
	}

	l.SetRecentLimit(2, 1<<20)
	for seq, want := range map[uint64]bool{0: false, 2: false, 3: true, 4: true} {
		if _, ok := l.Recent(seq); ok != want {
			t.Fatalf("with 2 blocks kept, Recent(%d) found %v, want %v", seq, ok, want)
		}
	}
	l.SetRecentLimit(DefaultRecentBlocks, 1)
	if _, ok := l.Recent(4); ok {
		t.Fatal("a block larger than the byte bound was kept")
	}

	l.SetRecentLimit(DefaultRecentBlocks, DefaultRecentBytes)
	b := appendBlock(t, st, l, "victim", 0, true)
	seq := b.Address.SequenceNo
	if _, ok := l.Recent(seq); !ok {
		t.Fatal("a published block is not kept")
	}
	batch := st.NewIndexedBatch()
	defer batch.Close()
	g := l.Begin(batch)
	_, write, err := g.RedactStored(RedactionTarget{Block: b.Address, DocumentID: "victim", Version: 0})
	if err != nil {
		t.Fatal(err)
	}
	if err := write(); err != nil {
		t.Fatal(err)
	}
	if err := g.Commit(); err != nil {
		t.Fatal(err)
	}
	g.Publish()
	g.End()
	if _, ok := l.Recent(seq); ok {
		t.Fatal("the redacted block is still served from memory")
	}
	stored, ok, err := l.Block(seq)
	if err != nil || !ok || !stored.Revisions[1].IsRedacted() {
		t.Fatalf("stored block after the redaction: ok %v err %v", ok, err)
	}
}
