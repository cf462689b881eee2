package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/strand-db/strand/internal/ledger"
)

// healthCollector exports storage health: strand_ledger_healthy{ledger} is
// 1 for every ledger of the catalogue, 0 once a read of its data met
// on-disk corruption (ledger.Catalog.MarkDamaged); and
// strand_store_corruption_events_total counts the reads that met it.
type healthCollector struct {
	cat     *ledger.Catalog
	st      corruptionCounter
	healthy *prometheus.Desc
	events  *prometheus.Desc
}

// corruptionCounter is a store that counts the reads that met on-disk
// corruption (pebblestore.Store does).
type corruptionCounter interface{ Corruptions() uint64 }

func newHealthCollector(cat *ledger.Catalog, st corruptionCounter) *healthCollector {
	return &healthCollector{cat: cat, st: st,
		healthy: prometheus.NewDesc("strand_ledger_healthy",
			"1 while every read of the ledger's stored data succeeded, 0 once one met on-disk corruption (see the log and strand verify).",
			[]string{"ledger"}, nil),
		events: prometheus.NewDesc("strand_store_corruption_events_total",
			"Reads (by requests or compactions) that met on-disk corruption since the server started.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *healthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.healthy
	ch <- c.events
}

// Collect implements prometheus.Collector.
func (c *healthCollector) Collect(ch chan<- prometheus.Metric) {
	for _, h := range c.cat.HealthAll() {
		v := 1.0
		if !h.Healthy {
			v = 0
		}
		ch <- prometheus.MustNewConstMetric(c.healthy, prometheus.GaugeValue, v, h.Name)
	}
	ch <- prometheus.MustNewConstMetric(c.events, prometheus.CounterValue, float64(c.st.Corruptions()))
}
