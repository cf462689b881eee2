package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession"
	"github.com/aws/smithy-go"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/cluster"
	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/server/servertest"
	pgstore "github.com/strand-db/strand/internal/store/postgres"
	"github.com/strand-db/strand/internal/store/postgres/pgtest"
	"github.com/strand-db/strand/internal/testenv"
	"github.com/strand-db/strand/internal/testenv/tcpproxy"
)

// tally counts outcomes by name, safely from many goroutines.
type tally struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *tally) add(name string) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[name]++
	c.mu.Unlock()
}

func (c *tally) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.n) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(c.n)) {
		parts = append(parts, fmt.Sprintf("%s×%d", k, c.n[k]))
	}
	return strings.Join(parts, ", ")
}

// errorName names what a client saw: the AWS error code, or the kind of a
// transport error.
func errorName(err error) string {
	var ae smithy.APIError
	switch {
	case errors.As(err, &ae):
		return ae.ErrorCode()
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline"
	case strings.Contains(err.Error(), "connection reset"):
		return "connection reset"
	default:
		return "other: " + err.Error()
	}
}

// wireCounter is the HTTP client under a driver: it counts every error
// answer (status and error type) and transport error, which the driver
// may retry and so never report.
type wireCounter struct {
	next *awshttp.BuildableClient
	seen *tally
}

func (w wireCounter) Do(req *http.Request) (*http.Response, error) {
	resp, err := w.next.Do(req)
	if err != nil {
		if req.Context().Err() == nil { // not the test stopping its clients
			w.seen.add("transport: " + errorName(err))
		}
		return nil, err
	}
	if resp.StatusCode >= 400 {
		body, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		if rerr != nil {
			return nil, rerr
		}
		var e struct {
			Type string `json:"__type"`
		}
		_ = json.Unmarshal(body, &e)
		if i := strings.LastIndexByte(e.Type, '#'); i >= 0 {
			e.Type = e.Type[i+1:]
		}
		w.seen.add(fmt.Sprintf("%d %s", resp.StatusCode, e.Type))
		resp.Body = io.NopCloser(bytes.NewReader(body))
	}
	return resp, nil
}

// viaProxy returns the database URL db with its host and port replaced by
// the proxy's.
func viaProxy(t *testing.T, db string, p *tcpproxy.Proxy) string {
	t.Helper()
	u, err := url.Parse(db)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = p.Addr()
	return u.String()
}

