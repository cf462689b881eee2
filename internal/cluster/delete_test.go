package cluster

import (
	"errors"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/store"
	"github.com/strand-db/strand/internal/store/memstore"
	pebblestore "github.com/strand-db/strand/internal/store/pebble"
	pgstore "github.com/strand-db/strand/internal/store/postgres"
	"github.com/strand-db/strand/internal/store/postgres/pgtest"
)

// leaseStores opens each store kind a lease can live in (PostgreSQL only
// where pgtest has a server).
var leaseStores = []struct {
	name string
	open func(t *testing.T) store.Store
}{
	{"memstore", func(t *testing.T) store.Store { return memstore.New("") }},
	{"pebble", func(t *testing.T) store.Store {
		st, err := pebblestore.Open(t.TempDir(), pebblestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}},
	{"postgres", func(t *testing.T) store.Store {
		st, err := pgstore.Open(pgtest.NewDatabase(t), pgstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}},
}

// deleteLedger removes a ledger as DeleteLedger does: its catalogue row in
// one batch (expecting it as read), then every key of the ledger, lease and
// fence rows among them.
func deleteLedger(t *testing.T, st store.Store, catKey []byte, ledgerID string) {
	t.Helper()
	row, _, err := st.Get(catKey)
	if err != nil {
		t.Fatal(err)
	}
	b := st.NewBatch()
	must(t, b.Expect(catKey, row))
	must(t, b.Delete(catKey))
	must(t, st.Apply(b))
	b.Close()
	p := journal.LedgerLayout(ledgerID).Prefix
	b = st.NewBatch()
	must(t, b.DeleteRange(p, store.PrefixEnd(p)))
	must(t, st.Apply(b))
	b.Close()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A node must not recreate the lease and fence rows of a ledger that is
// being deleted (TestClusterDeleteLedgerRemovesItsStreams in internal/e2e
// failed about once in 100 runs on PostgreSQL that way). The losing orders
// are driven deterministically, on every store kind:
//
//   - stale candidates: the claim loop listed the ledger, then the delete
//     removed its catalogue row and keys, then Acquire found no lease row
//     and took the ledger as never leased;
//   - deleted mid-Acquire: the ledger was never leased, and the delete runs
//     inside the Catalogued hook, after Acquire read the (absent) lease and
//     the catalogue row and before it applies its batch (only the batch's
//     expectation of the catalogue row can refuse it);
//   - the same with a released lease (the lease row's expectation refuses
//     it too).
func TestAcquireNeverRecreatesADeletedLedgersLease(t *testing.T) {
	cases := []struct {
		name       string
		leased     bool // leased and released before the delete
		midAcquire bool // delete inside Acquire, else before it
	}{
		{"stale_candidates", true, false},
		{"never_leased_deleted_mid_acquire", false, true},
		{"released_deleted_mid_acquire", true, true},
	}
	for _, s := range leaseStores {
		for _, c := range cases {
			t.Run(s.name+"/"+c.name, func(t *testing.T) {
				st := s.open(t)
				defer st.Close()
				const id = "L1"
				catKey := []byte("c/ledger/doomed")
				b := st.NewBatch()
				must(t, b.Set(catKey, []byte(`{"Name":"doomed","ID":"L1"}`)))
				must(t, st.Apply(b))
				b.Close()
				clk := &clock{now: time.Unix(1_700_000_000, 0)}
				if c.leased {
					a := newNode(st, clk, "a", nil)
					if _, held, err := a.Acquire(id); err != nil || !held {
						t.Fatalf("a.Acquire: %v %v", held, err)
					}
					must(t, a.Release(id)) // free: any node may take it
				}
				deleted := false
				if !c.midAcquire {
					deleteLedger(t, st, catKey, id)
					deleted = true
				}
				node := New(Options{Store: st, NodeID: "b", URL: "http://b", TTL: 3 * time.Second, Now: clk.Now,
					Catalogued: func(string) ([]byte, []byte, bool, error) {
						row, ok, err := st.Get(catKey)
						if !deleted {
							deleteLedger(t, st, catKey, id)
							deleted = true
						}
						return catKey, row, ok, err
					}})
				_, held, err := node.Acquire(id)
				if held || !errors.Is(err, ErrNotCatalogued) {
					t.Errorf("Acquire of a ledger deleted meanwhile = held %v, %v; want not held, ErrNotCatalogued", held, err)
				}
				if held, err := node.Take(id); held || err != nil {
					t.Errorf("Take of a deleted ledger = %v, %v; want false, nil", held, err)
				}
				var left []string
				must(t, st.Scan(nil, nil, func(k, _ []byte) bool { left = append(left, string(k)); return true }))
				if len(left) != 0 {
					t.Fatalf("keys left after the ledger was deleted: %q", left)
				}
			})
		}
	}
}

// A change of the ledger's catalogue row (a tag or settings change) between
// Acquire's read of it and its write makes the write conflict; Acquire
// tries again on the fresh row and takes the lease, instead of reporting
// the unchanged (free) lease as another node's.
func TestAcquireRetriesACatalogueChange(t *testing.T) {
	st := memstore.New("")
	catKey := []byte("c/ledger/busy")
	set := func(v string) {
		b := st.NewBatch()
		defer b.Close()
		must(t, b.Set(catKey, []byte(v)))
		must(t, st.Apply(b))
	}
	set(`{"Name":"busy","ID":"L1"}`)
	changed := false
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	n := New(Options{Store: st, NodeID: "a", URL: "http://a", TTL: 3 * time.Second, Now: clk.Now,
		Catalogued: func(string) ([]byte, []byte, bool, error) {
			row, ok, err := st.Get(catKey)
			if !changed {
				changed = true
				set(`{"Name":"busy","ID":"L1","Tags":{"k":"v"}}`)
			}
			return catKey, row, ok, err
		}})
	if l, held, err := n.Acquire("L1"); err != nil || !held || l.Token != 1 {
		t.Fatalf("Acquire across a catalogue change = %+v, %v, %v; want held, token 1", l, held, err)
	}
}
