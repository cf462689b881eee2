package pebblestore_test

import (
	"errors"
	"testing"

	"github.com/strand-db/strand/internal/store"
	pebblestore "github.com/strand-db/strand/internal/store/pebble"
	"github.com/strand-db/strand/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		st, err := pebblestore.Open(t.TempDir(), pebblestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st
	})
}

// TestReadOnly checks the offline open: it reads what was applied, refuses
// writes, and still holds the directory's lock.
func TestReadOnly(t *testing.T) {
	dir := t.TempDir()
	st, err := pebblestore.Open(dir, pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := st.NewBatch()
	if err := b.Set([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(b); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := pebblestore.Open(dir, pebblestore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if v, ok, err := ro.Get([]byte("k")); !ok || err != nil || string(v) != "v" {
		t.Fatalf("read-only Get = %q %v %v", v, ok, err)
	}
	w := ro.NewBatch()
	defer w.Close()
	if err := w.Set([]byte("k2"), nil); err == nil {
		if err := ro.Apply(w); err == nil {
			t.Error("a read-only store applied a batch")
		}
	}
	if _, err := pebblestore.Open(dir, pebblestore.Options{}); !errors.Is(err, pebblestore.ErrLocked) {
		t.Errorf("open beside a read-only open: %v, want ErrLocked", err)
	}
	if _, err := pebblestore.Open(t.TempDir()+"/missing", pebblestore.Options{ReadOnly: true}); err == nil {
		t.Error("a read-only open created a store")
	}
}