// leaseReader returns a function that reads a ledger's lease straight
// from the database, over one connection pool kept until the test ends.
func leaseReader(t *testing.T, db string) func(ledgerID string) cluster.Lease {
	t.Helper()
	st, err := pgstore.Open(db, pgstore.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	leases := cluster.New(cluster.Options{Store: st})
	return func(ledgerID string) cluster.Lease {
		t.Helper()
		l, ok, err := leases.Read(ledgerID)
		if err != nil || !ok {
			t.Fatalf("lease of %s: ok=%v err=%v", ledgerID, ok, err)
		}
		return l
	}
}

// partitionNode is one node of TestClusterPartition with the proxy between
// it and the database.
type partitionNode struct {
	*servertest.Node
	proxy *tcpproxy.Proxy
	wire  tally // error answers and transport errors under its drivers
	fails tally // commits its clients gave up on (after the driver's retries)
	acks  atomic.Int64
}

// TestClusterPartition partitions the owner of a ledger from the
// PostgreSQL database while clients commit through both nodes of a
// two-node cluster, for longer than the lease TTL, and heals it. Each node
// reaches the database through its own tcpproxy; the rounds alternate a
// silent partition (Cut: packets vanish, nothing is closed) and a reset of
// every connection (Reset), each time against the node that owns the
// ledger then. Each round checks that the other node takes the ledger over
// with a higher fencing token and goes on acknowledging commits, and that
// once healed the cut node serves again (forwarding to the new owner). At
// the end every acknowledged document is read back, no document is lost,
// and the journal audits clean offline (what strand verify --store runs).
// What the clients saw is logged per node: errors of the wire (which the
// driver retried) and commits the clients gave up on.
//
// A partitioned node cannot acknowledge a commit it could not make
// durable: its commit is one database transaction checked against the
// fence row, and it answers only after COMMIT returned. Commits it had
// sent before the cut are acknowledged after the heal if the database
// applied them; those it sends afterwards meet the new owner's fence and
// fail. The driver retries a commit whose outcome it did not hear, so a
// document may be stored twice (counted as "duplicates"): never lost.
//
// The CI form runs one round of each kind; STRAND_LONG=1 runs three of
// each with partitions of 10 TTLs.
func TestClusterPartition(t *testing.T) {
	const ttl = time.Second
	rounds, hold := 1, 2*ttl
	if os.Getenv("STRAND_LONG") == "1" {
		rounds, hold = 3, 10*ttl
	}
	c := startProxiedCluster(t, 2, ttl, "part")
	db, nodes, ledgerID, leaseOf := c.db, c.nodes, c.ledgerID, c.leaseOf

	// Two clients per node commit one document each per transaction and
	// record what was acknowledged.
	var acked ackedKeys
	ctx, stop := context.WithCancel(context.Background())
	wg := startCommitters(ctx, t, nodes, "part", 2, &acked)
	defer func() { stop(); wg.Wait() }()

	for r := range 2 * rounds {
		kind := []string{"cut", "reset"}[r%2]
		// Some commits through both nodes first.
		before := [2]int64{nodes[0].acks.Load(), nodes[1].acks.Load()}
		testenv.AwaitTrue(t, "commits through both nodes", 30*time.Second, func() bool {
			return nodes[0].acks.Load() >= before[0]+5 && nodes[1].acks.Load() >= before[1]+5
		})
		lease := leaseOf(ledgerID)
		victim := ownerOf(t, nodes, lease)
		other := nodes[0]
		if other == victim {
			other = nodes[1]
		}
		victim.partition(kind == "reset")
		cutAt := time.Now()
		otherAcks, victimAtCut := other.acks.Load(), victim.acks.Load()
		taken := c.awaitTakeover(t, other, lease, fmt.Sprintf("round %d (%s)", r, kind))
		moved := time.Since(cutAt)
		if d := time.Since(cutAt); d < hold {
			time.Sleep(hold - d)
		}
		victimAcks := victim.acks.Load()
		victim.proxy.Heal()
		testenv.AwaitTrue(t, "the healed node to serve again", 60*time.Second, func() bool {
			return victim.acks.Load() >= victimAcks+5
		})
		if now := leaseOf(ledgerID); now.Token != taken.Token {
			t.Fatalf("round %d (%s): the lease changed hands again after the heal: %+v, then %+v", r, kind, taken, now)
		}
		t.Logf("round %d (%s, %v): token %d -> %d; the other node owned the ledger and had acknowledged 10 commits %v after the cut; "+
			"the partitioned node acknowledged %d commits while partitioned (each read back below), the other %d",
			r, kind, hold, lease.Token, taken.Token, moved.Round(time.Millisecond), victimAcks-victimAtCut, other.acks.Load()-otherAcks)
	}
	stop()
	wg.Wait()

	checkAckedReadBack(t, nodes, "part", &acked)
	for _, n := range nodes {
		n.Stop()
	}
	rep := servertest.AuditDatabase(t, db, "after the partitions")
	t.Logf("audit: %d blocks, %d revisions verify", rep.Ledgers[0].Blocks, rep.Ledgers[0].Revisions)
}

// driver is a QLDB driver on the node, retrying as clusterDriver's, whose
// wire errors are counted.
func (n *partitionNode) driver(t *testing.T, ledgerName string) *qldbdriver.QLDBDriver {
	t.Helper()
	// The SDK's standard retryer, as an application has it: the driver
	// leaves a failed StartSession to it.
	cfg := n.AWSConfig(servertest.AccessKeyID, servertest.SecretAccessKey)
	cfg.HTTPClient = servertest.HTTPClient(wireCounter{next: awshttp.NewBuildableClient(), seen: &n.wire})
	cfg.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxBackoff = 300 * time.Millisecond })
	}
	sc := qldbsession.NewFromConfig(cfg, func(o *qldbsession.Options) { o.BaseEndpoint = aws.String(n.URL()) })
	drv, err := qldbdriver.New(ledgerName, sc,
		func(o *qldbdriver.DriverOptions) {
			o.LoggerVerbosity = qldbdriver.LogOff
			o.MaxConcurrentTransactions = 4
			o.RetryPolicy = qldbdriver.RetryPolicy{MaxRetryLimit: 20,
				Backoff: qldbdriver.ExponentialBackoffStrategy{SleepBase: 20 * time.Millisecond, SleepCap: 500 * time.Millisecond}}
		})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { drv.Shutdown(context.Background()) })
	return drv
}

