// Package servertest starts real Strand nodes for tests: a full server on a
// free loopback port over a temporary data directory, and AWS SDK clients
// configured by hand to talk to it (no shared config files or AWS_*
// variables are read, so the developer's environment cannot leak in).
//
// With STRAND_TEST_STORE=postgres every node it starts runs on PostgreSQL
// instead of the embedded store: a fresh database per data directory (from
// pgtest, so STRAND_TEST_POSTGRES_URL must name a server), the same one
// again when a test restarts a node on the same data directory. Tests that
// look at the embedded store's files call RequireEmbeddedStore.
package servertest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/qldb"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/server"
	"github.com/strand-db/strand/internal/server/plainbody"
	"github.com/strand-db/strand/internal/store"
	pebblestore "github.com/strand-db/strand/internal/store/pebble"
	pgstore "github.com/strand-db/strand/internal/store/postgres"
	"github.com/strand-db/strand/internal/store/postgres/pgtest"
)

// Test credentials used when a test asks for authentication.
const (
	AccessKeyID     = "AKIDSTRANDTEST"
	SecretAccessKey = "strand-test-secret"
)

// Node is a running test node.
type Node struct {
	*server.Node
	Config config.Config
	t      testing.TB
	done   chan error
}

// Start starts a node with cfg adjusted by mutate (nil for the defaults:
// loopback, no credentials, a fresh temporary data directory). The node
// stops when the test ends.
func Start(t testing.TB, mutate func(*config.Config)) *Node {
	t.Helper()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	if mutate != nil {
		mutate(&cfg)
	}
	n := StartConfig(t, cfg)
	return n
}

// EnvStore is the environment variable choosing the store of the nodes the
// package starts: "" or "pebble" for the embedded store, "postgres" for
// PostgreSQL.
const EnvStore = "STRAND_TEST_STORE"

// OnPostgres reports whether nodes start on PostgreSQL (EnvStore=postgres).
func OnPostgres() bool { return os.Getenv(EnvStore) == "postgres" }

// RequireEmbeddedStore skips the test when nodes start on PostgreSQL: for
// tests of the embedded store itself (its files, tip records, crashes of
// its process), naming what they test.
func RequireEmbeddedStore(t testing.TB, what string) {
	t.Helper()
	if OnPostgres() {
		t.Skipf("servertest: %s=postgres: this test is about the embedded store (%s)", EnvStore, what)
	}
}

var (
	databasesMu sync.Mutex
	databases   = map[string]string{} // data directory -> PostgreSQL URL
)

// StoreFor returns the --store of a node on dataDir: "" (the embedded
// store), or under EnvStore=postgres the URL of the PostgreSQL database of
// that data directory, created (and dropped when the test ends) on first
// use. Tests that run the strand binary pass it as STRAND_STORE.
func StoreFor(t testing.TB, dataDir string) string {
	t.Helper()
	switch v := os.Getenv(EnvStore); v {
	case "", "pebble":
		return ""
	case "postgres":
	default:
		t.Fatalf("servertest: %s=%q: want pebble or postgres", EnvStore, v)
	}
	databasesMu.Lock()
	defer databasesMu.Unlock()
	url, ok := databases[dataDir]
	if !ok {
		url = pgtest.NewDatabase(t)
		databases[dataDir] = url
	}
	return url
}

// chooseStore sets cfg.Store (StoreFor), when the test did not choose a
// store itself.
func chooseStore(t testing.TB, cfg *config.Config) {
	t.Helper()
	if cfg.Store == "" {
		cfg.Store = StoreFor(t, cfg.DataDir)
	}
}

// StartConfig starts a node with exactly cfg (on PostgreSQL under
// EnvStore=postgres when cfg.Store is empty).
func StartConfig(t testing.TB, cfg config.Config) *Node {
	t.Helper()
	chooseStore(t, &cfg)
	log := testLogger(t)
	node, err := server.Open(cfg, log)
	if err != nil {
		t.Fatalf("servertest: open: %v", err)
	}
	return serve(t, cfg, node)
}

// StartWithStore starts a node with exactly cfg on st, a store the test
// opened on cfg.DataDir (server.OpenWithStore), such as the embedded store
// over a file system that injects disk faults. The node closes st.
func StartWithStore(t testing.TB, cfg config.Config, st store.Store) *Node {
	t.Helper()
	log := testLogger(t)
	node, err := server.OpenWithStore(cfg, log, st)
	if err != nil {
		t.Fatalf("servertest: open: %v", err)
	}
	return serve(t, cfg, node)
}

// testLogger discards the node's log, or passes it to t.Log under -v.
func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// serve listens and serves node in the background until the test ends.
func serve(t testing.TB, cfg config.Config, node *server.Node) *Node {
	t.Helper()
	if err := node.Listen(); err != nil {
		node.Close()
		t.Fatalf("servertest: listen: %v", err)
	}
	n := &Node{Node: node, Config: cfg, t: t, done: make(chan error, 1)}
	go func() { n.done <- node.Serve() }()
	t.Cleanup(n.Stop)
	return n
}

// Stop shuts the node down (idempotent); the data directory stays.
func (n *Node) Stop() {
	if err := n.StopErr(); err != nil {
		n.t.Errorf("servertest: %v", err)
	}
}

