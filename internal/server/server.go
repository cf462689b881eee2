// Package server assembles a running Strand node from a config: the store,
// the engines and the HTTP front, with an orderly start and shutdown. The
// strand binary and the end-to-end tests both start Strand through it.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/strand-db/strand/internal/api"
	"github.com/strand-db/strand/internal/cluster"
	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/export"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/ledger"
	"github.com/strand-db/strand/internal/policy"
	"github.com/strand-db/strand/internal/server/plainbody"
	"github.com/strand-db/strand/internal/store"
	pebblestore "github.com/strand-db/strand/internal/store/pebble"
	pgstore "github.com/strand-db/strand/internal/store/postgres"
	"github.com/strand-db/strand/internal/stream"
	"github.com/strand-db/strand/internal/stream/kpl"
	"github.com/strand-db/strand/internal/txn"
)

// Node is an open Strand node.
type Node struct {
	cfg      config.Config
	log      *slog.Logger
	store    store.Store
	ledgers  *ledger.Catalog
	sessions *txn.Engine
	tips     *store.TipFiles
	streams  *stream.Manager
	exports  *export.Manager
	metrics  *prometheus.Registry
	mhttp    *http.Server

	metricsAddr string
	http        *http.Server
	// leases is set when the store is shared by several nodes: which
	// ledgers (and so which journal streams) this node serves.
	leases     *cluster.Leases
	stopLeases context.CancelFunc
	leasesDone chan struct{}

	ln net.Listener

	// backupMu admits one online backup at a time (see Backup).
	backupMu sync.Mutex

	// obs holds the request, commit, session and store metrics; closed is
	// set once Close began (the node is no longer ready).
	obs     *nodeMetrics
	closed  atomic.Bool
	failure storeFailure // the store, when it has a failed state; nil otherwise
	// policies are the --policy-file policies (nil without one).
	policies *policy.Store

	// kinesisCreds is why no AWS credentials could be obtained for Kinesis
	// at start-up (checked only with --kinesis-endpoint); nil when they could.
	kinesisCreds error
}

// Open validates cfg, opens the store (the data directory, failing at once
// if another process holds it; or the PostgreSQL database of cfg.Store) and
// builds the engines. It does not listen yet.
func Open(cfg config.Config, log *slog.Logger) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	st, err := openStore(cfg)
	if err != nil {
		return nil, err
	}
	return OpenWithStore(cfg, log, st)
}

