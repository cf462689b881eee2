package store

import (
	"bytes"
	"testing"
)

// BenchmarkTipRecord measures one acknowledged-tip write: a 512-byte slot
// and its sync, the cost the committer adds to every group commit.
func BenchmarkTipRecord(b *testing.B) {
	tf := NewTipFiles(b.TempDir())
	defer tf.Close()
	h := bytes.Repeat([]byte{7}, 32)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := tf.Record(TipRecord{LedgerID: "bench", Next: uint64(i + 1), Hash: h}); err != nil {
			b.Fatal(err)
		}
	}
}
