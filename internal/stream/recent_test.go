package stream_test

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/awslabs/kinesis-aggregation/go/v2/deaggregator"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/stream"
	"github.com/strand-db/strand/internal/stream/record"
	"github.com/strand-db/strand/internal/testenv"
)

// blockReads records, per stream and block, where a worker read it.
type blockReads struct {
	mu   sync.Mutex
	from map[string]map[uint64][]bool // stream id -> seq -> fromMemory of each read
}

func (r *blockReads) read(id string, seq uint64, mem bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.from == nil {
		r.from = map[string]map[uint64][]bool{}
	}
	if r.from[id] == nil {
		r.from[id] = map[uint64][]bool{}
	}
	r.from[id][seq] = append(r.from[id][seq], mem)
}

// count returns how many reads of stream id came from memory and from the
// store, over blocks [lo, hi).
func (r *blockReads) count(id string, lo, hi uint64) (mem, store int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for seq, reads := range r.from[id] {
		if seq < lo || seq >= hi {
			continue
		}
		for _, m := range reads {
			if m {
				mem++
			} else {
				store++
			}
		}
	}
	return mem, store
}

// variedData is document data of many Ion types, so that a difference
// between a block as committed and as read back would show in the records.
func variedData(t *testing.T) func(n int) *ionvalue.Value {
	texts := []string{
		`{k: 1, s: "text", sym: abc, d: 1.50, neg0: -0.0, f: 2.5e0, big: 123456789012345678901234567890}`,
		`{ts: 2024-01-02T03:04:05.123-07:00, day: 2024-01-02, yr: 2024T, blob: {{aGVsbG8=}}, clob: {{"c"}}}`,
		`ann::{l: [1, "x", null.int, null], sx: (a b 1), n: {deep: {deeper: [true, false]}}, dup: 1, dup: 2}`,
		`{empty: {}, el: [], nulls: [null.string, null.struct, null.timestamp], u: "é✓"}`,
	}
	return func(n int) *ionvalue.Value {
		if n%5 == 0 {
			return nil // a deletion
		}
		return testenv.Ion(t, texts[n%len(texts)])
	}
}

// userRecords deaggregates every entry the world's Kinesis acknowledged
// and returns the user records of stream arn, with the stream's
// ARN replaced by a placeholder of the same length (so that two streams'
// records compare byte for byte).
func userRecords(t *testing.T, w *unitWorld, arn string) [][]byte {
	t.Helper()
	w.kin.mu.Lock()
	acked := append([]types.PutRecordsRequestEntry(nil), w.kin.acked...)
	w.kin.mu.Unlock()
	var out [][]byte
	for _, e := range acked {
		users, err := deaggregator.DeaggregateRecords([]types.Record{{Data: e.Data, PartitionKey: e.PartitionKey}})
		if err != nil {
			t.Fatalf("deaggregate: %v", err)
		}
		for _, u := range users {
			r, err := record.Decode(u.Data)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if r.StreamARN == arn {
				out = append(out, bytes.ReplaceAll(u.Data, []byte(arn), bytes.Repeat([]byte{'#'}, len(arn))))
			}
		}
	}
	return out
}

// TestMemoryAndStoreWorkersDeliverIdenticalRecords runs two streams of one
// ledger side by side, one taking recently committed blocks from the
// journal's in-memory buffer and one forced to read every block back from
// the store, over blocks holding many Ion types and a deletion: both
// deliver the same records, byte for byte, and the first did read blocks
// from memory while the second never did.
func TestMemoryAndStoreWorkersDeliverIdenticalRecords(t *testing.T) {
	w := newUnitWorld(t, 1)
	w.j.dataOf = variedData(t)
	var storeID atomic.Value
	storeID.Store("")
	reads := &blockReads{}
	stream.SetBlockSourceHook(t, stream.BlockSourceHook{
		Memory: func(id string) bool { return id != storeID.Load().(string) },
		Read:   reads.read,
	})
	w.open()
	memID := w.createNamed("mem", true)
	storeID.Store(w.createNamed("store", true))
	sid := storeID.Load().(string)
	w.waitDelivered(memID, 1)
	w.waitDelivered(sid, 1)
	const blocks = 8
	for i := 0; i < blocks; i++ {
		w.j.appendBlock(3)
	}
	w.waitDelivered(memID, 1+blocks)
	w.waitDelivered(sid, 1+blocks)

	memDef, storeDef := w.describe(memID), w.describe(sid)
	memRecs := userRecords(t, w, memDef.ARN(unitRegion, unitAccount))
	storeRecs := userRecords(t, w, storeDef.ARN(unitRegion, unitAccount))
	// Aggregates of different shards need not keep their relative order:
	// compare the records as sets (each stream's own order is checked by
	// the overflow test and the other worker tests).
	slices.SortFunc(memRecs, bytes.Compare)
	slices.SortFunc(storeRecs, bytes.Compare)
	if len(memRecs) != len(storeRecs) {
		t.Fatalf("memory-fed stream delivered %d records, store-fed %d", len(memRecs), len(storeRecs))
	}
	for i := range memRecs {
		if !bytes.Equal(memRecs[i], storeRecs[i]) {
			t.Fatalf("record %d differs:\nmemory: %x\nstore:  %x", i, memRecs[i], storeRecs[i])
		}
	}
	if err := sameCounts(countRecords(decodeAll(t, memRecs)), w.wantRecords(1+blocks)); err != nil {
		t.Fatal(err)
	}
	if mem, _ := reads.count(memID, 1, 1+blocks); mem == 0 {
		t.Fatal("the memory-fed worker read no block from memory")
	}
	if mem, _ := reads.count(sid, 0, 1+blocks); mem != 0 {
		t.Fatalf("the store-fed worker read %d blocks from memory", mem)
	}
}

