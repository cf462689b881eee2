package pebblestore

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWALCorruptionMidLogIsNotATornTail flips one byte in the middle of the
// active Pebble write-ahead log of a closed store holding 400 synced
// batches. Pebble must refuse to open it (a WAL replay error marked
// pebble.ErrCorruption) instead of
// replaying the log up to the flipped byte and silently dropping the rest,
// which is what it does without WAL sync chunks (FormatWALSyncChunks).
func TestWALCorruptionMidLogIsNotATornTail(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	val := []byte(strings.Repeat("v", 200))
	for i := 0; i < 400; i++ {
		b := st.NewBatch()
		if err := b.Set([]byte(fmt.Sprintf("k%04d", i)), val); err != nil {
			t.Fatal(err)
		}
		if err := st.Apply(b); err != nil {
			t.Fatal(err)
		}
		b.Close()
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "pebble", "*.log"))
	var active string
	var size int64
	for _, l := range logs {
		if fi, err := os.Stat(l); err == nil && fi.Size() > size {
			active, size = l, fi.Size()
		}
	}
	if size < 40000 {
		t.Fatalf("no write-ahead log with the batches (%v, largest %d bytes)", logs, size)
	}
	raw, err := os.ReadFile(active)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 0x01
	if err := os.WriteFile(active, raw, 0o640); err != nil {
		t.Fatal(err)
	}
	st, err = Open(dir, Options{})
	if err == nil {
		n := 0
		_ = st.Scan([]byte("k"), []byte("l"), func(_, _ []byte) bool { n++; return true })
		st.Close()
		t.Fatalf("the store opened with %d of 400 acknowledged keys after a flipped byte mid-log", n)
	}
	if !strings.Contains(err.Error(), "error when replaying WAL") || !strings.Contains(err.Error(), "A damaged write-ahead log") {
		t.Fatalf("open: %v, want a WAL replay error that points to the operator's procedure", err)
	}
	if st, err := Open(dir, Options{ReadOnly: true}); err == nil {
		st.Close()
		t.Fatal("a read-only open accepted the damaged write-ahead log")
	}
}
