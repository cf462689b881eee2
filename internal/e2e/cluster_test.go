package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/qldb"
	"github.com/aws/aws-sdk-go-v2/service/qldb/types"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/qldbhash"
	"github.com/strand-db/strand/internal/server/servertest"
	pgstore "github.com/strand-db/strand/internal/store/postgres"
	"github.com/strand-db/strand/internal/store/postgres/pgtest"
	"github.com/strand-db/strand/internal/testenv/kinesisemu"
)

// startCluster starts n nodes on one fresh PostgreSQL database.
func startCluster(t *testing.T, n int, mutate func(*config.Config)) ([]*servertest.Node, string) {
	t.Helper()
	db := pgtest.NewDatabase(t)
	nodes := make([]*servertest.Node, n)
	for i := range nodes {
		nodes[i] = servertest.Start(t, func(c *config.Config) {
			c.Store = db
			c.LeaseTTL = 2 * time.Second
			if mutate != nil {
				mutate(c)
			}
		})
	}
	return nodes, db
}

// clusterDriver is the QLDB driver on one node, retrying as a driver does
// through a failover.
func clusterDriver(n *servertest.Node, ledger string) *qldbdriver.QLDBDriver {
	return n.Driver(ledger, func(o *qldbdriver.DriverOptions) {
		o.MaxConcurrentTransactions = 4
		o.RetryPolicy = qldbdriver.RetryPolicy{MaxRetryLimit: 20,
			Backoff: qldbdriver.ExponentialBackoffStrategy{SleepBase: 20 * time.Millisecond, SleepCap: 500 * time.Millisecond}}
	})
}

