package stream

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus series of every journal stream, labelled by
// ledger and stream id.
type Metrics struct {
	userRecords    *prometheus.CounterVec
	userBytes      *prometheus.CounterVec
	kinesisRecords *prometheus.CounterVec
	perAggregate   *prometheus.HistogramVec
	retries        *prometheus.CounterVec
	throttles      *prometheus.CounterVec
	lagBlocks      *prometheus.GaugeVec
	lagSeconds     *prometheus.GaugeVec
	status         *prometheus.GaugeVec
	blocksRead     *prometheus.CounterVec // by source: memory or store (recent.go)
}

// NewMetrics registers the stream series with reg (nil: a private registry).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	labels := []string{"ledger", "stream_id"}
	m := &Metrics{
		userRecords: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "strand", Subsystem: "stream",
			Name: "user_records_put_total", Help: "QLDB stream records (CONTROL, BLOCK_SUMMARY, REVISION_DETAILS) acknowledged by Kinesis."}, labels),
		userBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "strand", Subsystem: "stream",
			Name: "user_bytes_put_total", Help: "Bytes of QLDB stream records acknowledged by Kinesis."}, labels),
		kinesisRecords: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "strand", Subsystem: "stream",
			Name: "kinesis_records_put_total", Help: "Kinesis records (aggregated or raw) acknowledged by Kinesis."}, labels),
		perAggregate: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "strand", Subsystem: "stream",
			Name: "records_per_kinesis_record", Help: "User records carried by each acknowledged Kinesis record.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512}}, labels),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "strand", Subsystem: "stream",
			Name: "retries_total", Help: "Kinesis records re-sent after a failed PutRecords entry or request."}, labels),
		throttles: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "strand", Subsystem: "stream",
			Name: "throttles_total", Help: "ProvisionedThroughputExceededException answers from Kinesis."}, labels),
		lagBlocks: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "strand", Subsystem: "stream",
			Name: "lag_blocks", Help: "Committed journal blocks not yet acknowledged by Kinesis."}, labels),
		lagSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "strand", Subsystem: "stream",
			Name: "lag_seconds", Help: "Age of the oldest committed block not yet acknowledged by Kinesis (0 when caught up)."}, labels),
		status: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "strand", Subsystem: "stream",
			Name: "status", Help: "1 for the stream's current status, 0 for the others."}, append(labels, "status")),
		blocksRead: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "strand", Subsystem: "stream",
			Name: "blocks_read_total", Help: "Journal blocks a stream worker read, from the in-memory buffer of recently committed blocks (source=memory) or from the store (source=store)."},
			append(labels, "source")),
	}
	reg.MustRegister(m.userRecords, m.userBytes, m.kinesisRecords, m.perAggregate, m.retries, m.throttles, m.lagBlocks, m.lagSeconds, m.status, m.blocksRead)
	return m
}

// setStatus records a stream's status. It also creates every series of
// the stream (at zero) the first time, so that all of them appear as soon
// as the stream exists, not when the first retry or throttle happens.
func (m *Metrics) setStatus(ledgerName, id, status string) {
	m.userRecords.WithLabelValues(ledgerName, id)
	m.userBytes.WithLabelValues(ledgerName, id)
	m.kinesisRecords.WithLabelValues(ledgerName, id)
	m.perAggregate.WithLabelValues(ledgerName, id)
	m.retries.WithLabelValues(ledgerName, id)
	m.throttles.WithLabelValues(ledgerName, id)
	m.lagBlocks.WithLabelValues(ledgerName, id)
	m.lagSeconds.WithLabelValues(ledgerName, id)
	m.blocksRead.WithLabelValues(ledgerName, id, "memory")
	m.blocksRead.WithLabelValues(ledgerName, id, "store")
	for _, s := range []string{StatusActive, StatusImpaired, StatusCompleted, StatusCanceled, StatusFailed} {
		v := 0.0
		if s == status {
			v = 1
		}
		m.status.WithLabelValues(ledgerName, id, s).Set(v)
	}
}
