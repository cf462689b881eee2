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
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/strand-db/strand/internal/api"
	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/ledger"
	"github.com/strand-db/strand/internal/store"
	"github.com/strand-db/strand/internal/stream"
	"github.com/strand-db/strand/internal/stream/kpl"
	"github.com/strand-db/strand/internal/txn"
)

// Node is an open Strand node.
type Node struct {
	cfg      config.Config
	log      *slog.Logger
	store    *store.Store
	ledgers  *ledger.Catalog
	sessions *txn.Engine
	streams  *stream.Manager
	metrics  *prometheus.Registry
	mhttp    *http.Server

	metricsAddr string
	http        *http.Server
	ln          net.Listener
}

// Open validates cfg, opens the data directory (failing at once if another
// process holds it) and builds the engines. It does not listen yet.
func Open(cfg config.Config, log *slog.Logger) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	st, err := store.Open(cfg.DataDir, store.Options{})
	if err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: log, store: st}
	cat, err := ledger.Open(st, ledger.Options{Region: cfg.Region, AccountID: cfg.AccountID, MaxLedgers: cfg.MaxLedgers,
		OnDelete: n.ledgerDeleted})
	if err != nil {
		st.Close()
		return nil, err
	}
	n.ledgers = cat
	n.sessions = txn.NewEngine(st, cat, txn.Options{MaxSessionsPerLedger: cfg.MaxSessionsPerLedger, TxTimeout: cfg.TxTimeout})
	n.metrics = prometheus.NewRegistry()
	n.metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	n.streams, err = stream.Open(stream.Options{
		Region: cfg.Region, AccountID: cfg.AccountID,
		MaxActivePerLedger: cfg.MaxStreamsPerLedger, Retention: cfg.StreamRetention, ImpairedTimeout: cfg.StreamImpairedTimeout,
		Aggregation: kpl.Config{MaxAggregateSize: cfg.AggregationMaxSize}, BufferDelay: cfg.StreamBufferDelay,
		RetryMax: cfg.StreamRetryMax, RetryBase: min(100*time.Millisecond, cfg.StreamRetryMax),
		Clients:  &stream.SDKClients{Endpoint: cfg.KinesisEndpoint, AssumeRole: cfg.AssumeRole, Credentials: cfg.KinesisCredentials},
		Journals: journals{n.sessions}, Ledgers: cat, Store: st, Logger: log, Metrics: stream.NewMetrics(n.metrics),
	})
	if err != nil {
		n.sessions.Close()
		st.Close()
		return nil, err
	}
	handler := api.New(api.Options{
		Region: cfg.Region, AccountID: cfg.AccountID, Credentials: cfg.Credentials,
		MaxClockSkew: cfg.MaxClockSkew, Ledgers: cat, Sessions: n.sessions, Streams: n.streams, Logger: log,
		BodyReadTimeout: cfg.BodyReadTimeout, MaxInflightBodyBytes: cfg.MaxInflightBodyBytes,
	})
	// The body's read deadline is set by the handler once the headers are
	// authenticated (api.Options.BodyReadTimeout); headers have their own.
	n.http = &http.Server{
		Handler:           handler,
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
	if n.cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(n.cfg.TLSCert, n.cfg.TLSKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("server: TLS key pair: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	n.ln = ln
	if n.cfg.MetricsListen != "" {
		mln, err := net.Listen("tcp", n.cfg.MetricsListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("server: metrics listen: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(n.metrics, promhttp.HandlerOpts{}))
		n.mhttp = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
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

// ledgerDeleted drops a deleted ledger's sessions and data.
func (n *Node) ledgerDeleted(l ledger.Ledger) {
	n.streams.DropLedger(l.ID)
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
	if n.mhttp != nil {
		n.mhttp.Close()
	}
	n.streams.Close()
	n.sessions.Close()
	err := n.store.Close()
	n.store = nil
	return err
}

// Sessions returns the session and transaction engine (tests and tools
// read ledgers' journals through it).
func (n *Node) Sessions() *txn.Engine { return n.sessions }

// Ledgers returns the ledger catalogue.
func (n *Node) Ledgers() *ledger.Catalog { return n.ledgers }

// journals lets stream workers read ledgers' journals through the
// transaction engine, which owns them.
type journals struct{ e *txn.Engine }

func (j journals) Journal(ledgerName string) (stream.Journal, error) {
	return j.e.Ledger(ledgerName)
}

// Streams returns the journal stream manager.
func (n *Node) Streams() *stream.Manager { return n.streams }

// Metrics returns the node's Prometheus registry.
func (n *Node) Metrics() *prometheus.Registry { return n.metrics }
