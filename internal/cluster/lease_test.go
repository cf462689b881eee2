package cluster

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/store"
	"github.com/strand-db/strand/internal/store/memstore"
)

// clock is a settable time shared by the nodes of a test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newNode(st store.Store, clk *clock, id string, lost *atomic.Int32) *Leases {
	return New(Options{Store: st, NodeID: id, URL: "http://" + id, TTL: 3 * time.Second, Now: clk.Now,
		Lost: func(string) {
			if lost != nil {
				lost.Add(1)
			}
		}})
}

// write is one fenced write of node n for the ledger, as the engines do it.
func write(t *testing.T, st store.Store, n *Leases, ledgerID, key string) error {
	t.Helper()
	k, v, ok := n.Fence(ledgerID)
	if !ok {
		return errors.New("not held")
	}
	b := st.NewBatch()
	defer b.Close()
	if err := b.Expect(k, v); err != nil {
		t.Fatal(err)
	}
	if err := b.Set([]byte(key), []byte("x")); err != nil {
		t.Fatal(err)
	}
	return st.Apply(b)
}

func TestOneOwnerAtATime(t *testing.T) {
	st := memstore.New("")
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	var aLost atomic.Int32
	a, b := newNode(st, clk, "a", &aLost), newNode(st, clk, "b", nil)

	l, held, err := a.Acquire("L1")
	if err != nil || !held || l.Token != 1 || l.URL != "http://a" {
		t.Fatalf("a.Acquire = %+v, %v, %v; want a's lease, token 1", l, held, err)
	}
	l, held, err = b.Acquire("L1")
	if err != nil || held || l.Node != "a" {
		t.Fatalf("b.Acquire while a's lease is live = %+v, %v, %v; want a's lease, not held", l, held, err)
	}
	if err := write(t, st, a, "L1", "k1"); err != nil {
		t.Fatalf("owner's fenced write: %v", err)
	}

	// a pauses past its lease: b takes the ledger with the next token.
	clk.Add(4 * time.Second)
	if a.Holds("L1") {
		t.Fatal("a still claims a lease that has expired by its clock")
	}
	l, held, err = b.Acquire("L1")
	if err != nil || !held || l.Token != 2 {
		t.Fatalf("b.Acquire after expiry = %+v, %v, %v; want held, token 2", l, held, err)
	}

	// a wakes up with its old token: the store refuses its writes even if a
	// still believed it held the lease (its clock ran slow, say).
	a.mu.Lock()
	stale := a.held["L1"]
	stale.lease.Expires = clk.Now().Add(time.Hour)
	a.mu.Unlock()
	if err := write(t, st, a, "L1", "k2"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("former owner's write = %v, want store.ErrConflict (fenced)", err)
	}
	if _, ok, _ := st.Get([]byte("k2")); ok {
		t.Fatal("the fenced write was applied")
	}
	// Its renewal fails too, and it learns that it lost the ledger.
	a.renew("L1")
	if a.Holds("L1") || aLost.Load() != 1 {
		t.Fatalf("after a failed renewal: holds=%v lost calls=%d; want false, 1", a.Holds("L1"), aLost.Load())
	}
	if err := write(t, st, b, "L1", "k3"); err != nil {
		t.Fatalf("new owner's write: %v", err)
	}
}

func TestRenewKeepsAndReleaseHandsOver(t *testing.T) {
	st := memstore.New("")
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	a, b := newNode(st, clk, "a", nil), newNode(st, clk, "b", nil)
	if _, held, err := a.Acquire("L1"); err != nil || !held {
		t.Fatalf("a.Acquire: %v %v", held, err)
	}
	for i := 0; i < 5; i++ { // five renewals, each before expiry, span 10 s
		clk.Add(2 * time.Second)
		a.renew("L1")
		if _, held, _ := b.Acquire("L1"); held {
			t.Fatalf("b took a renewed lease after %d renewals", i+1)
		}
	}
	if err := a.Release("L1"); err != nil {
		t.Fatal(err)
	}
	l, held, err := b.Acquire("L1")
	if err != nil || !held || l.Token != 2 {
		t.Fatalf("b.Acquire after release = %+v %v %v; want held at once, token 2", l, held, err)
	}
}

func TestClaimTakesUnownedLedgers(t *testing.T) {
	st := memstore.New("")
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	var gained []string
	a := New(Options{Store: st, NodeID: "a", TTL: 3 * time.Second, Now: clk.Now,
		Candidates: func() []string { return []string{"L1", "L2"} },
		Gained:     func(id string) error { gained = append(gained, id); return nil }})
	b := newNode(st, clk, "b", nil)
	if _, held, _ := b.Acquire("L2"); !held {
		t.Fatal("b could not take L2")
	}
	a.claim()
	if !a.Holds("L1") || a.Holds("L2") || len(gained) != 1 || gained[0] != "L1" {
		t.Fatalf("after claim: holds L1=%v L2=%v gained=%v; want L1 only", a.Holds("L1"), a.Holds("L2"), gained)
	}
	clk.Add(4 * time.Second) // b died
	a.claim()
	if !a.Holds("L2") {
		t.Fatal("a did not take the ledger of a dead node")
	}
}

func TestConcurrentAcquireHasOneWinner(t *testing.T) {
	st := memstore.New("")
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	nodes := make([]*Leases, 8)
	for i := range nodes {
		nodes[i] = newNode(st, clk, string(rune('a'+i)), nil)
	}
	var winners atomic.Int32
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, held, err := n.Acquire("L1"); err != nil {
				t.Error(err)
			} else if held {
				winners.Add(1)
			}
		}()
	}
	wg.Wait()
	if winners.Load() != 1 {
		t.Fatalf("%d nodes hold the lease, want 1", winners.Load())
	}
	raw, _, _ := st.Get(journal.LedgerLayout("L1").Fence)
	if len(raw) != 8 || raw[7] != 1 {
		t.Fatalf("fence = %x, want token 1", raw)
	}
}

// A process restarted at the same address takes back the ledgers of its
// predecessor at once instead of waiting for their leases to expire.
func TestRestartAtSameURLTakesOverAtOnce(t *testing.T) {
	st := memstore.New("")
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	old := New(Options{Store: st, NodeID: "old", URL: "http://10.0.0.1:8410", TTL: 3 * time.Second, Now: clk.Now})
	if _, held, err := old.Acquire("L1"); err != nil || !held {
		t.Fatalf("old.Acquire: %v %v", held, err)
	}
	other := New(Options{Store: st, NodeID: "other", URL: "http://10.0.0.2:8410", TTL: 3 * time.Second, Now: clk.Now})
	if _, held, _ := other.Acquire("L1"); held {
		t.Fatal("another address took a live lease")
	}
	restarted := New(Options{Store: st, NodeID: "new", URL: "http://10.0.0.1:8410", TTL: 3 * time.Second, Now: clk.Now})
	l, held, err := restarted.Acquire("L1")
	if err != nil || !held || l.Token != 2 {
		t.Fatalf("restarted.Acquire = %+v %v %v; want held at once with token 2", l, held, err)
	}
	if err := write(t, st, old, "L1", "k"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("the predecessor's write = %v, want fenced", err)
	}
}
