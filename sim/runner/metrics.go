package runner

import "github.com/prometheus/client_golang/prometheus"

// metrics are the run's, for a Prometheus scrape beside the gateway's.
type metrics struct {
	running   prometheus.Gauge
	connected prometheus.Gauge
	frames    prometheus.Counter
	unacked   prometheus.Gauge
	lag       prometheus.Gauge
	seen      uint64
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		running: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kanal_sim_agents_running",
			Help: "Simulated vehicles' agents that have not returned."}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kanal_sim_agents_connected",
			Help: "Simulated vehicles' agents connected to the gateway."}),
		frames: prometheus.NewCounter(prometheus.CounterOpts{Name: "kanal_sim_frames_total",
			Help: "CAN frames the simulated vehicles gave their agents."}),
		unacked: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kanal_sim_spooled_batches",
			Help: "Batches in the agents' spools, not yet acknowledged by the gateway."}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kanal_sim_lag_seconds",
			Help: "How far the slowest vehicle's frames run behind the simulated clock."}),
	}
	if reg != nil {
		reg.MustRegister(m.collectors()...)
	}
	return m
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.running, m.connected, m.frames, m.unacked, m.lag}
}

// unregister takes the metrics off reg, so that another run can register
// its own.
func (m *metrics) unregister(reg prometheus.Registerer) {
	if reg == nil {
		return
	}
	for _, c := range m.collectors() {
		reg.Unregister(c)
	}
}

// observe takes a progress report (from one goroutine only).
func (m *metrics) observe(p Progress) {
	m.connected.Set(float64(p.Connected))
	if p.Frames > m.seen {
		m.frames.Add(float64(p.Frames - m.seen))
		m.seen = p.Frames
	}
	m.unacked.Set(float64(p.Unacked))
	m.lag.Set(p.Lag.Seconds())
}
