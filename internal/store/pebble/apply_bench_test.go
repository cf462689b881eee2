package pebblestore_test

import (
	"strconv"
	"sync/atomic"
	"testing"

	pebblestore "github.com/strand-db/strand/internal/store/pebble"
)

// BenchmarkApplyParallel measures plain (unconditional) synced commits from
// many goroutines, the path that shares fsyncs: conditional batches must
// not slow it down.
func BenchmarkApplyParallel(b *testing.B) {
	st, err := pebblestore.Open(b.TempDir(), pebblestore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var n atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			batch := st.NewBatch()
			_ = batch.Set([]byte("k"+strconv.FormatInt(n.Add(1), 10)), make([]byte, 256))
			if err := st.Apply(batch); err != nil {
				b.Error(err)
			}
			batch.Close()
		}
	})
}