// Three nodes share one database and the Go driver writes through all
// three at once: every commit lands on one hash chain (one node appends,
// the others forward), every node answers with the same digest, and a
// proof fetched from any node verifies against a digest from any other.
func TestThreeNodesOneChain(t *testing.T) {
	nodes, db := startCluster(t, 3, nil)
	nodes[0].CreateLedger("shared")
	clusterDriver(nodes[0], "shared")
	servertest.MustQuery(t, clusterDriver(nodes[1], "shared"), "CREATE TABLE Cars")

	const perNode = 15
	var wg sync.WaitGroup
	for i, n := range nodes {
		drv := clusterDriver(n, "shared")
		for w := 0; w < 2; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < perNode; j++ {
					_, err := drv.Execute(context.Background(), func(tx qldbdriver.Transaction) (any, error) {
						return tx.Execute("INSERT INTO Cars ?", map[string]any{"node": i, "worker": w, "n": j})
					})
					if err != nil {
						t.Errorf("node %d worker %d insert %d: %v", i, w, j, err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	want := 3 * 2 * perNode
	for i, n := range nodes {
		rows := servertest.MustQuery(t, clusterDriver(n, "shared"), "SELECT COUNT(*) AS c FROM Cars")
		if c := rows[0].Get("c"); c == nil || c.Int != int64(want) {
			t.Fatalf("node %d counts %v documents, want %d", i, rows[0], want)
		}
	}

	// The same digest from every node, and proofs that cross nodes.
	digests := make([]*qldb.GetDigestOutput, len(nodes))
	for i, n := range nodes {
		out, err := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey).GetDigest(context.Background(), &qldb.GetDigestInput{Name: aws.String("shared")})
		if err != nil {
			t.Fatalf("GetDigest from node %d: %v", i, err)
		}
		digests[i] = out
		if string(out.Digest) != string(digests[0].Digest) || *out.DigestTipAddress.IonText != *digests[0].DigestTipAddress.IonText {
			t.Fatalf("node %d digest %x at %s, node 0 %x at %s", i, out.Digest, *out.DigestTipAddress.IonText,
				digests[0].Digest, *digests[0].DigestTipAddress.IonText)
		}
	}
	tip := addressOf(t, *digests[0].DigestTipAddress.IonText)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range nodes {
		for j := 0; j < 3; j++ {
			seq := r.Uint64N(tip.SequenceNo + 1)
			n := nodes[(i+j)%len(nodes)]
			out, err := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey).GetBlock(context.Background(), &qldb.GetBlockInput{
				Name:             aws.String("shared"),
				BlockAddress:     &types.ValueHolder{IonText: aws.String(fmt.Sprintf("{strandId:%q,sequenceNo:%d}", tip.StrandID, seq))},
				DigestTipAddress: digests[i].DigestTipAddress,
			})
			if err != nil {
				t.Fatalf("GetBlock %d from node %d: %v", seq, (i+j)%len(nodes), err)
			}
			block := decodeIonText(t, *out.Block.IonText)
			proof := proofOf(t, *out.Proof.IonText)
			hash := block.Get("blockHash")
			if hash == nil {
				t.Fatalf("block %d has no blockHash: %s", seq, block)
			}
			if got := qldbhash.Fold(hash.Bytes, proof); string(got) != string(digests[i].Digest) {
				t.Fatalf("block %d from node %d does not verify against node %d's digest", seq, (i+j)%len(nodes), i)
			}
		}
	}

	// Offline, the whole chain audits clean: one chain, every hash right.
	for _, n := range nodes {
		n.Stop()
	}
	rep := servertest.AuditDatabase(t, db, "of the shared chain")
	if got := rep.Ledgers[0].Blocks; got != tip.SequenceNo+1 {
		t.Fatalf("audit found %d blocks, the digest covers %d", got, tip.SequenceNo+1)
	}
}

func decodeIonText(t testing.TB, text string) *ionvalue.Value {
	t.Helper()
	v, err := ionvalue.DecodeOne([]byte(text))
	if err != nil {
		t.Fatalf("Ion %q: %v", text, err)
	}
	return v
}

func addressOf(t testing.TB, text string) journal.BlockAddress {
	t.Helper()
	a, err := journal.AddressFromIon(decodeIonText(t, text))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func proofOf(t testing.TB, text string) [][]byte {
	t.Helper()
	v := decodeIonText(t, text)
	out := make([][]byte, len(v.Elems))
	for i, e := range v.Elems {
		out[i] = e.Bytes
	}
	return out
}

// Deleting a ledger through a node that neither owns it nor created its
// journal stream removes the stream too: nothing of the ledger is left in
// the shared database, and its former owner stops serving it.
func TestClusterDeleteLedgerRemovesItsStreams(t *testing.T) {
	emu := kinesisemu.StartKinesalite(t, kinesisemu.Stream("del", 1))
	db := pgtest.NewDatabase(t)
	a := startWithKinesis(t, emu, func(c *config.Config) { c.Store = db; c.LeaseTTL = time.Second })
	b := startWithKinesis(t, emu, func(c *config.Config) { c.Store = db; c.LeaseTTL = time.Second })
	a.CreateLedger("doomed")
	servertest.MustQuery(t, clusterDriver(a, "doomed"), "CREATE TABLE T")
	qa := a.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	out, err := qa.StreamJournalToKinesis(context.Background(), &qldb.StreamJournalToKinesisInput{LedgerName: aws.String("doomed"),
		RoleArn: aws.String("arn:aws:iam::000000000000:role/r"), StreamName: aws.String("s"), InclusiveStartTime: aws.Time(time.Now().Add(-time.Hour)),
		KinesisConfiguration: &types.KinesisConfiguration{StreamArn: aws.String(emu.StreamARN("del"))}})
	if err != nil {
		t.Fatal(err)
	}
	qb := b.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	if _, err := qb.DeleteLedger(context.Background(), &qldb.DeleteLedgerInput{Name: aws.String("doomed")}); err != nil {
		t.Fatal(err)
	}
	if _, err := qa.DescribeJournalKinesisStream(context.Background(), &qldb.DescribeJournalKinesisStreamInput{
		LedgerName: aws.String("doomed"), StreamId: out.StreamId}); err == nil {
		t.Fatal("the deleted ledger's stream is still described")
	}
	a.Stop()
	b.Stop()
	st, err := pgstore.Open(db, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var left []string
	if err := st.Scan(nil, nil, func(k, _ []byte) bool { left = append(left, string(k)); return true }); err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Fatalf("keys left after the only ledger was deleted: %q", left)
	}
}
