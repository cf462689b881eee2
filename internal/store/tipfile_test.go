package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func hashOf(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// writeTips records n tips (blocks 1..n, hash byte = block count) for ledger
// "L" and returns the file's path.
func writeTips(t *testing.T, dir string, n int) string {
	t.Helper()
	tf := NewTipFiles(dir)
	for i := 1; i <= n; i++ {
		if err := tf.Record(TipRecord{LedgerID: "L", Next: uint64(i), Hash: hashOf(byte(i))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tf.Close(); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "tips", "L.tip")
}

func mustLoad(t *testing.T, dir string) (TipRecord, bool, error) {
	t.Helper()
	return NewTipFiles(dir).Load("L")
}

func TestTipRecordRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if _, ok, err := mustLoad(t, dir); ok || err != nil {
		t.Fatalf("no file: ok=%v err=%v, want no record", ok, err)
	}
	writeTips(t, dir, 5)
	rec, ok, err := mustLoad(t, dir)
	if err != nil || !ok || rec.Next != 5 || !bytes.Equal(rec.Hash, hashOf(5)) || rec.LedgerID != "L" {
		t.Fatalf("got %+v ok=%v err=%v, want block count 5", rec, ok, err)
	}
	// A new TipFiles continues the generations of the file.
	tf := NewTipFiles(dir)
	if err := tf.Record(TipRecord{LedgerID: "L", Next: 6, Hash: hashOf(6)}); err != nil {
		t.Fatal(err)
	}
	tf.Close()
	if rec, _, _ := mustLoad(t, dir); rec.Next != 6 {
		t.Fatalf("after reopening: block count %d, want 6", rec.Next)
	}
	// An empty journal is recorded without a hash.
	if err := NewTipFiles(t.TempDir()).Record(TipRecord{LedgerID: "L"}); err != nil {
		t.Fatal(err)
	}
}

// damage applies f to the newest slot (the one holding block count n) or the
// older one of a file written by writeTips(n).
func damage(t *testing.T, path string, newest bool, n int, f func(slot []byte)) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	slot := n % 2 // generation n is in slot n%2
	if !newest {
		slot = 1 - slot
	}
	f(raw[slot*tipSlotSize : (slot+1)*tipSlotSize])
	if err := os.WriteFile(path, raw, 0o640); err != nil {
		t.Fatal(err)
	}
}

func TestTipRecordDamagedSlot(t *testing.T) {
	for _, tc := range []struct {
		name   string
		newest bool
		f      func([]byte)
		want   uint64
	}{
		{"flipped byte in the newest slot", true, func(s []byte) { s[20] ^= 0x40 }, 6},
		{"flipped checksum byte in the newest slot", true, func(s []byte) { s[61] ^= 1 }, 6},
		{"torn newest slot (second half zero)", true, func(s []byte) { clear(s[30:]) }, 6},
		{"newest slot never written (all zero)", true, func(s []byte) { clear(s) }, 6},
		{"flipped byte in the older slot", false, func(s []byte) { s[40] ^= 0xff }, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeTips(t, dir, 7)
			damage(t, path, tc.newest, 7, tc.f)
			rec, ok, err := mustLoad(t, dir)
			if err != nil || !ok {
				t.Fatalf("ok=%v err=%v, want the other slot's record", ok, err)
			}
			if rec.Next != tc.want || !bytes.Equal(rec.Hash, hashOf(byte(tc.want))) {
				t.Fatalf("block count %d, want %d", rec.Next, tc.want)
			}
		})
	}
}

func TestTipRecordBothSlotsCorrupt(t *testing.T) {
	dir := t.TempDir()
	path := writeTips(t, dir, 3)
	damage(t, path, true, 3, func(s []byte) { s[12] ^= 1 })
	damage(t, path, false, 3, func(s []byte) { s[0] = 'X' })
	_, ok, err := mustLoad(t, dir)
	if ok || !errors.Is(err, ErrTipRecordCorrupt) {
		t.Fatalf("ok=%v err=%v, want ErrTipRecordCorrupt", ok, err)
	}
	// A truncated file is corrupt too, not missing.
	if err := os.WriteFile(path, []byte("STRNDTIP"), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, _, err := mustLoad(t, dir); !errors.Is(err, ErrTipRecordCorrupt) {
		t.Fatalf("truncated file: err=%v, want ErrTipRecordCorrupt", err)
	}
	// Recording replaces the corrupt file.
	tf := NewTipFiles(dir)
	if err := tf.Record(TipRecord{LedgerID: "L", Next: 9, Hash: hashOf(9)}); err != nil {
		t.Fatal(err)
	}
	tf.Close()
	if rec, ok, err := mustLoad(t, dir); err != nil || !ok || rec.Next != 9 {
		t.Fatalf("after rewrite: %+v ok=%v err=%v", rec, ok, err)
	}
}

func TestTipRecordOtherLedgersFileIsRejected(t *testing.T) {
	dir := t.TempDir()
	path := writeTips(t, dir, 2)
	// A file copied under another ledger's name does not vouch for it.
	if err := os.Rename(path, filepath.Join(dir, "tips", "M.tip")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := NewTipFiles(dir).Load("M"); !errors.Is(err, ErrTipRecordCorrupt) {
		t.Fatalf("err=%v, want ErrTipRecordCorrupt", err)
	}
}

func TestTipRecordRemove(t *testing.T) {
	dir := t.TempDir()
	tf := NewTipFiles(dir)
	if err := tf.Record(TipRecord{LedgerID: "L", Next: 1, Hash: hashOf(1)}); err != nil {
		t.Fatal(err)
	}
	if err := tf.Remove("L"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := tf.Load("L"); ok || err != nil {
		t.Fatalf("after Remove: ok=%v err=%v", ok, err)
	}
	if err := tf.Remove("L"); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
}