// StopErr is Stop returning the shutdown's error instead of failing the
// test: for tests whose store failed on purpose, whose close may report it.
func (n *Node) StopErr() error {
	if n.done == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := n.Shutdown(ctx)
	if err != nil {
		err = fmt.Errorf("shutdown: %w", err)
	}
	if serr := <-n.done; serr != nil && err == nil {
		err = fmt.Errorf("serve: %w", serr)
	}
	n.done = nil
	return err
}

// OpenStore opens the store of a stopped node directly (the embedded store
// in its data directory, or its PostgreSQL database), for tests that change
// stored data behind the server's back. The test closes it.
func (n *Node) OpenStore() store.Store {
	n.t.Helper()
	if n.Config.Store != "" {
		st, err := pgstore.Open(n.Config.Store, pgstore.Options{})
		if err != nil {
			n.t.Fatalf("servertest: open store: %v", err)
		}
		return st
	}
	st, err := pebblestore.Open(n.Config.DataDir, pebblestore.Options{})
	if err != nil {
		n.t.Fatalf("servertest: open store: %v", err)
	}
	return st
}

// AWSConfig returns an aws.Config for this node with the given static
// credentials, no retries, the node's region, and an HTTP client behind
// plainbody (see HTTPClient).
func (n *Node) AWSConfig(accessKey, secret string) aws.Config {
	return aws.Config{
		Region:      n.Config.Region,
		Credentials: credentials.NewStaticCredentialsProvider(accessKey, secret, ""),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
		HTTPClient:  HTTPClient(nil),
	}
}

// HTTPClient returns next (nil: the SDK's default BuildableClient) behind
// plainbody.Client, the setting docs/compatibility.md gives Go users: without
// it, net/http now and then closes a connection under a long response (a
// QLDB result page) on loopback. Every AWS SDK client a test builds should
// use it.
func HTTPClient(next plainbody.Doer) *plainbody.Client {
	if next == nil {
		next = awshttp.NewBuildableClient()
	}
	return plainbody.Wrap(next)
}

// QLDB returns a control-plane client signing with the given credentials.
func (n *Node) QLDB(accessKey, secret string) *qldb.Client {
	return qldb.NewFromConfig(n.AWSConfig(accessKey, secret), func(o *qldb.Options) {
		o.BaseEndpoint = aws.String(n.URL())
	})
}

// Session returns a session-API client signing with the given credentials.
func (n *Node) Session(accessKey, secret string) *qldbsession.Client {
	return qldbsession.NewFromConfig(n.AWSConfig(accessKey, secret), func(o *qldbsession.Options) {
		o.BaseEndpoint = aws.String(n.URL())
	})
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// CreateLedger creates an ALLOW_ALL ledger without deletion protection and
// fails the test on error.
func (n *Node) CreateLedger(name string) {
	n.t.Helper()
	_, err := n.QLDB(AccessKeyID, SecretAccessKey).CreateLedger(context.Background(), &qldb.CreateLedgerInput{
		Name: aws.String(name), PermissionsMode: "ALLOW_ALL", DeletionProtection: aws.Bool(false)})
	if err != nil {
		n.t.Fatalf("servertest: create ledger %s: %v", name, err)
	}
}

// Driver returns the official QLDB Go driver on a ledger of this node,
// shut down when the test ends.
func (n *Node) Driver(ledgerName string, opts ...func(*qldbdriver.DriverOptions)) *qldbdriver.QLDBDriver {
	n.t.Helper()
	return n.driver(ledgerName, n.Session(AccessKeyID, SecretAccessKey), opts)
}

func (n *Node) driver(ledgerName string, c *qldbsession.Client, opts []func(*qldbdriver.DriverOptions)) *qldbdriver.QLDBDriver {
	n.t.Helper()
	drv, err := qldbdriver.New(ledgerName, c, func(o *qldbdriver.DriverOptions) {
		o.LoggerVerbosity = qldbdriver.LogOff
		for _, f := range opts {
			f(o)
		}
	})
	if err != nil {
		n.t.Fatalf("servertest: driver: %v", err)
	}
	n.t.Cleanup(func() { drv.Shutdown(context.Background()) })
	return drv
}

// Rows executes a statement in tx and decodes every result row.
func Rows(tx qldbdriver.Transaction, stmt string, params ...any) ([]*ionvalue.Value, error) {
	r, err := tx.Execute(stmt, params...)
	if err != nil {
		return nil, err
	}
	var out []*ionvalue.Value
	for r.Next(tx) {
		v, err := ionvalue.DecodeOne(r.GetCurrentData())
		if err != nil {
			return nil, fmt.Errorf("decode row %d: %w", len(out), err)
		}
		out = append(out, v)
	}
	return out, r.Err()
}

// Query executes one statement in its own driver transaction and returns
// its decoded rows.
func Query(drv *qldbdriver.QLDBDriver, stmt string, params ...any) ([]*ionvalue.Value, error) {
	res, err := drv.Execute(context.Background(), func(tx qldbdriver.Transaction) (any, error) {
		return Rows(tx, stmt, params...)
	})
	if err != nil {
		return nil, err
	}
	return res.([]*ionvalue.Value), nil
}

// MustQuery is Query that fails the test on error.
func MustQuery(t testing.TB, drv *qldbdriver.QLDBDriver, stmt string, params ...any) []*ionvalue.Value {
	t.Helper()
	rows, err := Query(drv, stmt, params...)
	if err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
	return rows
}
