package txn

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/audit"
	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/ledger"
	"github.com/strand-db/strand/internal/store"
	pebblestore "github.com/strand-db/strand/internal/store/pebble"
)

// rebuildQueries are the queries whose answers a rebuild must not change:
// every table, lookups through an index created before the documents and
// one created after them, and the history.
var rebuildQueries = []string{
	"SELECT * FROM A",
	"SELECT * FROM B",
	"SELECT * FROM A WHERE k = 3",
	"SELECT * FROM B WHERE n = 'x2'",
	"SELECT * FROM B WHERE n = 'y4'",
	"SELECT * FROM history(A)",
	"SELECT * FROM history(B)",
	"SELECT * FROM information_schema.user_tables",
}

// fillRebuildLedger builds ledger "l" in st: tables A and B, an index on A
// created before its documents, one on B created after them, updates,
// deletes, and a table C created and dropped. It returns the answers to
// rebuildQueries (as Ion text) and the ledger id.
func fillRebuildLedger(t *testing.T, st store.Store, cat *ledger.Catalog) (map[string]string, string) {
	t.Helper()
	e := NewEngine(st, cat, Options{})
	defer e.Close()
	c := newClient(t, e)
	c.do("CREATE TABLE A", "CREATE TABLE B", "CREATE INDEX ON A (k)")
	for i := 0; i < 30; i++ {
		c.do(fmt.Sprintf("INSERT INTO A VALUE {'k': %d, 'i': %d}", i%7, i), fmt.Sprintf("INSERT INTO B VALUE {'n': 'x%d', 'i': %d}", i%5, i))
	}
	c.do("UPDATE A SET k = 100 WHERE i < 5", "DELETE FROM B WHERE i > 25")
	c.do("CREATE INDEX ON B (n)")
	c.do("UPDATE B SET n = 'y4' WHERE n = 'x4'", "DELETE FROM A WHERE k = 3 AND i > 20", "INSERT INTO B VALUE {'n': 'x2', 'late': true}")
	// An index built over existing documents and dropped again: its
	// entries go with it.
	c.do("CREATE INDEX ON A (i)")
	var dropped string
	for _, ix := range c.do("SELECT * FROM information_schema.user_tables WHERE name = 'A'")[0].Get("indexes").Elems {
		if ix.Get("expr").Text == "[i]" {
			dropped = ix.Get("indexId").Text
		}
	}
	if dropped == "" {
		t.Fatal("the index on A.i is not in information_schema.user_tables")
	}
	c.do(`DROP INDEX "` + dropped + `" ON A WITH (purge = true)`)
	c.do("CREATE TABLE C", "INSERT INTO C VALUE {'c': 1}")
	c.do("DROP TABLE C")
	return runRebuildQueries(t, e), ledgerID(t, cat)
}

func runRebuildQueries(t *testing.T, e *Engine) map[string]string {
	t.Helper()
	c := newClient(t, e)
	out := map[string]string{}
	for _, q := range rebuildQueries {
		var b bytes.Buffer
		for _, v := range c.do(q) {
			b.WriteString(ionvalue.MarshalText(v))
			b.WriteByte('\n')
		}
		out[q] = b.String()
	}
	return out
}

func ledgerID(t *testing.T, cat *ledger.Catalog) string {
	t.Helper()
	l, err := cat.Describe("l")
	if err != nil {
		t.Fatal(err)
	}
	return l.ID
}

// scanLedger returns every key and value under the ledger's prefix.
func scanLedger(t *testing.T, st store.Store, ledgerID string) map[string]string {
	t.Helper()
	p := journal.LedgerLayout(ledgerID).Prefix
	out := map[string]string{}
	if err := st.Scan(p, store.PrefixEnd(p), func(k, v []byte) bool { out[string(k)] = string(v); return true }); err != nil {
		t.Fatal(err)
	}
	return out
}

