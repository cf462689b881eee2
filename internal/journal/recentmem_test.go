package journal

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/store/memstore"
)

// TestRecentBufferMemoryBounded publishes 600 blocks of 40 small documents
// (about 6 MB encoded, every one of them kept under a bound of 8 MiB of
// encoded blocks) into a Log whose recent-block buffer is on, then
// measures the heap the buffer retains (the live heap with the buffer
// full, less the live heap once it is emptied): it is within the default
// bound, 16 MiB of memory, with some slack for the estimate. Before the
// bound counted memory (8 MiB of encoded blocks), the buffer kept all 600
// blocks here, 28 MiB of heap (47 KB each, for 10 KB encoded).
func TestRecentBufferMemoryBounded(t *testing.T) {
	st := memstore.New(t.TempDir())
	l, err := Open(st, nil, "id1", "led", "strand1")
	if err != nil {
		t.Fatal(err)
	}
	l.Recent(0) // turn the buffer on
	const blocks, docs = 600, 40
	var raw [docs][]byte
	for i := range raw {
		v := ionvalue.Struct(ionvalue.Field{Name: "k", Value: ionvalue.Int(int64(i))},
			ionvalue.Field{Name: "v", Value: ionvalue.String("some payload of a typical size")})
		if raw[i], err = ionvalue.MarshalBinary(v); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for n := 0; n < blocks; n++ {
		batch := st.NewIndexedBatch()
		g := l.Begin(batch)
		tx := fmt.Sprintf("tx%020d", n)
		b := &Block{Address: BlockAddress{StrandID: g.StrandID(), SequenceNo: g.Next()}, TransactionID: tx, Timestamp: now,
			TransactionInfo: TransactionInfo{Statements: []StatementInfo{{Statement: "INSERT INTO T << ?, ?, ? >>", StartTime: now, StatementDigest: bytes.Repeat([]byte{1}, 32)}}}}
		for i := 0; i < docs; i++ {
			data, err := ionvalue.DecodeOne(raw[i])
			if err != nil {
				t.Fatal(err)
			}
			id := fmt.Sprintf("d%06d%015d", n, i)
			b.Revisions = append(b.Revisions, Revision{Data: data, Metadata: RevisionMetadata{ID: id, TxTime: now, TxID: tx},
				TableName: "T", TableID: "tableid12345678901234"})
			b.TransactionInfo.Documents = append(b.TransactionInfo.Documents, DocumentInfo{DocumentID: id, TableName: "T", TableID: "tableid12345678901234", Statements: []int{0}})
		}
		b.Seal(g.Prev())
		if err := g.Append(b); err != nil {
			t.Fatal(err)
		}
		if err := g.Commit(); err != nil {
			t.Fatal(err)
		}
		g.Publish()
		g.End()
		batch.Close()
	}
	kept := 0
	for seq := uint64(0); seq < blocks; seq++ {
		if _, ok := l.Recent(seq); ok {
			kept++
		}
	}
	if kept == 0 {
		t.Fatal("the buffer kept no block")
	}
	accounted := l.recent.bytes
	full := liveHeap()
	l.SetRecentLimit(0, 0) // empty it
	retained := full - liveHeap()
	runtime.KeepAlive(l) // the Log and its store stay live: only the buffer's blocks went
	runtime.KeepAlive(st)
	t.Logf("%d of %d blocks kept, retaining %.1f MiB (accounted %.1f MiB)", kept, blocks, float64(retained)/(1<<20), float64(accounted)/(1<<20))
	// The default bound is 16 MiB; the estimate may be off by a little.
	const limit = 20 << 20
	if DefaultRecentBytes > 16<<20 || retained > limit {
		t.Fatalf("the recent-block buffer retains %d bytes of heap (%d blocks), more than %d", retained, kept, limit)
	}
}

// liveHeap returns the bytes of live heap objects after a full collection.
func liveHeap() int {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int(ms.HeapAlloc)
}
