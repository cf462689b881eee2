package pgstore_test

import (
	"fmt"
	"testing"

	"github.com/strand-db/strand/internal/store/postgres/pgtest"
)

// BenchmarkReads measures a point read and a scan of 10 keys (one page: one
// round trip, the transaction ended in the background) and of 1000 keys
// (several pages through one snapshot).
func BenchmarkReads(b *testing.B) {
	st := open(b, pgtest.NewDatabase(b))
	batch := st.NewBatch()
	for i := range 1000 {
		_ = batch.Set(fmt.Appendf(nil, "k%04d", i), make([]byte, 100))
	}
	if err := st.Apply(batch); err != nil {
		b.Fatal(err)
	}
	b.Run("Get", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := st.Get([]byte("k0500")); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("Scan%d", n), func(b *testing.B) {
			hi := fmt.Appendf(nil, "k%04d", n)
			for b.Loop() {
				if err := st.Scan([]byte("k"), hi, func(_, _ []byte) bool { return true }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
