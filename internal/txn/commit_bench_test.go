package txn

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/ledger"
	"github.com/strand-db/strand/internal/store"
	pebblestore "github.com/strand-db/strand/internal/store/pebble"
	"github.com/strand-db/strand/internal/store/pebble/faultfs"
)

// BenchmarkEngineCommit commits single-document INSERT transactions
// straight into the engine (no HTTP, no signatures) from conc goroutines,
// on the embedded store with tip records, in a directory on the test's
// file system: what remains is the committer, Pebble's synced batch and
// the tip record's fdatasync, so the group commit's use of the disk shows.
//
//	go test ./internal/txn -run '^$' -bench EngineCommit -benchtime 4000x
func BenchmarkEngineCommit(b *testing.B) {
	benchmarkEngineCommit(b, 0)
}

// BenchmarkEngineCommitSlowDisk is BenchmarkEngineCommit on a disk whose
// every sync (Pebble's and the tip record's) takes 2 ms longer, as a
// network volume's would: there the group commit is bound by the disk.
func BenchmarkEngineCommitSlowDisk(b *testing.B) {
	benchmarkEngineCommit(b, 2*time.Millisecond)
}

// slowTips delays every tip record by delay.
type slowTips struct {
	*store.TipFiles
	delay time.Duration
}

func (s slowTips) Record(rec store.TipRecord) error {
	time.Sleep(s.delay)
	return s.TipFiles.Record(rec)
}

func benchmarkEngineCommit(b *testing.B, syncDelay time.Duration) {
	for _, conc := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("conc=%d", conc), func(b *testing.B) {
			dir := b.TempDir()
			files := store.NewTipFiles(dir)
			fs := faultfs.New(nil)
			fs.SlowSyncs(syncDelay)
			st, err := pebblestore.Open(dir, pebblestore.Options{FS: fs})
			if err != nil {
				b.Fatal(err)
			}
			cat, err := ledger.Open(st, ledger.Options{Region: "us-east-1", AccountID: "000000000000", MaxLedgers: 5})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := cat.Create(ledger.CreateInput{Name: "l", PermissionsMode: ledger.PermissionsAllowAll}, time.Now()); err != nil {
				b.Fatal(err)
			}
			e := NewEngine(st, cat, Options{Tips: slowTips{files, syncDelay}})
			defer func() { e.Close(); _ = st.Close(); _ = files.Close() }()
			newClient(b, e).do("CREATE TABLE T")
			clients := make([]*client, conc)
			for i := range clients {
				clients[i] = newClient(b, e)
			}
			var next atomic.Int64
			b.ResetTimer()
			var wg sync.WaitGroup
			for _, c := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for n := next.Add(1); n <= int64(b.N); n = next.Add(1) {
						if err := c.begin(); err != nil {
							b.Error(err)
							return
						}
						if _, err := c.exec(fmt.Sprintf("INSERT INTO T VALUE {'k': %d, 'v': 'value'}", n)); err != nil {
							b.Error(err)
							return
						}
						if err := c.commit(); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}
