package txn

import (
	"context"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/cluster"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/ledger"
	"github.com/strand-db/strand/internal/qldberr"
	"github.com/strand-db/strand/internal/store/memstore"
)

// A former owner that wakes up after its lease was taken cannot append: the
// commit it had in hand is fenced by the store, answered with
// InvalidSessionException, and the journal gets no block from it.
func TestFormerOwnerCannotAppend(t *testing.T) {
	st := memstore.New("")
	cat, err := ledger.Open(st, ledger.Options{Region: "us-east-1", AccountID: "000000000000", MaxLedgers: 5, Shared: true})
	if err != nil {
		t.Fatal(err)
	}
	meta, err := cat.Create(ledger.CreateInput{Name: "l", PermissionsMode: ledger.PermissionsAllowAll}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)}
	a := cluster.New(cluster.Options{Store: st, NodeID: "a", TTL: 3 * time.Second, Now: clk.Now})
	b := cluster.New(cluster.Options{Store: st, NodeID: "b", TTL: 3 * time.Second, Now: clk.Now})

	e := NewEngine(st, cat, Options{Ownership: a, Now: clk.Now})
	t.Cleanup(e.Close)
	if _, held, err := b.Acquire(meta.ID); err != nil || !held {
		t.Fatalf("b.Acquire: %v %v", held, err)
	}
	if _, err := e.StartSession(context.Background(), "l"); qldberr.As(err) == nil || qldberr.As(err).Type != qldberr.CapacityExceeded {
		t.Fatalf("StartSession on a ledger another node holds = %v, want CapacityExceededException", err)
	}
	clk.advance(4 * time.Second) // b dies: a takes the ledger on its next session
	cl := newClient(t, e)
	cl.do("CREATE TABLE T", "INSERT INTO T VALUE {'n': 1}")

	if err := cl.begin(); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.exec("INSERT INTO T VALUE {'n': 2}"); err != nil {
		t.Fatal(err)
	}
	lay := journal.LedgerLayout(meta.ID)
	l, err := e.Ledger("l")
	if err != nil {
		t.Fatal(err)
	}
	next := l.Next()

	if !a.Holds(meta.ID) {
		t.Fatal("a does not hold the ledger it serves")
	}
	// a pauses past its lease; b takes the ledger.
	clk.advance(4 * time.Second)
	if _, held, err := b.Acquire(meta.ID); err != nil || !held {
		t.Fatalf("b.Acquire after a's lease expired: %v %v", held, err)
	}
	// a wakes up and commits the transaction it had open.
	err = cl.commit()
	if qe := qldberr.As(err); qe == nil || qe.Type != qldberr.InvalidSession {
		t.Fatalf("former owner's commit = %v, want InvalidSessionException", err)
	}
	if _, ok, err := st.Get(lay.Block(next)); err != nil || ok {
		t.Fatalf("block %d after the fenced commit: present=%v err=%v; want absent", next, ok, err)
	}
	// And it stays fenced: a new session is refused, nothing more is written.
	if _, err := e.StartSession(context.Background(), "l"); qldberr.As(err) == nil || qldberr.As(err).Type != qldberr.CapacityExceeded {
		t.Fatalf("StartSession on the former owner = %v, want CapacityExceededException", err)
	}
}
