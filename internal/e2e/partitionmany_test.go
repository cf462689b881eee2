package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/testenv"
)

// TestClusterPartitionSeveral partitions several nodes of a three-node
// cluster from the PostgreSQL database at the same moment, while two
// clients per node commit:
//
//   - the owner of the ledger and one other node at once: the third node
//     must take the ledger with a higher fencing token and go on
//     acknowledging; once both are healed they serve again (forwarding to
//     the new owner) and the lease stays where it went;
//   - every node at once, for several lease TTLs: no node can make a commit
//     durable, so none may acknowledge one after the answers in flight at
//     the cut have drained (a grace of five seconds); once healed, one node
//     holds the ledger with a token no lower than before and all three
//     acknowledge again.
//
// Cuts hold packets (nothing is closed); the long form (STRAND_LONG=1)
// repeats both rounds three times, alternating cuts with resets of every
// connection. At the end every acknowledged document is read back through
// each node and the journal audits clean offline.
func TestClusterPartitionSeveral(t *testing.T) {
	const ttl = time.Second
	const grace = 5 * time.Second
	rounds, hold := 1, 3*ttl
	if os.Getenv("STRAND_LONG") == "1" {
		rounds, hold = 3, 10*ttl
	}
	c := startProxiedCluster(t, 3, ttl, "several")
	db, nodes, ledgerID, leaseOf := c.db, c.nodes, c.ledgerID, c.leaseOf

	var acked ackedKeys
	ctx, stop := context.WithCancel(context.Background())
	wg := startCommitters(ctx, t, nodes, "several", 2, &acked)
	defer func() { stop(); wg.Wait() }()

	acksOf := func(ns []*partitionNode) []int64 {
		a := make([]int64, len(ns))
		for i, n := range ns {
			a[i] = n.acks.Load()
		}
		return a
	}
	// awaitServing waits until each of ns has acknowledged n more commits.
	awaitServing := func(what string, ns []*partitionNode, n int64) {
		t.Helper()
		before := acksOf(ns)
		testenv.AwaitTrue(t, what, 60*time.Second, func() bool {
			for i, nd := range ns {
				if nd.acks.Load() < before[i]+n {
					return false
				}
			}
			return true
		})
	}
	partition := func(ns []*partitionNode, reset bool) {
		for _, n := range ns {
			n.partition(reset)
		}
	}
	heal := func(ns []*partitionNode) {
		for _, n := range ns {
			n.proxy.Heal()
		}
	}

	for r := range rounds {
		reset := r%2 == 1
		kind := map[bool]string{false: "cut", true: "reset"}[reset]

		// The owner and one other node at once.
		awaitServing("commits through every node", nodes, 5)
		lease := leaseOf(ledgerID)
		owner := ownerOf(t, nodes, lease)
		var victims []*partitionNode
		var survivor *partitionNode
		for _, n := range nodes {
			switch {
			case n == owner:
				victims = append(victims, n)
			case survivor == nil:
				survivor = n
			default:
				victims = append(victims, n)
			}
		}
		partition(victims, reset)
		cutAt := time.Now()
		taken := c.awaitTakeover(t, survivor, lease, fmt.Sprintf("round %d (%s), two nodes partitioned", r, kind))
		moved := time.Since(cutAt)
		if d := time.Since(cutAt); d < hold {
			time.Sleep(hold - d)
		}
		heal(victims)
		awaitServing("the two healed nodes to serve again", victims, 5)
		if now := leaseOf(ledgerID); now.Token != taken.Token {
			t.Fatalf("round %d (%s): the lease changed hands again after the heal: %+v, then %+v", r, kind, taken, now)
		}
		t.Logf("round %d (%s): owner and one other partitioned at once; token %d -> %d, the third node committing %v after the cut",
			r, kind, lease.Token, taken.Token, moved.Round(time.Millisecond))

		// Every node at once.
		awaitServing("commits through every node", nodes, 5)
		lease = leaseOf(ledgerID)
		partition(nodes, reset)
		time.Sleep(grace)
		drained := acksOf(nodes)
		time.Sleep(hold)
		during := acksOf(nodes)
		for i := range nodes {
			if during[i] != drained[i] {
				t.Errorf("round %d (%s): node %d acknowledged %d commits while every node was cut from the database (after a %v grace)",
					r, kind, i, during[i]-drained[i], grace)
			}
		}
		heal(nodes)
		awaitServing("every node to serve again after the whole cluster was partitioned", nodes, 5)
		after := leaseOf(ledgerID)
		if after.Token < lease.Token {
			t.Fatalf("round %d (%s): the lease's token went back from %d to %d", r, kind, lease.Token, after.Token)
		}
		t.Logf("round %d (%s): every node partitioned for %v; token %d -> %d, owner %s -> %s",
			r, kind, grace+hold, lease.Token, after.Token, lease.URL, after.URL)
	}
	stop()
	wg.Wait()

	checkAckedReadBack(t, nodes, "several", &acked)
	for _, n := range nodes {
		n.Stop()
	}
	rep := servertest.AuditDatabase(t, db, "after the partitions")
	t.Logf("audit: %d blocks, %d revisions verify", rep.Ledgers[0].Blocks, rep.Ledgers[0].Revisions)
}
