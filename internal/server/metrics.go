package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strand-db/strand/internal/api"
	"github.com/strand-db/strand/internal/store"
	"github.com/strand-db/strand/internal/txn"
)

// noError is the error_type label of a request answered with success.
const noError = "none"

// nodeMetrics are the node's request, commit, session and store series.
// Every series exists from start: labelled ones are created for every
// label value they can take (operations, and error type "none") before
// the first request, so that rates and alerts see zeros instead of
// nothing.
type nodeMetrics struct {
	requests        *prometheus.CounterVec   // operation, error_type
	requestDuration *prometheus.HistogramVec // operation
	commits         prometheus.Counter
	commitGroups    prometheus.Counter
	failedGroups    prometheus.Counter
	groupSize       prometheus.Histogram
	syncSeconds     prometheus.Histogram
	occConflicts    prometheus.Counter
	connsRefused    prometheus.Counter
}

func newNodeMetrics() *nodeMetrics {
	m := &nodeMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strand_requests_total",
			Help: "Requests served, by operation (QLDB control-plane operation or QLDBSession command) and AWS error type (\"none\" for success)."},
			[]string{"operation", "error_type"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "strand_request_duration_seconds",
			Help:    "Time to serve a request, from its headers to the end of its answer, by operation.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}},
			[]string{"operation"}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{Name: "strand_commits_total",
			Help: "Transactions committed durably (each one journal block)."}),
		commitGroups: prometheus.NewCounter(prometheus.CounterOpts{Name: "strand_commit_groups_total",
			Help: "Synced writes of the committers (group commit: one write holds one or more transactions)."}),
		failedGroups: prometheus.NewCounter(prometheus.CounterOpts{Name: "strand_commit_failed_groups_total",
			Help: "Commit groups whose durable write failed (their transactions were not acknowledged; the ledger refuses commits until a restart)."}),
		groupSize: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "strand_commit_group_size",
			Help: "Transactions sharing one synced write.", Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256}}),
		syncSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "strand_commit_sync_seconds",
			Help:    "Time of a commit group's durable write (the store's synced batch and the acknowledged-tip record).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}),
		occConflicts: prometheus.NewCounter(prometheus.CounterOpts{Name: "strand_occ_conflicts_total",
			Help: "Commits refused with OccConflictException (another transaction changed what they read)."}),
		connsRefused: prometheus.NewCounter(prometheus.CounterOpts{Name: "strand_connections_refused_total",
			Help: "Client connections closed on arrival because --max-connections were open."}),
	}
	for _, op := range api.Operations() {
		m.requests.WithLabelValues(op, noError)
		m.requestDuration.WithLabelValues(op)
	}
	return m
}

// register adds the series to reg, with gauges of the open sessions and
// the store's size read at each scrape.
func (m *nodeMetrics) register(reg *prometheus.Registry, sessions *txn.Engine, st store.Store) {
	reg.MustRegister(m.requests, m.requestDuration, m.commits, m.commitGroups, m.failedGroups, m.groupSize, m.syncSeconds, m.occConflicts, m.connsRefused)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "strand_sessions_open",
		Help: "Open QLDB sessions on this node, all ledgers."}, func() float64 { return float64(sessions.OpenSessions()) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "strand_store_size_bytes",
		Help: "Bytes the store occupies: the embedded store's files on disk, or Strand's table in PostgreSQL; -1 when it cannot be read."},
		func() float64 {
			sz, ok := st.(sizer)
			if !ok {
				return -1
			}
			n, err := sz.SizeBytes()
			if err != nil {
				return -1
			}
			return float64(n)
		}))
	if rs, ok := st.(retrier); ok {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "strand_store_retries_total",
			Help: "Store transactions the database aborted as serialization failures or deadlocks and Strand ran again (PostgreSQL store only)."},
			func() float64 { return float64(rs.Retries()) }))
	}
}

// sizer is a store that reports its size (both stores do).
type sizer interface{ SizeBytes() (int64, error) }

// retrier is a store that counts the transactions it ran again
// (pgstore.Store).
type retrier interface{ Retries() uint64 }

// observeRequest is the api.Observer of the node.
func (m *nodeMetrics) observeRequest(op, errorType string, elapsed time.Duration) {
	if errorType == "" {
		errorType = noError
	}
	m.requests.WithLabelValues(op, errorType).Inc()
	m.requestDuration.WithLabelValues(op).Observe(elapsed.Seconds())
}

// CommitGroup implements txn.CommitObserver.
func (m *nodeMetrics) CommitGroup(size int, sync time.Duration, ok bool) {
	m.syncSeconds.Observe(sync.Seconds())
	if !ok {
		m.failedGroups.Inc()
		return
	}
	m.commitGroups.Inc()
	m.commits.Add(float64(size))
	m.groupSize.Observe(float64(size))
}

// OCCConflict implements txn.CommitObserver.
func (m *nodeMetrics) OCCConflict() { m.occConflicts.Inc() }
