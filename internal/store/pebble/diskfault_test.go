package pebblestore

import (
	"errors"
	"fmt"
	"testing"

	"github.com/strand-db/strand/internal/store/pebble/faultfs"
)

// TestWriteFaultRefusesCommit injects each fault of a failing disk beneath
// the write-ahead log (a failed sync, a failed write, a full disk) and
// checks that the commit meeting it returns an error matching ErrFailed
// (the old code ended the process from Pebble's Fatalf), that every later
// commit is refused even once the disk works again, that reads keep
// working, and that reopening the directory gives back every commit that
// was acknowledged.
func TestWriteFaultRefusesCommit(t *testing.T) {
	for _, tc := range []struct {
		name string
		op   faultfs.Op
		err  error
	}{
		{"fsync EIO", faultfs.Sync, faultfs.EIO},
		{"write EIO", faultfs.Write, faultfs.EIO},
		{"write ENOSPC", faultfs.Write, faultfs.ENOSPC},
		{"fsync ENOSPC", faultfs.Sync, faultfs.ENOSPC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fs := faultfs.New(nil)
			st, err := Open(dir, Options{FS: fs})
			if err != nil {
				t.Fatal(err)
			}
			put := func(k string) error {
				b := st.NewBatch()
				defer b.Close()
				if err := b.Set([]byte(k), []byte("v-"+k)); err != nil {
					t.Fatal(err)
				}
				return st.Apply(b)
			}
			for i := range 5 {
				if err := put(fmt.Sprintf("acked%d", i)); err != nil {
					t.Fatal(err)
				}
			}
			fs.Fail(faultfs.WAL, tc.op, tc.err)
			err = put("refused")
			if !errors.Is(err, ErrFailed) || !errors.Is(st.Failure(), tc.err) {
				t.Fatalf("commit on a failing disk: %v (store failure %v), want ErrFailed wrapping %v", err, st.Failure(), tc.err)
			}
			if fs.Injected() == 0 {
				t.Fatal("no fault was injected")
			}
			fs.Clear()
			if err := put("after"); !errors.Is(err, ErrFailed) {
				t.Fatalf("commit after the disk recovered: %v, want ErrFailed until reopened", err)
			}
			if v, ok, err := st.Get([]byte("acked4")); err != nil || !ok || string(v) != "v-acked4" {
				t.Fatalf("read after the failure: %q %v %v", v, ok, err)
			}
			_ = st.Close() // may report the failed log
			st, err = Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			for i := range 5 {
				if _, ok, err := st.Get(fmt.Appendf(nil, "acked%d", i)); err != nil || !ok {
					t.Fatalf("acknowledged key %d after reopening: %v %v", i, ok, err)
				}
			}
			if _, ok, _ := st.Get([]byte("after")); ok {
				t.Fatal("a refused commit is in the store")
			}
			if err := put("again"); err != nil {
				t.Fatalf("commit after reopening: %v", err)
			}
		})
	}
}
