package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/qldb"
	"github.com/aws/smithy-go"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/store/postgres/pgtest"
	"github.com/strand-db/strand/internal/testenv"
	"github.com/strand-db/strand/internal/testenv/tcpproxy"
)

// linkedPair is two nodes on one database where the second (the owner of
// the test's ledger) is reached by the first through a TCP proxy: the
// owner's --node-url names the proxy, so every request the first node
// forwards crosses it, and the test can cut or reset the link between the
// nodes while both still reach the database.
type linkedPair struct {
	front *partitionNode // the node the clients talk to; forwards
	owner *servertest.Node
	link  *tcpproxy.Proxy // front -> owner
	db    string
}

// forwardTimeout is the nodes' --forward-timeout in these tests.
const forwardTimeout = time.Second

func startLinkedPair(t *testing.T, ledger string) *linkedPair {
	t.Helper()
	db := pgtest.NewDatabase(t)
	// The owner listens on a port chosen here, so that the proxy can be
	// started before it and named as its node URL.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ownerAddr := ln.Addr().String()
	ln.Close()
	link := tcpproxy.Start(t, ownerAddr)
	cfg := func(c *config.Config) {
		c.Store = db
		c.LeaseTTL = time.Second
		c.ForwardTimeout = forwardTimeout
	}
	owner := servertest.Start(t, func(c *config.Config) {
		cfg(c)
		c.Listen = ownerAddr
		c.NodeURL = "http://" + link.Addr()
	})
	owner.CreateLedger(ledger)
	servertest.Commit(t, clusterDriver(owner, ledger), "CREATE TABLE T")
	front := servertest.Start(t, cfg)
	lease := leaseReader(t, db)(owner.LedgerEngine(ledger).ID)
	if lease.URL != "http://"+link.Addr() {
		t.Fatalf("the ledger's lease names %s, want the owner through the proxy", lease.URL)
	}
	return &linkedPair{front: &partitionNode{Node: front}, owner: owner, link: link, db: db}
}

// onAnswer matches the first chunk of an answer from the owner that
// carries marker (a command's name in a SendCommand result).
func onAnswer(marker string) func(int, []byte) int {
	return func(_ int, chunk []byte) int {
		if bytes.Contains(chunk, []byte(marker)) {
			return 0
		}
		return -1
	}
}

// outcome classifies the result of one driver Execute for the checks:
// "acked", "unknown" (the server said the commit's outcome is unknown, or
// the client gave up waiting) or "failed" (a definite failure: nothing of
// that transaction may be in the ledger).
func outcome(err error) string {
	var ae smithy.APIError
	switch {
	case err == nil:
		return "acked"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ae) && strings.Contains(ae.ErrorMessage(), "outcome of the commit"):
		return "unknown"
	}
	return "failed"
}

// checkOutcomes reads every document back and checks each key against
// what its client was told: an acknowledged key is there exactly once, a
// failed one is absent, an unknown one is there at most once. It returns
// the count of documents per outcome.
func checkOutcomes(t *testing.T, drv *qldbdriver.QLDBDriver, told map[string]string) map[string]int {
	t.Helper()
	rows := servertest.MustQuery(t, drv, "SELECT k FROM T")
	stored := map[string]int{}
	for _, row := range rows {
		stored[strField(t, row, "k")]++
	}
	counts := map[string]int{}
	for k, n := range stored {
		if n > 1 {
			t.Errorf("key %s committed %d times (told the client %q)", k, n, told[k])
		}
		if told[k] == "" {
			t.Errorf("key %s is stored but no client committed it", k)
		}
	}
	for k, o := range told {
		counts[o]++
		switch n := stored[k]; {
		case o == "acked" && n != 1:
			t.Errorf("acknowledged key %s stored %d times, want once", k, n)
		case o == "failed" && n != 0:
			t.Errorf("key %s stored %d times though its client was told the transaction failed", k, n)
		case o == "unknown" && n > 0:
			counts["unknown, committed"]++
		}
	}
	return counts
}

