package alert

import "github.com/prometheus/client_golang/prometheus"

// metrics are the engine's Prometheus metrics.
type metrics struct {
	batches   *prometheus.CounterVec // by result
	values    prometheus.Counter
	late      prometheus.Counter
	skewed    prometheus.Counter
	invalid   prometheus.Counter
	alerts    *prometheus.CounterVec // by kind, state
	latency   prometheus.Histogram
	flush     prometheus.Histogram
	leader    prometheus.Gauge
	takeovers prometheus.Counter
	fogCells  prometheus.Gauge
	statuses  *prometheus.CounterVec // by result
	twins     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kanal_alert_batches_total",
			Help: "Batches read from KANAL_BATCHES by the active processor, by result: processed, undecodable, mismatch (vehicle in the payload is not the subject's)."}, []string{"result"}),
		values: prometheus.NewCounter(prometheus.CounterOpts{Name: "kanal_alert_values_total",
			Help: "Signal values of processed batches."}),
		late: prometheus.NewCounter(prometheus.CounterOpts{Name: "kanal_alert_late_values_total",
			Help: "Values older than max_lateness when processed: they update twins and raise nothing."}),
		skewed: prometheus.NewCounter(prometheus.CounterOpts{Name: "kanal_alert_clock_skew_values_total",
			Help: "Values stamped more than max_clock_skew ahead of the processor's clock (a vehicle clock that is off): kept, as reported now."}),
		invalid: prometheus.NewCounter(prometheus.CounterOpts{Name: "kanal_alert_invalid_values_total",
			Help: "Values of followed signals that do not fit them (a cell that is no cell, a boolean that is not 0 or 1): ignored."}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kanal_alerts_published_total",
			Help: "Alert changes published to KANAL_ALERTS, by kind and state (traffic or fleet view, once per change)."}, []string{"kind", "state"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kanal_alert_latency_seconds",
			Help:    "From the report time of the value that raised an alert (the vehicle's clock) to its publication.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
		flush: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kanal_alert_flush_seconds",
			Help:    "Time to write a group's state and alerts and acknowledge its batches.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kanal_alert_leader",
			Help: "1 while this replica is the active processor, 0 on standby."}),
		takeovers: prometheus.NewCounter(prometheus.CounterOpts{Name: "kanal_alert_takeovers_total",
			Help: "Times this replica became the active processor."}),
		fogCells: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kanal_alert_fog_cells",
			Help: "Cells with a raised fog alert."}),
		statuses: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kanal_alert_status_messages_total",
			Help: "Vehicle status messages from kanal.status.*, by result: applied, ignored (a reply, an older presence), invalid, dropped (processor busy)."}, []string{"result"}),
		twins: prometheus.NewCounter(prometheus.CounterOpts{Name: "kanal_alert_twin_writes_total",
			Help: "Twins written to KANAL_TWINS: with a change of their values, or twin_refresh after newer report times alone."}),
	}
	if reg != nil {
		reg.MustRegister(m.batches, m.values, m.late, m.skewed, m.invalid, m.alerts, m.latency,
			m.flush, m.leader, m.takeovers, m.fogCells, m.statuses, m.twins)
	}
	return m
}
