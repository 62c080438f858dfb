package spool

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics exposes a Spool to Prometheus. The gauges and counters are read
// from Stats at scrape time, so there is one source of truth and nothing to
// update on the append path; only the fsync histogram is observed as it
// happens.
type metrics struct {
	s   *Spool
	reg prometheus.Registerer

	records, bytes, disk, oldest                      *prometheus.Desc
	appended, acked, dropped, corrupt, torn, quarants *prometheus.Desc
	fsync                                             prometheus.Histogram
}

// newMetrics builds the collector and registers it with reg when reg is not
// nil. A registration error (a second spool on the same registry) is
// logged, not returned: metrics must never keep a vehicle from spooling.
func newMetrics(s *Spool, reg prometheus.Registerer) *metrics {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	m := &metrics{
		s:        s,
		records:  d("kanal_spool_records", "Batches in the spool waiting for their PUBACK."),
		bytes:    d("kanal_spool_bytes", "Bytes of the batches waiting for their PUBACK."),
		disk:     d("kanal_spool_disk_bytes", "Bytes of spool files on disk, which max_bytes bounds."),
		oldest:   d("kanal_spool_oldest_age_seconds", "Age of the oldest batch waiting for its PUBACK; 0 when none."),
		appended: d("kanal_spool_appended_total", "Batches appended to the spool."),
		acked:    d("kanal_spool_acked_total", "Batches removed from the spool after their PUBACK."),
		dropped: d("kanal_spool_dropped_total", "Batches dropped before their PUBACK, by reason "+
			"(budget: the disk budget, oldest non-priority first; budget_priority: priority batches, when nothing else was left).", "reason"),
		corrupt:  d("kanal_spool_corrupt_total", "Damaged records or byte ranges found in spool files (their batches are lost)."),
		torn:     d("kanal_spool_torn_tails_total", "Torn segment tails truncated at open: the last write of a crash."),
		quarants: d("kanal_spool_quarantined_total", "Batches moved to the quarantine folder because the broker can never accept them."),
		fsync: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kanal_spool_fsync_seconds",
			Help:    "Time an fsync of a spool segment took.",
			Buckets: prometheus.ExponentialBuckets(0.00025, 2, 14)}), // 0.25 ms to 2 s
	}
	if reg != nil {
		if err := reg.Register(m); err != nil {
			s.log.Warn("spool metrics not registered", "err", err)
		} else {
			m.reg = reg
		}
	}
	return m
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.records, m.bytes, m.disk, m.oldest, m.appended, m.acked,
		m.dropped, m.corrupt, m.torn, m.quarants} {
		ch <- d
	}
	m.fsync.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	st := m.s.Stats()
	g := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	c := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	g(m.records, float64(st.Records))
	g(m.bytes, float64(st.Bytes))
	g(m.disk, float64(st.DiskBytes))
	g(m.oldest, st.OldestAge.Seconds())
	c(m.appended, st.Appended)
	c(m.acked, st.Acked)
	for reason, n := range st.Dropped {
		c(m.dropped, n, reason)
	}
	c(m.corrupt, st.Corrupt)
	c(m.torn, st.TornTails)
	c(m.quarants, st.Quarantined)
	m.fsync.Collect(ch)
}

// observeFsync records one fsync; m may be nil during recovery.
func (m *metrics) observeFsync(d time.Duration) {
	if m != nil {
		m.fsync.Observe(d.Seconds())
	}
}

// unregister undoes newMetrics' registration.
func (m *metrics) unregister() {
	if m != nil && m.reg != nil {
		m.reg.Unregister(m)
	}
}