// OpenWithStore is Open on a store the caller opened: st must be the store
// cfg describes (the embedded store in cfg.DataDir, opened with options of
// the caller's choosing, such as a file system that injects disk faults in
// tests). The node owns st from then on and closes it, also when
// OpenWithStore fails.
func OpenWithStore(cfg config.Config, log *slog.Logger, st store.Store) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		st.Close()
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	n := &Node{cfg: cfg, log: log, store: st, obs: newNodeMetrics()}
	n.failure, _ = st.(storeFailure)
	if cfg.StoreKind() == config.StorePebble {
		if err := removeBackupLeftovers(cfg.DataDir); err != nil {
			st.Close()
			return nil, err
		}
	}
	// On a store shared by several nodes each ledger, with its sessions and
	// journal streams, is served by the node holding its lease.
	shared := SharedStore(cfg)
	var txnOwner txn.Ownership
	var streamOwner stream.Ownership
	if shared {
		n.leases = cluster.New(cluster.Options{Store: st, URL: cfg.NodeURL, TTL: cfg.LeaseTTL, Logger: log, Now: cfg.LeaseClock,
			Gained: n.ledgerGained, Lost: n.ledgerLost, Candidates: n.leaseCandidates,
			Catalogued: func(id string) ([]byte, []byte, bool, error) { return n.ledgers.Row(id) }})
		txnOwner, streamOwner = n.leases, n.leases
	}
	cat, err := ledger.Open(st, ledger.Options{Region: cfg.Region, AccountID: cfg.AccountID, MaxLedgers: cfg.MaxLedgers,
		OnDelete: n.ledgerDeleted, Logger: log, Shared: shared})
	if err != nil {
		st.Close()
		return nil, err
	}
	n.ledgers = cat
	// Tip record files guard the embedded store's synced commits against a
	// file system that loses them; on PostgreSQL the database's commit is
	// the durability point, and a node's local files would not be seen by
	// the others.
	var tips journal.Tips
	if cfg.StoreKind() == config.StorePebble {
		n.tips = store.NewTipFiles(cfg.DataDir)
		tips = n.tips
	}
	n.sessions = txn.NewEngine(st, cat, txn.Options{MaxSessionsPerLedger: cfg.MaxSessionsPerLedger, TxTimeout: cfg.TxTimeout, Tips: tips,
		MaxStatementRows: cfg.MaxStatementRows, MaxStatementMemory: cfg.MaxStatementMemory,
		MaxPendingBytesPerLedger: cfg.MaxPendingBytesPerLedger, Ownership: txnOwner, PartiQLExtensions: cfg.PartiQLExtensions, Observer: n.obs})
	n.metrics = prometheus.NewRegistry()
	cc, ok := st.(corruptionCounter)
	if !ok {
		cc = noCorruptions{}
	}
	n.metrics.MustRegister(newHealthCollector(cat, cc))
	n.obs.register(n.metrics, n.sessions, st)
	n.metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := n.checkJournals(); err != nil {
		n.sessions.Close()
		n.closeTips()
		st.Close()
		return nil, err
	}
	clients := &stream.SDKClients{Endpoint: cfg.KinesisEndpoint, AssumeRole: cfg.AssumeRole, Credentials: cfg.KinesisCredentials,
		WrapHTTPClient: func(c aws.HTTPClient) aws.HTTPClient { return plainbody.Wrap(c) }}
	if cfg.KinesisEndpoint != "" {
		// With AWS (no endpoint) the credentials may legitimately come from
		// an instance role that takes a while to answer; with an emulator
		// they must be at hand, so say at once when they are not.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		n.kinesisCreds = clients.CheckCredentials(ctx, cfg.Region)
		cancel()
		if n.kinesisCreds != nil {
			log.Error("no AWS credentials for Kinesis: journal streams stay IMPAIRED (IAM_PERMISSION_REVOKED) until credentials can be obtained; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a shared credentials file",
				"kinesis_endpoint", cfg.KinesisEndpoint, "err", n.kinesisCreds)
		}
	}
	registerStatementMetrics(n.metrics, n.sessions)
	n.streams, err = stream.Open(stream.Options{
		Region: cfg.Region, AccountID: cfg.AccountID,
		MaxActivePerLedger: cfg.MaxStreamsPerLedger, Retention: cfg.StreamRetention, ImpairedTimeout: cfg.StreamImpairedTimeout,
		Ownership:   streamOwner,
		Aggregation: kpl.Config{MaxAggregateSize: cfg.AggregationMaxSize}, BufferDelay: cfg.StreamBufferDelay,
		RetryMax: cfg.StreamRetryMax, RetryBase: min(100*time.Millisecond, cfg.StreamRetryMax),
		Clients:  clients,
		Journals: n.sessions, Ledgers: cat, Store: st, Logger: log, Metrics: stream.NewMetrics(n.metrics),
	})
	if err != nil {
		n.sessions.Close()
		n.closeTips()
		st.Close()
		return nil, err
	}
	var exportOwner export.Ownership
	if shared {
		exportOwner = n.leases
	}
	if err := n.openExports(cfg, exportOwner); err != nil {
		n.streams.Close()
		n.sessions.Close()
		n.closeTips()
		st.Close()
		return nil, err
	}
	if n.policies, err = n.openPolicies(cfg); err != nil {
		n.exports.Close()
		n.streams.Close()
		n.sessions.Close()
		n.closeTips()
		st.Close()
		return nil, err
	}
	var reload func() (policy.Changes, error)
	if n.policies != nil {
		reload = n.ReloadPolicies
	}
	handler := api.New(api.Options{
		Region: cfg.Region, AccountID: cfg.AccountID, Credentials: cfg.Credentials,
		MaxClockSkew: cfg.MaxClockSkew, Ledgers: cat, Sessions: n.sessions, Streams: n.streams, Exports: n.exports, Logger: log,
		BodyReadTimeout: cfg.BodyReadTimeout, ResponseWriteTimeout: cfg.ResponseWriteTimeout, MaxInflightBodyBytes: cfg.MaxInflightBodyBytes,
		Backup: n, BackupKeys: cfg.BackupKeys, MaxConcurrentCommands: cfg.MaxConcurrentCommands,
		Router: n.router(), ForwardClient: forwardClient(), RouteWait: 2*cfg.LeaseTTL + time.Second, OwnerCheck: cfg.LeaseTTL / 3, ForwardTimeout: cfg.ForwardTimeout,
		Observer: n.obs.observeRequest,
		Policies: n.policies, Principals: cfg.Principals, ReloadPolicies: reload, TableTags: n.tableTags(cfg),
	})
	// The body's read deadline is set by the handler once the headers are
	// authenticated (api.Options.BodyReadTimeout); headers have their own.
	n.http = &http.Server{
		Handler:           n.withProbes(handler),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return n, nil
}

