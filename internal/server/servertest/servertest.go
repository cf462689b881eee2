// Package servertest starts real Strand nodes for tests: a full server on a
// free loopback port over a temporary data directory, and AWS SDK clients
// configured by hand to talk to it (no shared config files or AWS_*
// variables are read, so the developer's environment cannot leak in).
package servertest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
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

// StartConfig starts a node with exactly cfg.
func StartConfig(t testing.TB, cfg config.Config) *Node {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	node, err := server.Open(cfg, log)
	if err != nil {
		t.Fatalf("servertest: open: %v", err)
	}
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
	if n.done == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		n.t.Errorf("servertest: shutdown: %v", err)
	}
	if err := <-n.done; err != nil {
		n.t.Errorf("servertest: serve: %v", err)
	}
	n.done = nil
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
