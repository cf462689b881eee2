// Package storetest is the conformance suite every store.Store
// implementation runs: one table of behaviours the engine relies on.
package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/strand-db/strand/internal/store"
)

// Run runs every behaviour against a fresh store from open (which should
// register the store's cleanup; Run may close the store itself).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, open(t)) })
	}
}

var cases = []struct {
	name string
	run  func(t *testing.T, s store.Store)
}{
	{"GetSetDelete", func(t *testing.T, s store.Store) {
		if _, ok, err := s.Get([]byte("a")); ok || err != nil {
			t.Fatalf("Get of a missing key: %v %v, want not found and no error", ok, err)
		}
		apply(t, s, func(b store.Batch) { must(t, b.Set([]byte("a"), []byte("1"))); must(t, b.Set([]byte("e"), nil)) })
		v, ok, err := s.Get([]byte("a"))
		if !ok || err != nil || string(v) != "1" {
			t.Fatalf("Get a = %q %v %v", v, ok, err)
		}
		v[0] = 'x' // a copy: changing it changes nothing stored
		if v, _, _ := s.Get([]byte("a")); string(v) != "1" {
			t.Fatalf("Get returned the stored slice: now %q", v)
		}
		if v, ok, err := s.Get([]byte("e")); !ok || err != nil || len(v) != 0 {
			t.Fatalf("Get of an empty value = %q %v %v", v, ok, err)
		}
		apply(t, s, func(b store.Batch) { must(t, b.Delete([]byte("a"))); must(t, b.Delete([]byte("nothing"))) })
		if _, ok, err := s.Get([]byte("a")); ok || err != nil {
			t.Fatalf("Get after Delete: %v %v", ok, err)
		}
	}},
	{"WritesInOrder", func(t *testing.T, s store.Store) {
		apply(t, s, func(b store.Batch) {
			must(t, b.Set([]byte("k"), []byte("1")))
			must(t, b.Set([]byte("k"), []byte("2")))
			must(t, b.Set([]byte("gone"), []byte("1")))
			must(t, b.Delete([]byte("gone")))
		})
		want(t, s, nil, nil, "k=2")
	}},
	{"DeleteRange", func(t *testing.T, s store.Store) {
		put(t, s, "a", "b", "b1", "b2", "c", "d")
		apply(t, s, func(b store.Batch) { must(t, b.DeleteRange([]byte("b"), []byte("c"))) })
		want(t, s, nil, nil, "a=a c=c d=d")
	}},
	{"ScanBoundsAndOrder", func(t *testing.T, s store.Store) {
		put(t, s, "b", "a", "c\x00", "c", "d", "\xff")
		want(t, s, []byte("b"), []byte("d"), "b=b c=c c\x00=c\x00")
		want(t, s, nil, nil, "a=a b=b c=c c\x00=c\x00 d=d \xff=\xff")
		var got []string
		must(t, s.ScanReverse([]byte("a"), []byte("d"), func(k, _ []byte) bool { got = append(got, string(k)); return true }))
		if fmt.Sprint(got) != fmt.Sprint([]string{"c\x00", "c", "b", "a"}) {
			t.Errorf("ScanReverse = %q", got)
		}
		n := 0
		must(t, s.Scan(nil, nil, func(_, _ []byte) bool { n++; return n < 2 }))
		if n != 2 {
			t.Errorf("Scan went on after fn returned false: %d calls", n)
		}
		it, err := s.NewIter([]byte("b"), store.PrefixEnd([]byte("c")))
		must(t, err)
		if !it.Last() || string(it.Key()) != "c\x00" || !it.Prev() || string(it.Key()) != "c" || !it.First() || string(it.Key()) != "b" {
			t.Error("iterator Last/Prev/First misplaced")
		}
		for it.Next() {
		}
		if it.Valid() || it.Error() != nil {
			t.Errorf("iterator past the end: valid %v, error %v", it.Valid(), it.Error())
		}
		must(t, it.Close())
	}},
	{"BatchNotVisibleBeforeApply", func(t *testing.T, s store.Store) {
		b := s.NewBatch()
		defer b.Close()
		must(t, b.Set([]byte("a"), []byte("1")))
		if _, ok, _ := s.Get([]byte("a")); ok {
			t.Fatal("a batch's write is visible before Apply")
		}
		want(t, s, nil, nil, "")
		must(t, s.Apply(b))
		want(t, s, nil, nil, "a=1")
		d := s.NewBatch()
		must(t, d.Set([]byte("b"), []byte("1")))
		must(t, d.Close()) // discarded
		want(t, s, nil, nil, "a=1")
	}},
	{"IndexedBatchSeesItsOwnWrites", func(t *testing.T, s store.Store) {
		put(t, s, "a", "b", "c", "d")
		b := s.NewIndexedBatch()
		defer b.Close()
		must(t, b.Set([]byte("a"), []byte("new")))
		must(t, b.Delete([]byte("b")))
		must(t, b.DeleteRange([]byte("c"), []byte("d")))
		must(t, b.Set([]byte("c2"), []byte("c2")))
		must(t, b.Set([]byte("e"), []byte("e")))
		if v, ok, err := b.Get([]byte("a")); !ok || err != nil || string(v) != "new" {
			t.Errorf("batch Get a = %q %v %v", v, ok, err)
		}
		for _, k := range []string{"b", "c"} {
			if _, ok, err := b.Get([]byte(k)); ok || err != nil {
				t.Errorf("batch Get of deleted %s: %v %v", k, ok, err)
			}
		}
		want(t, b, nil, nil, "a=new c2=c2 d=d e=e")
		want(t, b, []byte("b"), []byte("e"), "c2=c2 d=d")
		want(t, s, nil, nil, "a=a b=b c=c d=d")
		must(t, s.Apply(b))
		want(t, s, nil, nil, "a=new c2=c2 d=d e=e")
	}},
	{"ExpectHolds", func(t *testing.T, s store.Store) {
		put(t, s, "lease")
		apply(t, s, func(b store.Batch) {
			must(t, b.Expect([]byte("lease"), []byte("lease")))
			must(t, b.Expect([]byte("absent"), nil))
			must(t, b.Set([]byte("lease"), []byte("2")))
			must(t, b.Set([]byte("w"), []byte("w")))
		})
		want(t, s, nil, nil, "lease=2 w=w")
	}},
	{"ExpectMismatchAppliesNothing", func(t *testing.T, s store.Store) {
		put(t, s, "a", "b", "c")
		for _, tc := range []struct {
			key   string
			value []byte
		}{
			{"a", []byte("other")},   // a different value
			{"a", nil},               // present, expected absent
			{"a", []byte{}},          // present, expected empty
			{"missing", []byte("x")}, // absent, expected a value
			{"missing", []byte{}},    // absent, expected present and empty
		} {
			b := s.NewBatch()
			must(t, b.Expect([]byte("b"), []byte("b"))) // holds
			must(t, b.Expect([]byte(tc.key), tc.value))
			must(t, b.Set([]byte("a"), []byte("changed")))
			must(t, b.Delete([]byte("b")))
			must(t, b.DeleteRange([]byte("c"), []byte("d")))
			must(t, b.Set([]byte("new"), []byte("new")))
			err := s.Apply(b)
			b.Close()
			if !errors.Is(err, store.ErrConflict) {
				t.Errorf("Apply expecting %s=%q: %v, want ErrConflict", tc.key, tc.value, err)
			}
			want(t, s, nil, nil, "a=a b=b c=c")
		}
	}},
	{"ExpectAbsentAndEmpty", func(t *testing.T, s store.Store) {
		// Create-if-absent: the first wins, the second conflicts.
		for i, wantErr := range []bool{false, true} {
			b := s.NewBatch()
			must(t, b.Expect([]byte("k"), nil))
			must(t, b.Set([]byte("k"), []byte{}))
			err := s.Apply(b)
			b.Close()
			if wantErr != errors.Is(err, store.ErrConflict) || (!wantErr && err != nil) {
				t.Fatalf("create-if-absent #%d: %v", i+1, err)
			}
		}
		// An empty value is present, and matches an empty expectation.
		apply(t, s, func(b store.Batch) {
			must(t, b.Expect([]byte("k"), []byte{}))
			must(t, b.Delete([]byte("k")))
		})
		want(t, s, nil, nil, "")
		// The batch's own writes do not count: only the committed state.
		b := s.NewIndexedBatch()
		must(t, b.Set([]byte("k"), []byte("mine")))
		must(t, b.Expect([]byte("k"), []byte("mine")))
		if err := s.Apply(b); !errors.Is(err, store.ErrConflict) {
			t.Errorf("Apply expecting the batch's own write: %v, want ErrConflict", err)
		}
		b.Close()
	}},
	{"ExpectConcurrentIncrements", func(t *testing.T, s store.Store) {
		const workers, each = 4, 15
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for done := 0; done < each; {
					v, ok, err := s.Get([]byte("n"))
					if err != nil {
						errs <- err
						return
					}
					var n int
					if ok {
						n, _ = strconv.Atoi(string(v))
					} else {
						v = nil
					}
					b := s.NewBatch()
					_ = b.Expect([]byte("n"), v)
					_ = b.Set([]byte("n"), []byte(strconv.Itoa(n+1)))
					err = s.Apply(b)
					b.Close()
					switch {
					case err == nil:
						done++
					case !errors.Is(err, store.ErrConflict):
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		want(t, s, nil, nil, fmt.Sprintf("n=%d", workers*each))
	}},
	{"ClosedStoreErrors", func(t *testing.T, s store.Store) {
		put(t, s, "a")
		b := s.NewBatch()
		must(t, b.Set([]byte("b"), nil))
		must(t, s.Close())
		if _, _, err := s.Get([]byte("a")); !errors.Is(err, store.ErrClosed) {
			t.Errorf("Get after Close: %v", err)
		}
		if err := s.Scan(nil, nil, func(_, _ []byte) bool { return true }); !errors.Is(err, store.ErrClosed) {
			t.Errorf("Scan after Close: %v", err)
		}
		if err := s.Apply(b); !errors.Is(err, store.ErrClosed) {
			t.Errorf("Apply after Close: %v", err)
		}
		b.Close()
		if err := s.Close(); !errors.Is(err, store.ErrClosed) {
			t.Errorf("second Close: %v", err)
		}
	}},
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// apply commits the writes fill makes.
func apply(t *testing.T, s store.Store, fill func(store.Batch)) {
	t.Helper()
	b := s.NewBatch()
	defer b.Close()
	fill(b)
	must(t, s.Apply(b))
}

// put stores each key with itself as value.
func put(t *testing.T, s store.Store, keys ...string) {
	t.Helper()
	apply(t, s, func(b store.Batch) {
		for _, k := range keys {
			must(t, b.Set([]byte(k), []byte(k)))
		}
	})
}

// want checks r's keys in [lower, upper) against "k=v k=v", and that the
// reverse scan gives the same keys backwards.
func want(t *testing.T, r store.Reader, lower, upper []byte, want string) {
	t.Helper()
	var got bytes.Buffer
	must(t, store.Scan(r, lower, upper, func(k, v []byte) bool {
		if got.Len() > 0 {
			got.WriteByte(' ')
		}
		fmt.Fprintf(&got, "%s=%s", k, v)
		return true
	}))
	if got.String() != want {
		t.Errorf("keys in [%q, %q) = %q, want %q", lower, upper, got.String(), want)
	}
	var rev []string
	must(t, store.ScanReverse(r, lower, upper, func(k, _ []byte) bool { rev = append(rev, string(k)); return true }))
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	var fwd []string
	must(t, store.Scan(r, lower, upper, func(k, _ []byte) bool { fwd = append(fwd, string(k)); return true }))
	if fmt.Sprint(rev) != fmt.Sprint(fwd) {
		t.Errorf("reverse scan %q is not the forward scan %q reversed", rev, fwd)
	}
}
