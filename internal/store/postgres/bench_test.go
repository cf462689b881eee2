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

// BenchmarkApply measures a commit-shaped batch: one expectation (a fence
// row, locked) and ten writes of 512 bytes.
func BenchmarkApply(b *testing.B) {
	st := open(b, pgtest.NewDatabase(b))
	fence := []byte("l/x/fence")
	batch := st.NewBatch()
	_ = batch.Set(fence, []byte("12345678"))
	if err := st.Apply(batch); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		batch := st.NewBatch()
		_ = batch.Expect(fence, []byte("12345678"))
		for j := range 10 {
			_ = batch.Set(fmt.Appendf(nil, "k%08d/%d", i, j), make([]byte, 512))
		}
		i++
		if err := st.Apply(batch); err != nil {
			b.Fatal(err)
		}
	}
}
