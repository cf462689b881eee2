package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/cluster"
	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/store"
	pgstore "github.com/strand-db/strand/internal/store/postgres"
	"github.com/strand-db/strand/internal/store/postgres/pgtest"
	"github.com/strand-db/strand/internal/testenv"
)

// A flipped byte in a ledger's fence row or lease row on PostgreSQL is
// named to the client, through the official Go driver: 500 InternalFailure
// whose message names the ledger and the row (the fence: at the next
// commit; the lease: once the owner's renewal has failed and the ledger is
// routed again), never "served by another node" (InvalidSessionException)
// or "moving to another node" (503) forever. cluster.Repair, what `strand
// repair lease` runs, brings the ledger back with no restart, and every
// acknowledged insert is still there.
func TestDamagedLeaseMetadataReachesClient(t *testing.T) {
	for _, row := range []string{"fence", "lease"} {
		t.Run(row, func(t *testing.T) {
			db := pgtest.NewDatabase(t)
			n := servertest.Start(t, func(c *config.Config) {
				c.Store = db
				c.LeaseTTL = time.Second
			})
			n.CreateLedger("meta")
			retrying := clusterDriver(n, "meta")
			servertest.Commit(t, retrying, "CREATE TABLE T", "INSERT INTO T VALUE {'n': 0}")
			id := n.LedgerEngine("meta").ID
			lay := journal.LedgerLayout(id)
			key := map[string][]byte{"fence": lay.Fence, "lease": lay.Lease}[row]

			st, err := pgstore.Open(db, pgstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			v, ok, err := st.Get(key)
			if err != nil || !ok {
				t.Fatalf("get %s: %v %v", key, ok, err)
			}
			v[0] ^= 0x01
			b := st.NewBatch()
			_ = b.Set(key, v)
			if err := st.Apply(b); err != nil {
				t.Fatal(err)
			}
			b.Close()

			once := n.Driver("meta", func(o *qldbdriver.DriverOptions) { o.RetryPolicy = qldbdriver.RetryPolicy{MaxRetryLimit: 0} })
			var last error
			testenv.Await(t, 20*time.Second, func() error {
				_, last = once.Execute(context.Background(), func(tx qldbdriver.Transaction) (any, error) {
					return tx.Execute("INSERT INTO T VALUE {'n': 1}")
				})
				var ae smithy.APIError
				if errors.As(last, &ae) && ae.ErrorCode() == "InternalFailure" {
					return nil
				}
				return fmt.Errorf("the damaged %s row is not named yet: %v", row, last)
			})
			ae := servertest.WantAPIError(t, last, "InternalFailure", http.StatusInternalServerError)
			if msg := ae.ErrorMessage(); !strings.Contains(msg, string(key)) || !strings.Contains(msg, "meta") || !strings.Contains(msg, "strand repair lease") {
				t.Fatalf("message %q does not name the ledger, the row %s and the repair", msg, key)
			}
			if err := cluster.Check(st, id); !store.IsCorruption(err) {
				t.Fatalf("cluster.Check = %v; want the damage", err)
			}

			if _, err := cluster.Repair(st, id); err != nil {
				t.Fatal(err)
			}
			servertest.Commit(t, retrying, "INSERT INTO T VALUE {'n': 2}")
			have := map[int64]bool{}
			for _, r := range servertest.MustQuery(t, retrying, "SELECT n FROM T") {
				have[r.Get("n").Int] = true
			}
			if !have[0] || !have[2] {
				t.Fatalf("after the repair the table holds %v; want the acknowledged inserts 0 and 2", have)
			}
		})
	}
}
