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
// data and the block that crosses it, in several rounds, and every record arrives once. A worker
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
	var rounds []int
	ackedBytes := func() int {
		w.kin.mu.Lock()
		defer w.kin.mu.Unlock()
		n := 0
		for _, e := range w.kin.acked {
			n += len(e.Data)
		}
		return n
	}
	last := 0
	stream.SetCheckpointHook(t, func(string) {
		// Called before each checkpoint write, after the round it records
		// was acknowledged (and once with nothing, when the stream is
		// positioned).
		now := ackedBytes()
		rounds = append(rounds, now-last)
		last = now
	})
	w.open()
	id := w.create(false)
	w.waitDelivered(id, blocks)
	w.close() // no checkpoint hook call runs after this

	if last < 2*stream.MaxWindowBytes {
		t.Fatalf("the journal's records total %d bytes; the test needs more than two windows", last)
	}
	// A window takes whole blocks until it holds MaxWindowBytes, so it may
	// pass the bound by the block that crosses it (here about 33 KB).
	perBlock := last / blocks
	delivering := 0
	for i, n := range rounds {
		if n > stream.MaxWindowBytes+perBlock {
			t.Errorf("round %d put %d bytes of records, more than MaxWindowBytes %d and one block (%d)", i, n, stream.MaxWindowBytes, perBlock)
		}
		if n > 0 {
			delivering++
		}
	}
	if delivering < 3 {
		t.Errorf("%d delivery rounds for %d bytes, want at least 3", delivering, last)
	}
	if err := sameCounts(countRecords(w.kin.delivered(t)), w.wantRecords(blocks)); err != nil {
		t.Fatal(err)
	}
}
