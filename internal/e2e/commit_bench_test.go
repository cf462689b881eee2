package e2e

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/server/servertest"
	pebblestore "github.com/strand-db/strand/internal/store/pebble"
)

// Commit throughput, measured end to end: single-document INSERT
// transactions through the official Go driver against a real node at
// concurrency 1, 8 and 64, next to Pebble's raw rate of small synced batches
// on the same disk, which bounds what any durable commit can do. Run with
//
//	go test -run '^$' -bench 'Commit|PebbleSynced' -benchtime 3s ./internal/server/
//
// See BENCHMARKS.md for results and a profile.

var benchConcurrency = []int{1, 8, 64}

// runConcurrent calls op b.N times from conc goroutines and reports the
// throughput (unit) and the p50/p99 latency of op.
func runConcurrent(b *testing.B, conc int, unit string, op func(i int) error) {
	b.Helper()
	var next atomic.Int64
	lat := make([][]time.Duration, conc)
	var wg sync.WaitGroup
	var failed atomic.Value
	b.ResetTimer()
	start := time.Now()
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N {
					return
				}
				t0 := time.Now()
				if err := op(i); err != nil {
					failed.Store(err)
					return
				}
				lat[g] = append(lat[g], time.Since(t0))
			}
		}(g)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 {
		return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), unit)
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// BenchmarkCommit: each operation is one driver transaction holding one
// INSERT (StartTransaction, ExecuteStatement, CommitTransaction).
func BenchmarkCommit(b *testing.B) {
	for _, conc := range benchConcurrency {
		b.Run(fmt.Sprintf("conc=%d", conc), func(b *testing.B) {
			n := servertest.Start(b, nil)
			n.CreateLedger("bench")
			drv := n.PooledDriver("bench", conc)
			servertest.MustQuery(b, drv, "CREATE TABLE T")
			insert := func(i int) error {
				_, err := drv.Execute(bg, func(tx qldbdriver.Transaction) (any, error) {
					return tx.Execute("INSERT INTO T VALUE {'k': ?, 'v': 'some payload of a typical size'}", i)
				})
				return err
			}
			// Open the driver's sessions before timing.
			var wg sync.WaitGroup
			for g := 0; g < conc; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := insert(-1); err != nil {
						b.Error(err)
					}
				}()
			}
			wg.Wait()
			runConcurrent(b, conc, "tx/s", insert)
		})
	}
}

// BenchmarkPebbleSyncedBatch: each operation applies one small synced
// batch (one 256-byte value) to a store on the same file system.
func BenchmarkPebbleSyncedBatch(b *testing.B) {
	for _, conc := range benchConcurrency {
		b.Run(fmt.Sprintf("conc=%d", conc), func(b *testing.B) {
			st, err := pebblestore.Open(b.TempDir(), pebblestore.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			val := make([]byte, 256)
			runConcurrent(b, conc, "batch/s", func(i int) error {
				batch := st.NewBatch()
				defer batch.Close()
				key := binary.BigEndian.AppendUint64([]byte("bench/"), uint64(i))
				if err := batch.Set(key, val); err != nil {
					return err
				}
				return st.Apply(batch)
			})
		})
	}
}
