package pebblestore

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/strand-db/strand/internal/store"
)

// TestCorruptBlockIsAnError damages one data block of a table file and
// checks that reading it is an error matching ErrCorruption (the old code
// ended the process), that keys in other blocks still read, and that the
// event is counted.
func TestCorruptBlockIsAnError(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Values bigger than a 4 KiB data block, random so they are stored
	// verbatim: each has a data block of its own.
	vals := make([][]byte, 3)
	b := st.NewBatch()
	for i := range vals {
		vals[i] = make([]byte, 6000)
		if _, err := rand.Read(vals[i]); err != nil {
			t.Fatal(err)
		}
		if err := b.Set([]byte{'k', byte('a' + i)}, vals[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Apply(b); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	ssts, _ := filepath.Glob(filepath.Join(dir, "pebble", "*.sst"))
	found := false
	for _, path := range ssts {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.Index(raw, vals[1]); i >= 0 {
			raw[i+100] ^= 0x80
			if err := os.WriteFile(path, raw, 0o644); err != nil {
				t.Fatal(err)
			}
			found = true
		}
	}
	if !found {
		t.Fatal("value kb is not stored verbatim in a table file")
	}

	st, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, _, err = st.Get([]byte("kb"))
	if !errors.Is(err, store.ErrCorruption) || !store.IsCorruption(err) || string(store.CorruptKey(err)) != "kb" {
		t.Fatalf("Get of the damaged key: want ErrCorruption naming kb, got %v", err)
	}
	for _, k := range []string{"ka", "kc"} {
		if _, ok, err := st.Get([]byte(k)); err != nil || !ok {
			t.Errorf("Get %s (an undamaged block): %v %v", k, ok, err)
		}
	}
	err = st.Scan([]byte("k"), []byte("l"), func(_, _ []byte) bool { return true })
	if !errors.Is(err, store.ErrCorruption) {
		t.Errorf("Scan over the damaged block: want ErrCorruption, got %v", err)
	}
	// Through an indexed batch's iterator (how verify and txn read), the
	// error is marked the same way.
	view := st.NewIndexedBatch()
	defer view.Close()
	it, err := view.NewIter([]byte("k"), []byte("l"))
	if err != nil {
		t.Fatal(err)
	}
	var iterErr error
	for ok := it.First(); ok && iterErr == nil; ok = it.Next() {
		_, iterErr = it.Value()
	}
	if iterErr == nil {
		iterErr = it.Close()
	} else {
		it.Close()
	}
	if !store.IsCorruption(iterErr) || string(store.CorruptKey(iterErr)) != "k" {
		t.Errorf("iterator over the damaged block: want ErrCorruption naming the lower bound, got %v", iterErr)
	}
	if st.Corruptions() == 0 {
		t.Error("no corruption event counted")
	}
}
