package stream_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
	pebblestore "github.com/strand-db/strand/internal/store/pebble"
	"github.com/strand-db/strand/internal/stream/record"
)

// BenchmarkWorkerBlock is what a stream worker spends per block before
// aggregation: getting the block (read back from Pebble and decoded, or
// taken from the journal's in-memory buffer) and encoding its
// BLOCK_SUMMARY and REVISION_DETAILS records, for blocks of 1 and 40
// documents. `go test -run '^$' -bench WorkerBlock ./internal/stream`.
func BenchmarkWorkerBlock(b *testing.B) {
	for _, docs := range []int{1, 40} {
		st, err := pebblestore.Open(b.TempDir(), pebblestore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		log, err := journal.Open(st, nil, "ledgerid", "led", "strand1")
		if err != nil {
			b.Fatal(err)
		}
		const blocks = 256
		log.Recent(0) // turn the buffer on
		for i := 0; i < blocks; i++ {
			batch := st.NewIndexedBatch()
			g := log.Begin(batch)
			now := time.Now().UTC().Truncate(time.Millisecond)
			if !now.After(g.LastTime()) {
				now = g.LastTime().Add(time.Millisecond)
			}
			tx := fmt.Sprintf("tx%d", g.Next())
			blk := &journal.Block{Address: journal.BlockAddress{StrandID: g.StrandID(), SequenceNo: g.Next()}, TransactionID: tx, Timestamp: now,
				TransactionInfo: journal.TransactionInfo{Statements: []journal.StatementInfo{{Statement: "INSERT INTO T VALUE {'k': ?, 'v': 'some payload of a typical size'}", StartTime: now, StatementDigest: make([]byte, 32)}}}}
			for d := 0; d < docs; d++ {
				id := fmt.Sprintf("doc%d-%d", i, d)
				blk.Revisions = append(blk.Revisions, journal.Revision{
					Data:     ionvalue.Struct(ionvalue.Field{Name: "k", Value: ionvalue.Int(int64(i*docs + d))}, ionvalue.Field{Name: "v", Value: ionvalue.String("some payload of a typical size")}),
					Metadata: journal.RevisionMetadata{ID: id, TxTime: now, TxID: tx}, TableName: "T", TableID: "tableid1"})
				blk.TransactionInfo.Documents = append(blk.TransactionInfo.Documents, journal.DocumentInfo{DocumentID: id, TableName: "T", TableID: "tableid1", Statements: []int{0}})
			}
			blk.Seal(g.Prev())
			if err := g.Append(blk); err != nil {
				b.Fatal(err)
			}
			if err := g.Commit(); err != nil {
				b.Fatal(err)
			}
			g.Publish()
			g.End()
			batch.Close()
		}
		const arn = "arn:aws:qldb:us-east-1:123456789012:stream/led/0123456789abcdefghijkl"
		encode := func(b *testing.B, blk *journal.Block) {
			if _, err := record.EncodeBlockSummary(arn, blk); err != nil {
				b.Fatal(err)
			}
			for _, r := range blk.Revisions {
				if _, err := record.EncodeRevisionDetails(arn, blk.Address, r); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.Run(fmt.Sprintf("docs=%d/store", docs), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				blk, ok, err := log.Block(uint64(i % blocks))
				if err != nil || !ok {
					b.Fatal(ok, err)
				}
				encode(b, blk)
			}
		})
		b.Run(fmt.Sprintf("docs=%d/memory", docs), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				blk, ok := log.Recent(uint64(i % blocks))
				if !ok {
					b.Fatal("not in memory")
				}
				encode(b, blk)
			}
		})
		st.Close()
	}
}
