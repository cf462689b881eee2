package pebblestore

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/strand-db/strand/internal/store/pebble/faultfs"
)

// TestFlushAndCheckpointAfterWALFault: after a failed WAL fsync or write
// has put the store in its failed state, a flush (the memtable to
// sstables) and an online backup's checkpoint are refused with ErrFailed,
// and reopening the directory gives back every acknowledged write. Before,
// the flush rotated the failed log, Pebble panicked on closing it, and the
// unwinding unlocked an unlocked mutex: a fatal error no recover can stop,
// ending the process.
func TestFlushAndCheckpointAfterWALFault(t *testing.T) {
	for _, tc := range []struct {
		name string
		op   faultfs.Op
		call func(st *Store, t *testing.T) error
	}{
		{"fsync then flush", faultfs.Sync, func(st *Store, t *testing.T) error { return st.Flush() }},
		{"write then flush", faultfs.Write, func(st *Store, t *testing.T) error { return st.Flush() }},
		{"fsync then checkpoint", faultfs.Sync, func(st *Store, t *testing.T) error { return st.Checkpoint(filepath.Join(t.TempDir(), "copy")) }},
		{"write then checkpoint", faultfs.Write, func(st *Store, t *testing.T) error { return st.Checkpoint(filepath.Join(t.TempDir(), "copy")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st, fs := openFaulty(t, dir, 50)
			fs.Fail(faultfs.WAL, tc.op, faultfs.EIO)
			if err := putKey(t, st, "refused"); !errors.Is(err, ErrFailed) {
				t.Fatalf("commit on a failing disk: %v", err)
			}
			fs.Clear()
			if err := tc.call(st, t); !errors.Is(err, ErrFailed) {
				t.Errorf("%s after the fault: %v, want ErrFailed", tc.name, err)
			}
			reopenAcked(t, st, dir, 50).Close()
		})
	}
}
