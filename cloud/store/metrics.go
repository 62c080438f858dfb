package store

import "github.com/prometheus/client_golang/prometheus"

// metrics of a Store. Two Stores may share a process (tests, or a gateway
// and a tool) as long as they register into different registries.
type metrics struct {
	stored     prometheus.Counter
	duplicate  *prometheus.CounterVec // by: window, state
	ack        prometheus.Histogram
	conflicts  prometheus.Counter
	badState   prometheus.Counter
	dead       *prometheus.CounterVec // reason
	dupWindow  prometheus.Counter
	dupState   prometheus.Counter
	cachedVehs prometheus.GaugeFunc
}

func newMetrics(reg prometheus.Registerer, c *cache) *metrics {
	m := &metrics{
		stored: prometheus.NewCounter(prometheus.CounterOpts{Name: "kanal_gateway_batches_stored_total",
			Help: "Batches stored in KANAL_BATCHES for the first time."}),
		duplicate: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kanal_gateway_batches_duplicate_total",
			Help: "Batches not stored again: by=window (JetStream's Nats-Msg-Id window) or by=state (the vehicle's dedup state)."},
			[]string{"by"}),
		ack: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kanal_gateway_jetstream_ack_seconds",
			Help:    "Time from publishing a batch to JetStream to its ack, per acknowledged publish.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12)}), // 0.1 ms to 2.4 s
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{Name: "kanal_gateway_store_conflicts_total",
			Help: "Publishes refused because the vehicle's subject moved on (another replica or connection stored first); each is re-read and decided again."}),
		badState: prometheus.NewCounter(prometheus.CounterOpts{Name: "kanal_gateway_store_bad_state_total",
			Help: "Last messages of a vehicle whose Kanal-Dedup header was missing or unreadable; the vehicle was treated as new."}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kanal_gateway_dead_letters_total",
			Help: "Payloads stored in KANAL_DEAD, by reason."}, []string{"reason"}),
	}
	m.dupWindow = m.duplicate.WithLabelValues("window")
	m.dupState = m.duplicate.WithLabelValues("state")
	m.cachedVehs = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kanal_gateway_store_cached_vehicles",
		Help: "Vehicles whose last message the store keeps in memory."}, func() float64 { return float64(c.len()) })
	if reg != nil {
		reg.MustRegister(m.stored, m.duplicate, m.ack, m.conflicts, m.badState, m.dead, m.cachedVehs)
	}
	return m
}