func mustHost(t *testing.T, db string) string {
	t.Helper()
	u, err := url.Parse(db)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// startProxiedNodes starts count nodes on the database db, each reaching
// it through its own tcpproxy, with the lease TTL ttl.
func startProxiedNodes(t *testing.T, db string, count int, ttl time.Duration) []*partitionNode {
	t.Helper()
	nodes := make([]*partitionNode, count)
	for i := range nodes {
		p := tcpproxy.Start(t, mustHost(t, db))
		n := servertest.Start(t, func(c *config.Config) {
			c.Store = viaProxy(t, db, p)
			c.LeaseTTL = ttl
		})
		nodes[i] = &partitionNode{Node: n, proxy: p}
	}
	return nodes
}

// proxiedCluster is nodes on one PostgreSQL database, each behind its own
// proxy (startProxiedNodes), with a ledger the first node created, holding
// table T.
type proxiedCluster struct {
	db       string
	nodes    []*partitionNode
	ledgerID string
	leaseOf  func(ledgerID string) cluster.Lease // read from the database
}

func startProxiedCluster(t *testing.T, count int, ttl time.Duration, ledger string) *proxiedCluster {
	t.Helper()
	db := pgtest.NewDatabase(t)
	nodes := startProxiedNodes(t, db, count, ttl)
	nodes[0].CreateLedger(ledger)
	servertest.Commit(t, clusterDriver(nodes[0].Node, ledger), "CREATE TABLE T")
	return &proxiedCluster{db: db, nodes: nodes, ledgerID: nodes[0].LedgerEngine(ledger).ID, leaseOf: leaseReader(t, db)}
}

// awaitTakeover waits until n holds the ledger's lease with a token above
// was's and has acknowledged 10 commits since the call, and returns that
// lease; what names the moment in the failure.
func (c *proxiedCluster) awaitTakeover(t *testing.T, n *partitionNode, was cluster.Lease, what string) cluster.Lease {
	t.Helper()
	acks := n.acks.Load()
	var taken cluster.Lease
	testenv.Await(t, 60*time.Second, func() error {
		taken = c.leaseOf(c.ledgerID)
		if taken.URL == n.URL() && taken.Token > was.Token && n.acks.Load() >= acks+10 {
			return nil
		}
		return fmt.Errorf("%s: waiting for %s to take the ledger (lease %+v, was %+v) and commit (%d acknowledged since)",
			what, n.URL(), taken, was, n.acks.Load()-acks)
	})
	return taken
}

// partition cuts the node off from the database (its proxy holds every
// byte) or, with reset, resets its every connection, until Heal.
func (n *partitionNode) partition(reset bool) {
	if reset {
		n.proxy.Reset()
	} else {
		n.proxy.Cut()
	}
}

// ownerOf is the node the lease l names.
func ownerOf(t *testing.T, nodes []*partitionNode, l cluster.Lease) *partitionNode {
	t.Helper()
	for _, n := range nodes {
		if n.URL() == l.URL {
			return n
		}
	}
	t.Fatalf("the lease %+v names none of the nodes", l)
	return nil
}

// ackedKeys is the set of documents whose commit a client saw
// acknowledged, safe for many goroutines.
type ackedKeys struct {
	mu   sync.Mutex
	keys map[string]bool
}

func (a *ackedKeys) add(key string) {
	a.mu.Lock()
	if a.keys == nil {
		a.keys = map[string]bool{}
	}
	a.keys[key] = true
	a.mu.Unlock()
}

// startCommitters starts perNode clients on each node (a driver per node,
// counting its wire errors), each committing one document {k: key} into
// table T of ledger per transaction until ctx ends. Every acknowledged key
// goes into acked and the node's acks; a commit given up on before ctx
// ended goes into the node's fails. Wait on the result after cancelling
// ctx.
func startCommitters(ctx context.Context, t *testing.T, nodes []*partitionNode, ledger string, perNode int, acked *ackedKeys) *sync.WaitGroup {
	t.Helper()
	var wg sync.WaitGroup
	for i, n := range nodes {
		drv := n.driver(t, ledger)
		for w := range perNode {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for seq := 0; ctx.Err() == nil; seq++ {
					key := fmt.Sprintf("%d-%d-%d", i, w, seq)
					_, err := drv.Execute(ctx, func(tx qldbdriver.Transaction) (any, error) {
						return tx.Execute("INSERT INTO T ?", map[string]any{"k": key})
					})
					switch {
					case err == nil:
						acked.add(key)
						n.acks.Add(1)
					case ctx.Err() == nil:
						n.fails.add(errorName(err))
					}
				}
			}()
		}
	}
	return &wg
}

// checkAckedReadBack reads table T of ledger back through every node and
// fails for each acknowledged document missing there; documents stored
// twice (a commit whose answer was lost, retried by the driver) are
// counted, not failed. It logs what each node's clients saw.
func checkAckedReadBack(t *testing.T, nodes []*partitionNode, ledger string, acked *ackedKeys) {
	t.Helper()
	acked.mu.Lock()
	defer acked.mu.Unlock()
	for i, n := range nodes {
		rows := servertest.MustQuery(t, clusterDriver(n.Node, ledger), "SELECT k FROM T")
		got := map[string]int{}
		for _, row := range rows {
			got[strField(t, row, "k")]++
		}
		dups := 0
		for _, c := range got {
			dups += c - 1
		}
		missing := 0
		for k := range acked.keys {
			if got[k] == 0 {
				missing++
				t.Errorf("acknowledged document %s is missing (read through node %d)", k, i)
			}
		}
		if i == 0 {
			t.Logf("%d commits acknowledged, %d documents stored (%d duplicates), %d missing", len(acked.keys), len(rows), dups, missing)
		}
	}
	for i, n := range nodes {
		t.Logf("node %d: %d commits acknowledged; wire errors: %s; commits given up: %s", i, n.acks.Load(), &n.wire, &n.fails)
	}
}