// TestClusterForwardLinkFault cuts or resets the link between
// a node and the owner of a ledger at chosen moments of a transaction
// forwarded through it, with the official Go driver as the client:
//
//   - the answer of a CommitTransaction reset on the way back: the commit
//     happened, and the client must hear so (the forwarder sends the
//     commit again and the owner answers it with the first one's outcome;
//     before, the client heard "No open transaction" or a truncated answer
//     and was told the transaction failed);
//   - the answer of an ExecuteStatement reset: the driver must be able to
//     retry on a new session (InvalidSessionException) and commit once;
//   - the answer of a CommitTransaction black-holed (the link accepts but
//     never answers): the client must get an answer within a bound, saying
//     that the outcome is unknown (before, the forward waited for minutes);
//   - control-plane requests with the link black-holed: a 503 after a
//     bounded wait;
//   - the same, healed while the forwarder sends the commit again: the
//     client hears the commit's real outcome.
//
// Every key is then checked against what its client was told.
func TestClusterForwardLinkFault(t *testing.T) {
	p := startLinkedPair(t, "fwd")
	drv := p.front.driver(t, "fwd")
	told := map[string]string{}
	insert := func(key string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err := drv.Execute(ctx, func(tx qldbdriver.Transaction) (any, error) {
			return tx.Execute("INSERT INTO T ?", map[string]any{"k": key})
		})
		told[key] = outcome(err)
		return err
	}
	if err := insert("warm-up"); err != nil {
		t.Fatalf("before any fault: %v", err)
	}

	fired := p.link.Arm(tcpproxy.FromTarget, onAnswer(`"CommitTransaction"`), tcpproxy.ResetConn)
	if err := insert("commit-answer-reset"); err != nil {
		t.Errorf("a commit whose answer was reset on the way back: %v; want it acknowledged (it committed)", err)
	}
	<-fired

	fired = p.link.Arm(tcpproxy.FromTarget, onAnswer(`"ExecuteStatement"`), tcpproxy.ResetConn)
	if err := insert("statement-answer-reset"); err != nil {
		t.Errorf("a statement whose answer was reset on the way back: %v; want the driver to retry it on a new session", err)
	}
	<-fired

	fired = p.link.Arm(tcpproxy.FromTarget, onAnswer(`"CommitTransaction"`), tcpproxy.CutLink)
	err := insert("commit-answer-black-holed")
	<-fired
	p.link.Heal()
	if o := outcome(err); err == nil || o != "unknown" || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a commit whose answer never came back: %v (%s); want an answer saying its outcome is unknown, before the client gives up", err, o)
	}

	// Control-plane requests forwarded to the owner with the link
	// black-holed: a POST (GetDigest) gets a 503 the SDKs retry at once; a
	// GET (ListJournalKinesisStreamsForLedger) is sent again for a while,
	// then gets the 503 too, rather than a wait without end.
	p.link.Cut()
	qc := p.front.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	once := func(o *qldb.Options) { o.RetryMaxAttempts = 1 }
	dctx, dcancel := context.WithTimeout(context.Background(), 20*time.Second)
	_, derr := qc.GetDigest(dctx, &qldb.GetDigestInput{Name: aws.String("fwd")}, once)
	_, lerr := qc.ListJournalKinesisStreamsForLedger(dctx, &qldb.ListJournalKinesisStreamsForLedgerInput{LedgerName: aws.String("fwd")}, once)
	dcancel()
	p.link.Heal()
	for _, e := range []error{derr, lerr} {
		if errorName(e) != "CapacityExceededException" {
			t.Errorf("a control-plane request with the link to the owner black-holed: %v; want CapacityExceededException before the client gives up", e)
		}
	}

	before := p.link.Stats().Accepted
	fired = p.link.Arm(tcpproxy.FromTarget, onAnswer(`"CommitTransaction"`), tcpproxy.CutLink)
	healed := make(chan struct{})
	go func() {
		defer close(healed)
		<-fired
		// Heal once the forwarder opens a new connection to send the
		// commit again.
		testenv.AwaitTrue(t, "the commit sent again", 20*time.Second, func() bool { return p.link.Stats().Accepted > before })
		p.link.Heal()
	}()
	if err := insert("commit-answer-late"); err != nil {
		t.Errorf("a commit whose answer was held until the forwarder sent it again: %v; want it acknowledged", err)
	}
	<-healed

	counts := checkOutcomes(t, clusterDriver(p.owner, "fwd"), told)
	t.Logf("outcomes: %v; wire errors under the driver: %s", counts, &p.front.wire)
}

