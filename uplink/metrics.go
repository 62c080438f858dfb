package uplink

import "github.com/prometheus/client_golang/prometheus"

type publisherMetrics struct {
	connected     prometheus.Gauge
	reconnects    prometheus.Counter
	batches       prometheus.Counter
	bytes         prometheus.Counter
	negative      *prometheus.CounterVec
	pubackSeconds prometheus.Histogram
	commands      prometheus.Counter
	notices       prometheus.Counter
}

func newPublisherMetrics(reg prometheus.Registerer) *publisherMetrics {
	m := &publisherMetrics{
		connected: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kanal_uplink_connected",
			Help: "1 while the agent is connected to the gateway."}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{Name: "kanal_uplink_connects_total",
			Help: "Successful connects to the gateway (the first one and every reconnect)."}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{Name: "kanal_uplink_batches_sent_total",
			Help: "Batches the gateway acknowledged."}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "kanal_uplink_bytes_sent_total",
			Help: "Bytes of batches the gateway acknowledged."}),
		negative: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kanal_uplink_negative_pubacks_total",
			Help: "PUBACKs with a failure reason code, by code."}, []string{"code"}),
		pubackSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kanal_uplink_puback_seconds",
			Help:    "Time from publishing a batch to its successful PUBACK.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		commands: prometheus.NewCounter(prometheus.CounterOpts{Name: "kanal_uplink_commands_total",
			Help: "Commands received from the cloud."}),
		notices: prometheus.NewCounter(prometheus.CounterOpts{Name: "kanal_uplink_notices_total",
			Help: "Notices received for the vehicle's cells."}),
	}
	if reg != nil {
		reg.MustRegister(m.connected, m.reconnects, m.batches, m.bytes, m.negative, m.pubackSeconds, m.commands, m.notices)
	}
	return m
}
