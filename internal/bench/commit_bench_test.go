package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/server/servertest"
)

// BenchmarkLeanCommit runs the commit scenario's lean client against a node
// in this process, so that a CPU profile shows the server's commit path
// with little client noise:
//
//	go test -run '^$' -bench LeanCommit -benchtime 5000x -cpuprofile cpu.out ./internal/bench
func BenchmarkLeanCommit(b *testing.B) {
	for _, conc := range []int{1, 64} {
		b.Run(fmt.Sprintf("conc=%d", conc), func(b *testing.B) {
			n := servertest.Start(b, func(c *config.Config) { // signatures checked, as in a deployment
				c.AccessKeyID, c.SecretAccessKey = servertest.AccessKeyID, servertest.SecretAccessKey
			})
			n.CreateLedger("bench")
			o := &Options{AccessKey: servertest.AccessKeyID, Secret: servertest.SecretAccessKey}
			o.defaults()
			o.Region = n.Config.Region
			lc, err := newLeanClient(&target{url: n.URL(), opts: o}, conc)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			if err := (&leanSession{c: lc, ledger: "bench"}).exec(ctx, "CREATE TABLE T"); err != nil {
				b.Fatal(err)
			}
			sessions := make([]*leanSession, conc)
			for i := range sessions {
				sessions[i] = &leanSession{c: lc, ledger: "bench"}
				if err := sessions[i].start(ctx); err != nil {
					b.Fatal(err)
				}
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ReportAllocs()
			b.ResetTimer()
			for _, s := range sessions {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						if err := s.exec(ctx, insertStmt, ionvalue.Int(next.Load())); err != nil {
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