// TestClusterNodePartition partitions the link between a node and the
// ledger's owner, at random moments and for random lengths, while clients
// commit through that node (every request forwarded) and through the owner
// directly: cuts (packets held), resets of every connection, and faults
// timed to the answer of a chosen command. Both nodes still reach the
// database, so the owner keeps the ledger. Each client records what it was
// told; at the end every acknowledged document is stored exactly once, no
// document twice, and none of a transaction its client was told failed.
//
// The CI form runs 4 faults; STRAND_LONG=1 runs 80.
func TestClusterNodePartition(t *testing.T) {
	faults := 4
	if os.Getenv("STRAND_LONG") == "1" {
		faults = 80
	}
	p := startLinkedPair(t, "np")
	var mu sync.Mutex
	told := map[string]string{}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var acks [2]int
	for i, drv := range []*qldbdriver.QLDBDriver{p.front.driver(t, "np"), clusterDriver(p.owner, "np")} {
		for w := range 3 - 2*i { // three clients through the forwarding node, one on the owner
			wg.Add(1)
			go func() {
				defer wg.Done()
				for seq := 0; ctx.Err() == nil; seq++ {
					key := fmt.Sprintf("%d-%d-%d", i, w, seq)
					tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					_, err := drv.Execute(tctx, func(tx qldbdriver.Transaction) (any, error) {
						return tx.Execute("INSERT INTO T ?", map[string]any{"k": key})
					})
					cancel()
					if ctx.Err() != nil && err != nil {
						err = context.DeadlineExceeded // stopped by the test: outcome unknown
					}
					mu.Lock()
					told[key] = outcome(err)
					if err == nil {
						acks[i]++
					} else if outcome(err) == "failed" {
						p.front.fails.add(errorName(err))
					}
					mu.Unlock()
				}
			}()
		}
	}
	defer func() { stop(); wg.Wait() }()

	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	markers := []string{`"StartTransaction"`, `"ExecuteStatement"`, `"CommitTransaction"`} // sessions are pooled: StartSession is rare
	acked := func() int { mu.Lock(); defer mu.Unlock(); return acks[0] }
	for f := range faults {
		before := acked()
		testenv.AwaitTrue(t, "commits through the forwarding node", 60*time.Second, func() bool { return acked() >= before+3 })
		kind := r.IntN(4)
		hold := time.Duration(r.IntN(int(2 * forwardTimeout)))
		switch kind {
		case 0:
			p.link.Cut()
			time.Sleep(hold)
		case 1:
			p.link.Reset()
			time.Sleep(hold)
		case 2, 3:
			fault := tcpproxy.ResetConn
			if kind == 3 {
				fault = tcpproxy.CutLink
			}
			marker := markers[r.IntN(len(markers))]
			select {
			case <-p.link.Arm(tcpproxy.FromTarget, onAnswer(marker), fault):
			case <-time.After(10 * time.Second):
				t.Logf("fault %d: no %s answer in 10 s", f, marker)
			}
			time.Sleep(hold)
		}
		p.link.Heal()
	}
	before := acked()
	testenv.AwaitTrue(t, "commits through the forwarding node after the last heal", 60*time.Second, func() bool { return acked() >= before+3 })
	stop()
	wg.Wait()

	counts := checkOutcomes(t, clusterDriver(p.owner, "np"), told)
	t.Logf("%d faults; outcomes: %v; acknowledged through the forwarding node %d, through the owner %d", faults, counts, acks[0], acks[1])
	t.Logf("forwarding node: wire errors %s; definite failures %s", &p.front.wire, &p.front.fails)
	p.front.Stop()
	p.owner.Stop()
	rep := servertest.AuditDatabase(t, p.db, "after the link faults")
	t.Logf("audit: %d blocks, %d revisions verify", rep.Ledgers[0].Blocks, rep.Ledgers[0].Revisions)
}
