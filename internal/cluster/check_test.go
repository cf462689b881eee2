package cluster

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/store"
	pgstore "github.com/strand-db/strand/internal/store/postgres"
	"github.com/strand-db/strand/internal/store/postgres/pgtest"
)

// openPG opens a fresh PostgreSQL database as a store.
func openPG(t *testing.T) store.Store {
	t.Helper()
	st, err := pgstore.Open(pgtest.NewDatabase(t), pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func put(t *testing.T, st store.Store, key, value []byte) {
	t.Helper()
	b := st.NewBatch()
	defer b.Close()
	if err := b.Set(key, value); err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(b); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, st store.Store, key []byte) []byte {
	t.Helper()
	v, ok, err := st.Get(key)
	if err != nil || !ok {
		t.Fatalf("get %s: %v, %v", key, ok, err)
	}
	return v
}

// wantDamaged fails unless err names row as damaged lease metadata of
// ledger L1.
func wantDamaged(t *testing.T, err error, row []byte, what string) {
	t.Helper()
	if !store.IsCorruption(err) || !bytes.Equal(store.CorruptKey(err), row) {
		t.Fatalf("%s: got %v; want the corruption of row %s", what, err, row)
	}
	if !strings.Contains(err.Error(), "ledger L1") || !strings.Contains(err.Error(), string(row)) {
		t.Fatalf("%s: %q does not name the ledger and the row", what, err)
	}
}

// Every single flipped byte of a ledger's lease row or fence row, on
// PostgreSQL, is reported as the damage of that row (by Check, and by the
// lease keeper's reads), never taken for another node's lease; Repair
// rewrites the rows with a higher token so that the ledger can be taken
// again, and the former owner's fenced writes stay refused.
func TestDamagedLeaseMetadataIsNamed(t *testing.T) {
	st := openPG(t)
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	a := newNode(st, clk, "node-a", nil)
	if _, held, err := a.Acquire("L1"); err != nil || !held {
		t.Fatalf("Acquire: %v, %v", held, err)
	}
	if err := Check(st, "L1"); err != nil {
		t.Fatalf("Check of intact rows: %v", err)
	}
	lay := journal.LedgerLayout("L1")
	lease, fence := get(t, st, lay.Lease), get(t, st, lay.Fence)
	for i := range lease {
		for _, bit := range []byte{0x01, 0x20} {
			bad := bytes.Clone(lease)
			bad[i] ^= bit
			put(t, st, lay.Lease, bad)
			wantDamaged(t, Check(st, "L1"), lay.Lease, "lease byte "+string(lease[i]))
			_, _, err := a.Read("L1")
			wantDamaged(t, err, lay.Lease, "Read")
		}
	}
	put(t, st, lay.Lease, lease)
	for i := range fence {
		bad := bytes.Clone(fence)
		bad[i] ^= 0x01
		put(t, st, lay.Fence, bad)
		wantDamaged(t, Check(st, "L1"), lay.Fence, "fence")
		if err := a.CheckFence("L1"); !store.IsCorruption(err) {
			t.Fatalf("CheckFence: %v", err)
		}
		if err := write(t, st, a, "L1", "k"); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("a fenced write over a damaged fence: %v; want refused", err)
		}
	}
	put(t, st, lay.Fence, fence)
	if err := write(t, st, a, "L1", "k"); err != nil {
		t.Fatalf("fenced write after the fence is restored: %v", err)
	}

	// Repair: a damaged lease row, then a damaged fence row.
	bad := bytes.Clone(lease)
	bad[0] ^= 0x01
	put(t, st, lay.Lease, bad)
	token, err := Repair(st, "L1")
	if err != nil || token != 2 {
		t.Fatalf("Repair = %d, %v; want token 2", token, err)
	}
	if err := Check(st, "L1"); err != nil {
		t.Fatalf("Check after Repair: %v", err)
	}
	if err := write(t, st, a, "L1", "k"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("the former owner's write after Repair: %v; want refused", err)
	}
	b := newNode(st, clk, "node-b", nil)
	if l, held, err := b.Acquire("L1"); err != nil || !held || l.Token != 3 {
		t.Fatalf("Acquire after Repair = %+v, %v, %v; want held with token 3", l, held, err)
	}
	fence = get(t, st, lay.Fence)
	bad = bytes.Clone(fence)
	bad[0] ^= 0x80 // the token becomes huge: Repair goes above it
	put(t, st, lay.Fence, bad)
	if token, err := Repair(st, "L1"); err != nil || token != 0x8000000000000004 {
		t.Fatalf("Repair = %#x, %v", token, err)
	}
	if err := Check(st, "L1"); err != nil {
		t.Fatalf("Check after Repair: %v", err)
	}
	if token, err := Repair(st, "L1"); err != nil || token != 0 {
		t.Fatalf("Repair of intact rows = %d, %v; want nothing done", token, err)
	}
}