func openRebuildStore(t *testing.T) (store.Store, *ledger.Catalog) {
	t.Helper()
	st, err := pebblestore.Open(t.TempDir(), pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cat, err := ledger.Open(st, ledger.Options{Region: "us-east-1", AccountID: "000000000000", MaxLedgers: 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cat.Create(ledger.CreateInput{Name: "l", PermissionsMode: ledger.PermissionsAllowAll}, time.Now()); err != nil {
		t.Fatal(err)
	}
	return st, cat
}

// TestRebuildDerived damages a ledger's derived records two ways (all of
// them deleted; a latest revision and an index entry overwritten, history
// entries deleted), rebuilds them from the journal and checks that every
// record is byte for byte what commit wrote, that verification passes and
// that the queries answer as before.
func TestRebuildDerived(t *testing.T) {
	damages := map[string]func(t *testing.T, st store.Store, id string, before map[string]string){
		"all deleted": func(t *testing.T, st store.Store, id string, _ map[string]string) {
			b := st.NewBatch()
			defer b.Close()
			for _, p := range []string{"d/", "h/", "x/", "r/", "m/"} {
				lo := []byte("l/" + id + "/" + p)
				if err := b.DeleteRange(lo, store.PrefixEnd(lo)); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.Apply(b); err != nil {
				t.Fatal(err)
			}
		},
		"some corrupted": func(t *testing.T, st store.Store, id string, before map[string]string) {
			b := st.NewBatch()
			defer b.Close()
			var d, x, h int
			for k, v := range before {
				rel := k[len("l/"+id+"/"):]
				var err error
				switch {
				case rel[:2] == "d/" && d == 0:
					d++
					err = b.Set([]byte(k), []byte(v[:len(v)/2]))
				case rel[:2] == "x/" && x == 0:
					x++
					err = b.Delete([]byte(k))
					if err == nil { // an entry pointing at a wrong document
						err = b.Set([]byte(k+"X"), nil)
					}
				case rel[:2] == "h/" && h < 3:
					h++
					err = b.Delete([]byte(k))
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := st.Apply(b); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, damage := range damages {
		t.Run(name, func(t *testing.T) {
			st, cat := openRebuildStore(t)
			want, id := fillRebuildLedger(t, st, cat)
			before := scanLedger(t, st, id)
			damage(t, st, id, before)
			if rep, err := audit.Run(st, audit.Options{Ledger: "l"}); err != nil || rep.OK() {
				t.Fatalf("verify after the damage: ok=%v err=%v, want a failure", err == nil && rep.OK(), err)
			}

			// Small batches: the rebuild spans many of them.
			defer func(w int) { rebuildBatchWrites = w }(rebuildBatchWrites)
			rebuildBatchWrites = 16
			stats, err := RebuildDerived(st, id, nil)
			if err != nil {
				t.Fatalf("RebuildDerived: %v", err)
			}
			if stats.Blocks == 0 || stats.History == 0 || stats.IndexEntries == 0 || stats.Tables != 3 || stats.Batches < 10 {
				t.Errorf("stats %+v", stats)
			}
			after := scanLedger(t, st, id)
			for k, v := range before {
				if got, ok := after[k]; !ok {
					t.Errorf("key %q missing after the rebuild", k)
				} else if got != v {
					t.Errorf("key %q: rebuilt %x, commit wrote %x", k, got, v)
				}
			}
			for k := range after {
				if _, ok := before[k]; !ok {
					t.Errorf("key %q is new after the rebuild", k)
				}
			}
			rep, err := audit.Run(st, audit.Options{Ledger: "l"})
			if err != nil || !rep.OK() {
				t.Fatalf("verify after the rebuild: err=%v failure=%v", err, rep.FirstFailure())
			}
			e := NewEngine(st, cat, Options{})
			defer e.Close()
			got := runRebuildQueries(t, e)
			for _, q := range rebuildQueries {
				if got[q] != want[q] {
					t.Errorf("%s after the rebuild:\n%s\nwant:\n%s", q, got[q], want[q])
				}
			}
		})
	}
}

// TestRebuildDerivedCatalogueMismatch checks that a catalogue that the
// journal does not account for (an entry missing, or changed) stops the
// rebuild before it changes anything.
func TestRebuildDerivedCatalogueMismatch(t *testing.T) {
	st, cat := openRebuildStore(t)
	_, id := fillRebuildLedger(t, st, cat)
	var tkeys [][]byte
	var tvals [][]byte
	p := []byte("l/" + id + "/t/")
	if err := st.Scan(p, store.PrefixEnd(p), func(k, v []byte) bool {
		tkeys, tvals = append(tkeys, bytes.Clone(k)), append(tvals, bytes.Clone(v))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		val  []byte // nil: delete
	}{
		{"missing", nil},
		{"changed", bytes.Replace(tvals[0], []byte(`"version":`), []byte(`"version":1`), 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := st.NewBatch()
			if tc.val == nil {
				b.Delete(tkeys[0])
			} else {
				b.Set(tkeys[0], tc.val)
			}
			if err := st.Apply(b); err != nil {
				t.Fatal(err)
			}
			b.Close()
			before := scanLedger(t, st, id)
			if _, err := RebuildDerived(st, id, nil); !errors.Is(err, ErrCatalogue) {
				t.Fatalf("RebuildDerived: %v, want ErrCatalogue", err)
			}
			after := scanLedger(t, st, id)
			if len(after) != len(before) {
				t.Fatalf("the failed rebuild changed the store: %d keys, had %d", len(after), len(before))
			}
			b = st.NewBatch()
			b.Set(tkeys[0], tvals[0])
			if err := st.Apply(b); err != nil {
				t.Fatal(err)
			}
			b.Close()
		})
	}
}
