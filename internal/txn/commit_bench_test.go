package txn

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/strand-db/strand/internal/store"
)

// BenchmarkEngineCommit commits single-document INSERT transactions
// straight into the engine (no HTTP, no signatures) from conc goroutines,
// on the embedded store with tip records, in a directory on the test's
// file system: what remains is the committer, Pebble's synced batch and
// the tip record's fdatasync, so the group commit's use of the disk shows.
//
//	go test ./internal/txn -run '^$' -bench EngineCommit -benchtime 4000x
func BenchmarkEngineCommit(b *testing.B) {
	for _, conc := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("conc=%d", conc), func(b *testing.B) {
			dir := b.TempDir()
			tips := store.NewTipFiles(dir)
			e, closeAll := openTipsEngine(b, dir, tips)
			defer func() { closeAll(); _ = tips.Close() }()
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