func decodeAll(t *testing.T, datas [][]byte) []*record.Record {
	t.Helper()
	out := make([]*record.Record, len(datas))
	for i, d := range datas {
		r, err := record.Decode(d)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = r
	}
	return out
}

// TestRecentBufferOverflowFallsBackToStore holds a caught-up worker inside
// PutRecords, and the reads of the window it gathers meanwhile, while more
// blocks are committed than the journal's in-memory buffer keeps (2): the
// worker then reads the dropped blocks from the store and the rest from
// memory, and every record is delivered exactly once, in block order.
func TestRecentBufferOverflowFallsBackToStore(t *testing.T) {
	w := newUnitWorld(t, 1)
	w.j.log.SetRecentLimit(2, 1<<20)
	reads := &blockReads{}
	var pause atomic.Pointer[chan struct{}] // holds every block read while set
	stream.SetBlockSourceHook(t, stream.BlockSourceHook{Read: reads.read, Memory: func(string) bool {
		if p := pause.Load(); p != nil {
			<-*p
		}
		return true
	}})
	type gate struct{ entered, release chan struct{} }
	var hold atomic.Pointer[gate]
	w.kin.script(func(ctx context.Context, _ int, _ []types.PutRecordsRequestEntry) (*kinesis.PutRecordsOutput, error) {
		if g := hold.Swap(nil); g != nil {
			close(g.entered)
			select {
			case <-g.release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return nil, nil
	}, nil, nil)
	w.open()
	id := w.create(false) // raw records: the acknowledged order is the delivery order
	w.waitDelivered(id, 1)
	w.j.appendBlock(2) // block 1: caught up, from memory
	w.waitDelivered(id, 2)
	if mem, _ := reads.count(id, 1, 2); mem == 0 {
		t.Fatal("a caught-up worker did not read block 1 from memory")
	}

	g := &gate{entered: make(chan struct{}), release: make(chan struct{})}
	hold.Store(g)
	w.j.appendBlock(2) // block 2: its put is held
	testenv.AwaitTrue(t, "worker inside PutRecords", unitWait, func() bool {
		select {
		case <-g.entered:
			return true
		default:
			return false
		}
	})
	paused := make(chan struct{})
	pause.Store(&paused)
	const last = 11
	for seq := 3; seq < last; seq++ { // blocks 3..10; the buffer keeps 9 and 10
		w.j.appendBlock(2)
	}
	pause.Store(nil)
	close(paused)
	close(g.release)
	w.waitDelivered(id, last)

	if mem, store := reads.count(id, 3, last-2); mem != 0 || store == 0 {
		t.Fatalf("blocks dropped from the buffer: %d reads from memory, %d from the store; want 0 and some", mem, store)
	}
	if mem, _ := reads.count(id, last-2, last); mem == 0 {
		t.Fatal("blocks still in the buffer were not read from memory")
	}
	recs := w.kin.delivered(t)
	if err := sameCounts(countRecords(recs), w.wantRecords(last)); err != nil {
		t.Fatal(err)
	}
	prev := int64(-1)
	for _, r := range recs {
		if r.Type == record.TypeBlockSummary {
			if seq := int64(r.Block.Address.SequenceNo); seq <= prev {
				t.Fatalf("BLOCK_SUMMARY %d after %d", seq, prev)
			} else {
				prev = seq
			}
		}
	}
	if prev != last-1 {
		t.Fatalf("last BLOCK_SUMMARY %d, want %d", prev, last-1)
	}
}
