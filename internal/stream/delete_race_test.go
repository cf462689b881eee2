package stream_test

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/stream"
)

// holdAll is a stream.Ownership that holds every ledger, fenced by one key
// the test sets: two Managers over one store then both believe they hold
// the ledger, as two nodes do for a moment when the owner's lease ran out
// by the other node's clock but not yet by its own.
type holdAll struct{}

var holdAllFence = []byte("test/fence")

func (holdAll) Fence(string) (key, value []byte, ok bool) { return holdAllFence, []byte("1"), true }

// TestDropLedgerFencesLateCheckpoint forces the race behind a flaky
// cluster test: node B adopted a ledger's stream and its worker had
// delivered a block but not yet written the checkpoint when node A, which
// served DeleteLedger, removed the ledger's streams. The late checkpoint
// write used to recreate the stream's sc/ key after the delete; now every
// checkpoint and definition write expects the stream's stored definition,
// so no write of a removed stream lands.
func TestDropLedgerFencesLateCheckpoint(t *testing.T) {
	w := newUnitWorld(t, 2)
	fb := w.st.NewBatch()
	if err := fb.Set(holdAllFence, []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := w.st.Apply(fb); err != nil {
		t.Fatal(err)
	}
	fb.Close()
	openNode := func() *stream.Manager {
		m, err := stream.Open(stream.Options{Region: unitRegion, AccountID: unitAccount, Clients: w.kin, Journals: w.j,
			Ledgers: w.cat, Store: w.st, Logger: quietLogger(), RetryBase: time.Millisecond, RetryMax: 5 * time.Millisecond,
			Ownership: holdAll{}})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a := openNode()
	w.m = a
	id := w.create(true)
	w.waitDelivered(id, 2)
	a.Release(w.j.ledger.ID) // A's lease ran out by its own clock

	held := make(chan struct{})
	proceed := make(chan struct{})
	var once sync.Once
	stream.SetCheckpointHook(t, func(string) {
		once.Do(func() {
			close(held)
			<-proceed
		})
	})
	b := openNode() // B took the lease and resumes the stream
	w.j.appendBlock(1)
	<-held // B's worker delivered block 2 and is about to checkpoint it
	a.DropLedger(w.j.ledger.ID)
	close(proceed)
	b.Close() // waits for B's worker, hence for its checkpoint write
	a.Close()
	w.closed = true

	var left []string
	err := w.st.Scan(nil, nil, func(k, _ []byte) bool {
		if bytes.HasPrefix(k, []byte("sc/")) || bytes.HasPrefix(k, []byte("sd/")) {
			left = append(left, string(k))
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Fatalf("stream keys left after the ledger's streams were dropped: %q", left)
	}
}
