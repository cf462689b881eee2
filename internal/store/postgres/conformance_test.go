package pgstore_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/strand-db/strand/internal/store"
	"github.com/strand-db/strand/internal/store/memstore"
	pgstore "github.com/strand-db/strand/internal/store/postgres"
	"github.com/strand-db/strand/internal/store/postgres/pgtest"
	"github.com/strand-db/strand/internal/store/storetest"
)

func open(t testing.TB, url string) *pgstore.Store {
	t.Helper()
	st, err := pgstore.Open(url, pgstore.Options{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, pgtest.NewDatabase(t)) })
}

// TestLongScans walks ranges longer than one page, both ways, so that the
// iterator fetches several pages through its snapshot; a write applied
// meanwhile is not seen.
func TestLongScans(t *testing.T) {
	st := open(t, pgtest.NewDatabase(t))
	const n = 1500
	b := st.NewBatch()
	for i := range n {
		_ = b.Set([]byte{'k', byte(i >> 8), byte(i)}, []byte{byte(i)})
	}
	if err := st.Apply(b); err != nil {
		t.Fatal(err)
	}
	b.Close()
	it, err := st.NewIter([]byte("k"), []byte("l"))
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	for ok := it.First(); ok; ok = it.Next() {
		if count == 10 { // a write after the snapshot
			w := st.NewBatch()
			_ = w.Set([]byte{'k', 0xff, 0xff}, nil)
			_ = w.Delete([]byte{'k', 5, 0})
			if err := st.Apply(w); err != nil {
				t.Fatal(err)
			}
			w.Close()
		}
		if want := []byte{'k', byte(count >> 8), byte(count)}; string(it.Key()) != string(want) {
			t.Fatalf("key %d = %q, want %q", count, it.Key(), want)
		}
		count++
	}
	back := 0
	for ok := it.Last(); ok; ok = it.Prev() {
		back++
	}
	if count != n || back != n || it.Error() != nil {
		t.Fatalf("forward %d, backward %d keys, want %d (error %v)", count, back, n, it.Error())
	}
	// Direction changes across page boundaries.
	it.First()
	for range 700 {
		it.Next()
	}
	k := string(it.Key())
	it.Next()
	it.Prev()
	for range 650 {
		it.Prev()
	}
	if string(it.Key()) != string([]byte{'k', 0, 50}) || k != string([]byte{'k', 700 >> 8, 700 & 0xff}) {
		t.Fatalf("after moving both ways: %q (%q)", it.Key(), k)
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	got := 0
	if err := st.Scan(nil, nil, func(_, _ []byte) bool { got++; return true }); err != nil || got != n {
		t.Fatalf("scan after the write: %d keys, %v; want %d", got, err, n)
	}
}

// TestSchemaVersion: a second Open of the same database finds the schema;
// a database whose schema is newer than the binary's is refused.
func TestSchemaVersion(t *testing.T) {
	url := pgtest.NewDatabase(t)
	st := open(t, url)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = open(t, url) // already at SchemaVersion
	st.Close()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	if _, err := conn.Exec(t.Context(), `UPDATE strand_schema SET version = $1`, pgstore.SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	if _, err := pgstore.Open(url, pgstore.Options{}); !errors.Is(err, pgstore.ErrSchemaTooNew) {
		t.Fatalf("Open of a newer schema: %v, want ErrSchemaTooNew", err)
	}
}

// TestConnectFailure: an unreachable server fails Open within the connect
// timeout, with an error naming where, and never the password.
func TestConnectFailure(t *testing.T) {
	_, err := pgstore.Open("postgres://strand:s3cret@127.0.0.1:1/db?sslmode=disable", pgstore.Options{ConnectTimeout: 5 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "connect to 127.0.0.1:1/db") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("Open of an unreachable server: %v", err)
	}
	_, err = pgstore.Open("postgres://strand:s3cret@127.0.0.1:1/db?sslmode=bogus", pgstore.Options{})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("Open of a bad URL: %v", err)
	}
}

// TestExpectAcrossStores: two stores on one database (two nodes) increment
// one counter by compare-and-set, starting from an absent key; no update
// is lost, the expectation holds against the other store's commits too.
func TestExpectAcrossStores(t *testing.T) {
	url := pgtest.NewDatabase(t)
	stores := []*pgstore.Store{open(t, url), open(t, url)}
	const workers, each = 4, 10
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			st := stores[w%2]
			for done := 0; done < each; {
				v, ok, err := st.Get([]byte("n"))
				if err != nil {
					errs <- err
					return
				}
				n := 0
				if ok {
					n, _ = strconv.Atoi(string(v))
				} else {
					v = nil
				}
				b := st.NewBatch()
				_ = b.Expect([]byte("n"), v)
				_ = b.Set([]byte("n"), []byte(strconv.Itoa(n+1)))
				err = st.Apply(b)
				b.Close()
				if err == nil {
					done++
				} else if !errors.Is(err, store.ErrConflict) {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if v, _, err := stores[0].Get([]byte("n")); err != nil || string(v) != strconv.Itoa(workers*each) {
		t.Fatalf("counter = %q (%v), want %d", v, err, workers*each)
	}
}

// TestIndexedBatchLongRange: a batch's iterator over a committed range of
// several pages, with sets, deletes and range deletes of the batch spread
// over it, walks like memstore's (the oracle) forwards, backwards, and
// turning back in the middle.
func TestIndexedBatchLongRange(t *testing.T) {
	st := open(t, pgtest.NewDatabase(t))
	oracle := memstore.New("")
	key := func(i int) []byte { return []byte{'k', byte(i >> 8), byte(i)} }
	for _, s := range []store.Store{st, oracle} {
		b := s.NewBatch()
		for i := 0; i < 1200; i += 2 {
			_ = b.Set(key(i), []byte{byte(i)})
		}
		if err := s.Apply(b); err != nil {
			t.Fatal(err)
		}
		b.Close()
	}
	rng := rand.New(rand.NewPCG(1, 2))
	type write struct {
		kind int
		a, b int
	}
	var writes []write
	for range 200 {
		a := rng.IntN(1250)
		writes = append(writes, write{[]int{0, 0, 1, 2, 2, 2}[rng.IntN(6)], a, a + rng.IntN(12)}) // sets, deletes and range deletes
	}
	walk := func(s store.Store) (fwd, back, turn []string) {
		b := s.NewIndexedBatch()
		defer b.Close()
		for _, w := range writes {
			switch w.kind {
			case 0, 1:
				_ = b.Set(key(w.a), []byte("new"))
			case 2:
				if w.b%2 == 0 {
					_ = b.Delete(key(w.a))
				} else {
					_ = b.DeleteRange(key(w.a), key(w.b))
				}
			}
		}
		it, err := b.NewIter(key(10), key(1230))
		if err != nil {
			t.Fatal(err)
		}
		defer it.Close()
		for ok := it.First(); ok; ok = it.Next() {
			v, _ := it.Value()
			fwd = append(fwd, fmt.Sprintf("%x=%x", it.Key(), v))
			if len(fwd) == 200 { // turn back mid-range
				for i := 0; i < 50 && it.Prev(); i++ {
					turn = append(turn, fmt.Sprintf("%x", it.Key()))
				}
				break
			}
		}
		it2, err := b.NewIter(key(10), key(1230))
		if err != nil {
			t.Fatal(err)
		}
		defer it2.Close()
		for ok := it2.Last(); ok; ok = it2.Prev() {
			back = append(back, fmt.Sprintf("%x", it2.Key()))
		}
		if it.Error() != nil || it2.Error() != nil {
			t.Fatal(it.Error(), it2.Error())
		}
		return fwd, back, turn
	}
	f1, b1, t1 := walk(st)
	f2, b2, t2 := walk(oracle)
	if !slices.Equal(f1, f2) || !slices.Equal(b1, b2) || !slices.Equal(t1, t2) {
		t.Fatalf("batch iteration differs from memstore's: forward %d/%d, backward %d/%d, turn %d/%d keys",
			len(f1), len(f2), len(b1), len(b2), len(t1), len(t2))
	}
	if len(f1) != 200 || len(b1) < 300 || len(t1) != 50 {
		t.Fatalf("walks too short to mean anything: %d %d %d", len(f1), len(b1), len(t1))
	}
}
