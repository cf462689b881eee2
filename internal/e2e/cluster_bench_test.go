package e2e

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/store/postgres/pgtest"
)

// BenchmarkClusterCommit measures commit throughput and latency of one
// ledger on the embedded store, on PostgreSQL with one node, and on
// PostgreSQL with three nodes (the driver's transactions spread evenly over
// the three; two thirds are forwarded to the ledger's owner). Each
// operation is one driver transaction holding one INSERT. Run with
//
//	scripts/test-postgres.sh start /tmp/pg   # prints the URL
//	STRAND_TEST_POSTGRES_URL=<url> go test -run '^$' -bench ClusterCommit -benchtime 2000x ./internal/e2e
func BenchmarkClusterCommit(b *testing.B) {
	const conc = 24
	for _, c := range []struct {
		name  string
		nodes int
		pg    bool
	}{{"store=pebble/nodes=1", 1, false}, {"store=postgres/nodes=1", 1, true}, {"store=postgres/nodes=3", 3, true}} {
		b.Run(c.name, func(b *testing.B) {
			db := ""
			if c.pg {
				db = pgtest.NewDatabase(b)
			}
			nodes := make([]*servertest.Node, c.nodes)
			for i := range nodes {
				nodes[i] = servertest.Start(b, func(cfg *config.Config) {
					cfg.Store = db
					if db != "" {
						cfg.LeaseTTL = 2 * time.Second
					}
				})
			}
			nodes[0].CreateLedger("bench")
			drivers := make([]*qldbdriver.QLDBDriver, c.nodes)
			for i, n := range nodes {
				drivers[i] = n.PooledDriver("bench", conc)
			}
			servertest.MustQuery(b, drivers[0], "CREATE TABLE T")
			insert := func(i int) error {
				drv := drivers[(i%c.nodes+c.nodes)%c.nodes]
				_, err := drv.Execute(bg, func(tx qldbdriver.Transaction) (any, error) {
					return tx.Execute("INSERT INTO T VALUE {'k': ?, 'v': 'some payload of a typical size'}", i)
				})
				return err
			}
			var wg sync.WaitGroup
			for g := 0; g < conc; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := insert(-1 - g); err != nil {
						b.Error(fmt.Errorf("warm-up: %w", err))
					}
				}()
			}
			wg.Wait()
			runConcurrent(b, conc, "tx/s", insert)
		})
	}
}