// Listen binds the configured address (use port 0 for a free one).
func (n *Node) Listen() error {
	ln, err := net.Listen("tcp", n.cfg.Listen)
	if err != nil {
		return fmt.Errorf("server: listen: %w", err)
	}
	ln = newConnLimiter(ln, n.cfg.MaxConnections, n.obs.connsRefused)
	// The store, the metrics listener and the streams need descriptors
	// too; past the limit, accepting and opening files both fail.
	if lim, ok := openFilesLimit(); ok && uint64(n.cfg.MaxConnections)+reservedFiles > lim {
		n.log.Warn("--max-connections leaves too few of the process's open-files limit for the store; raise the limit (ulimit -n, LimitNOFILE=) or lower --max-connections",
			"max_connections", n.cfg.MaxConnections, "open_files_limit", lim, "reserved", reservedFiles)
	}
	if n.cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(n.cfg.TLSCert, n.cfg.TLSKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("server: TLS key pair: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	n.ln = ln
	n.startLeases()
	if n.cfg.MetricsListen != "" {
		mln, err := net.Listen("tcp", n.cfg.MetricsListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("server: metrics listen: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(n.metrics, promhttp.HandlerOpts{}))
		mux.Handle(HealthPath, n.withProbes(http.NotFoundHandler()))
		mux.Handle(ReadyPath, n.withProbes(http.NotFoundHandler()))
		if n.cfg.Pprof {
			servePprof(mux)
		}
		// Scrapers and probes need few connections; the bound keeps a
		// flood of them from costing more than a flood of clients could.
		mln = newConnLimiter(mln, maxMetricsConnections, n.obs.connsRefused)
		n.mhttp = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
		n.metricsAddr = mln.Addr().String()
		go func() { _ = n.mhttp.Serve(mln) }()
	}
	return nil
}

// MetricsURL is the Prometheus endpoint ("" when disabled).
func (n *Node) MetricsURL() string {
	if n.metricsAddr == "" {
		return ""
	}
	return "http://" + n.metricsAddr + "/metrics"
}

// URL is the endpoint clients use (valid after Listen).
func (n *Node) URL() string {
	scheme := "http"
	if n.cfg.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + n.ln.Addr().String()
}

// AuthMode describes how requests are authenticated, for the start-up banner.
func (n *Node) AuthMode() string {
	if len(n.cfg.Credentials) == 0 {
		return "none: any well-formed SigV4 signature is accepted (loopback only)"
	}
	return fmt.Sprintf("SigV4 verified against %d configured access key(s)", len(n.cfg.Credentials))
}

// StoreDescription names the store, for the start-up banner: "data
// directory: DIR", or "store: PostgreSQL URL" without the URL's password.
func (n *Node) StoreDescription() string {
	if n.cfg.StoreKind() != config.StorePostgres {
		return "data directory: " + n.cfg.DataDir
	}
	if u, err := url.Parse(n.cfg.Store); err == nil {
		return "store: PostgreSQL " + u.Redacted()
	}
	return "store: PostgreSQL"
}

// KinesisCredentials describes the AWS credentials for Kinesis, for the
// start-up banner ("" when there is nothing to say: no --kinesis-endpoint).
func (n *Node) KinesisCredentials() string {
	switch {
	case n.cfg.KinesisEndpoint == "":
		return ""
	case n.kinesisCreds != nil:
		return fmt.Sprintf("NONE for %s (%v): journal streams stay IMPAIRED with IAM_PERMISSION_REVOKED until credentials can be obtained", n.cfg.KinesisEndpoint, n.kinesisCreds)
	default:
		return "found for " + n.cfg.KinesisEndpoint
	}
}

// KinesisCredentialsError is why no AWS credentials for Kinesis could be
// obtained at start-up (nil when they could, or without --kinesis-endpoint).
func (n *Node) KinesisCredentialsError() error { return n.kinesisCreds }

// Serve answers requests until Shutdown; it returns nil after a clean shutdown.
func (n *Node) Serve() error {
	if err := n.http.Serve(n.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}

// Shutdown stops accepting requests, waits for in-flight ones (until ctx
// ends), then closes the engines and the store.
func (n *Node) Shutdown(ctx context.Context) error {
	err := n.http.Shutdown(ctx)
	if cerr := n.Close(); err == nil {
		err = cerr
	}
	return err
}

// checkJournals opens every ledger at start-up and compares its journal
// with its acknowledged-tip record. A ledger missing acknowledged blocks is
// logged as an error naming the blocks, counted in the
// strand_ledger_missing_acknowledged_blocks gauge, and refused (package
// txn); the other ledgers serve. Only an error that is not such a loss
// stops the start.
func (n *Node) checkJournals() error {
	if n.leases != nil {
		// On a shared store a ledger is opened by the node that takes its
		// lease; the database's own commit is the durability point, with
		// no tip records beside it.
		return nil
	}
	losses, err := n.sessions.OpenAll()
	if err != nil {
		return err
	}
	gauge := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "strand_ledger_missing_acknowledged_blocks",
		Help: "Acknowledged blocks missing from a ledger's journal at start-up (the ledger is refused until an operator runs strand repair accept-journal-loss); -1 when its tip record is unreadable.",
	}, []string{"ledger"})
	n.metrics.MustRegister(gauge)
	for _, loss := range losses {
		_, _, missing := loss.Missing()
		v := float64(missing)
		if loss.Corrupt != nil {
			v = -1
		}
		gauge.WithLabelValues(loss.Ledger).Set(v)
		n.log.Error("ledger refused: its journal is missing acknowledged blocks; restore the data directory from a backup or run strand repair accept-journal-loss",
			"ledger", loss.Ledger, "problem", loss.Error())
	}
	var orphans []journal.OrphanTip
	if n.tips != nil {
		var err error
		if orphans, err = journal.OrphanTips(n.tips, n.ledgers.IDs()); err != nil {
			return err
		}
	}
	orphanGauge := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "strand_orphan_tip_records",
		Help: "Acknowledged-tip records at start-up whose ledger is not in the catalogue: a deleted ledger's leftover, or a ledger the catalogue lost (see the log).",
	})
	n.metrics.MustRegister(orphanGauge)
	orphanGauge.Set(float64(len(orphans)))
	for _, o := range orphans {
		n.log.Error("acknowledged-tip record of a ledger missing from the catalogue", "ledger_id", o.LedgerID, "problem", o.Detail())
	}
	return nil
}

// ledgerDeleted drops a deleted ledger's sessions and data.
func (n *Node) ledgerDeleted(l ledger.Entry) {
	n.streams.DropLedger(l.ID)
	n.exports.DropLedger(l.ID)
	if err := n.sessions.DropLedger(l); err != nil {
		n.log.Error("removing a deleted ledger's data failed", "ledger", l.Name, "err", err)
	}
}

// Close closes the engines and the store without waiting for requests (use
// Shutdown when serving).
func (n *Node) Close() error {
	if n.store == nil {
		return nil
	}
	n.closed.Store(true)
	if n.mhttp != nil {
		n.mhttp.Close()
	}
	n.stopLeasesLoop()
	n.exports.Close()
	n.streams.Close()
	n.sessions.Close()
	n.releaseLeases()
	err := n.closeTips()
	if serr := n.store.Close(); serr != nil {
		err = serr
	}
	n.store = nil
	return err
}

// openStore opens the store cfg.Store selects.
func openStore(cfg config.Config) (store.Store, error) {
	if cfg.StoreKind() == config.StorePostgres {
		// A write transaction of a node cut off from the database before
		// its COMMIT is ended after one lease TTL, so that its row locks
		// (a ledger's fence and lease) do not keep the other nodes from
		// taking its ledgers over for as long as the partition lasts.
		st, err := pgstore.Open(cfg.Store, pgstore.Options{MaxConns: int32(cfg.StoreMaxConns), WriteIdleTimeout: cfg.LeaseTTL})
		if err != nil {
			return nil, fmt.Errorf("server: --store: %w", err)
		}
		return st, nil
	}
	return pebblestore.Open(cfg.DataDir, pebblestore.Options{CacheSize: cfg.StoreCacheSize})
}

func (n *Node) closeTips() error {
	if n.tips == nil {
		return nil
	}
	return n.tips.Close()
}

// noCorruptions is the corruption count of a store that reports none
// (PostgreSQL checks its own pages).
type noCorruptions struct{}

func (noCorruptions) Corruptions() uint64 { return 0 }

// Sessions returns the session and transaction engine (tests and tools
// read ledgers' journals through it).
func (n *Node) Sessions() *txn.Engine { return n.sessions }

// Ledgers returns the ledger catalogue.
func (n *Node) Ledgers() *ledger.Catalog { return n.ledgers }

// Streams returns the journal stream manager.
func (n *Node) Streams() *stream.Manager { return n.streams }

// Metrics returns the node's Prometheus registry.
func (n *Node) Metrics() *prometheus.Registry { return n.metrics }

// registerStatementMetrics exports the session engine's statement counters:
// strand_statements_running and strand_statements_stopped_total{reason}
// (expired, canceled, budget).
func registerStatementMetrics(reg *prometheus.Registry, e *txn.Engine) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "strand_statements_running", Help: "PartiQL statements being evaluated now.",
	}, func() float64 { return float64(e.StatementStats().Running) }))
	for reason, get := range map[string]func(txn.StatementStats) int64{
		"expired":  func(s txn.StatementStats) int64 { return s.Expired },
		"canceled": func(s txn.StatementStats) int64 { return s.Canceled },
		"budget":   func(s txn.StatementStats) int64 { return s.Budget },
	} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "strand_statements_stopped_total", Help: "PartiQL statements stopped before they finished, by reason.",
			ConstLabels: prometheus.Labels{"reason": reason},
		}, func() float64 { return float64(get(e.StatementStats())) }))
	}
}
