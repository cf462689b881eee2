package stream_test

import (
	"strings"
	"testing"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/stream"
)

// TestWindowBoundedInBytes streams a journal of about 3 MiB of record data
// (100 blocks of two 16 KB documents) to a Kinesis that accepts
// everything, without aggregation, so that every entry is one user
// record: between two checkpoints (one delivery round, read into memory
// as one window) the worker puts at most stream.MaxWindowBytes of record
// data and the block that crosses it, in several rounds (each PutRecords
// call carries records of one window), and every record arrives once. A worker
// catching up on a long journal therefore holds a bounded batch, however
// far behind it is (it used to read up to 32 MiB per round, and the
// next round's as much again meanwhile).
func TestWindowBoundedInBytes(t *testing.T) {
	w := newUnitWorld(t, 0)
	pad := strings.Repeat("x", 16<<10)
	w.j.dataOf = func(n int) *ionvalue.Value {
		return ionvalue.Struct(ionvalue.Field{Name: "k", Value: ionvalue.Int(int64(n))}, ionvalue.Field{Name: "pad", Value: ionvalue.String(pad)})
	}
	const blocks = 100
	for i := 0; i < blocks; i++ {
		w.j.appendBlock(2)
	}
	w.open()
	id := w.create(false)
	w.waitDelivered(id, blocks)
	w.close() // no checkpoint hook call runs after this

	// Each PutRecords call carries records of one window (a window is put
	// whole, in one or more calls, before the next), so no call may carry
	// more than a window: MaxWindowBytes and the block that crosses it
	// (here about 33 KB). With 32 MiB windows calls reached the 5 MiB
	// PutRecords limit.
	w.kin.mu.Lock()
	var calls []int
	total := 0
	for _, call := range w.kin.sent {
		n := 0
		for _, e := range call {
			n += len(e.Data)
		}
		calls = append(calls, n)
		total += n
	}
	w.kin.mu.Unlock()
	if total < 2*stream.MaxWindowBytes {
		t.Fatalf("the journal's records total %d bytes; the test needs more than two windows", total)
	}
	perBlock := total / blocks
	for i, n := range calls {
		if n > stream.MaxWindowBytes+perBlock {
			t.Errorf("PutRecords call %d carried %d bytes of records, more than MaxWindowBytes %d and one block (%d)", i, n, stream.MaxWindowBytes, perBlock)
		}
	}
	if len(calls) < 3 {
		t.Errorf("%d PutRecords calls for %d bytes, want at least 3", len(calls), total)
	}
	if err := sameCounts(countRecords(w.kin.delivered(t)), w.wantRecords(blocks)); err != nil {
		t.Fatal(err)
	}
}
