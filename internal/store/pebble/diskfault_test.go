package pebblestore

import (
	"errors"
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
			st, fs := openFaulty(t, dir, 5)
			put := func(k string) error { return putKey(t, st, k) }
			fs.Fail(faultfs.WAL, tc.op, tc.err)
			err := put("refused")
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
			st = reopenAcked(t, st, dir, 5)
			defer st.Close()
			if _, ok, _ := st.Get([]byte("after")); ok {
				t.Fatal("a refused commit is in the store")
			}
			if err := put("again"); err != nil {
				t.Fatalf("commit after reopening: %v", err)
			}
		})
	}
}
