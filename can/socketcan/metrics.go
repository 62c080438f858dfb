package socketcan

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the counters of every Bus of a process, labelled by bus. One
// set is created with NewMetrics and passed to each Open, so several buses
// share the collectors instead of registering the same names twice.
type Metrics struct {
	frames    *prometheus.CounterVec
	errFrames *prometheus.CounterVec
	drops     *prometheus.CounterVec
	busDown   *prometheus.CounterVec
	err       error
}

// NewMetrics creates the counters and registers them with reg; nil reg
// means not registered (tests, tools). A collector that reg already holds
// (a second NewMetrics on the same registry) is reused. Any other
// registration error leaves that counter unregistered; Err reports it.
// Registration does not panic, so a name clash cannot crash a vehicle.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		frames: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kanal_can_frames_total",
			Help: "CAN frames received (dir=rx) and sent (dir=tx) on SocketCAN buses."}, []string{"bus", "dir"}),
		errFrames: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kanal_can_error_frames_total",
			Help: "CAN error frames received (when error frames are enabled)."}, []string{"bus"}),
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kanal_can_kernel_drops_total",
			Help: "Frames the kernel dropped because the socket receive buffer was full (SO_RXQ_OVFL)."}, []string{"bus"}),
		busDown: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kanal_can_bus_down_total",
			Help: "Times a CAN interface went down or disappeared under a reader."}, []string{"bus"}),
	}
	if reg == nil {
		return m
	}
	for _, c := range []**prometheus.CounterVec{&m.frames, &m.errFrames, &m.drops, &m.busDown} {
		err := reg.Register(*c)
		var are prometheus.AlreadyRegisteredError
		switch {
		case err == nil:
		case errors.As(err, &are):
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				*c = existing
			}
		default:
			m.err = errors.Join(m.err, err)
		}
	}
	return m
}

// Err returns the registration errors of NewMetrics, if any.
func (m *Metrics) Err() error { return m.err }

// busMetrics are one bus's counters, resolved once at Open so the read loop
// does no label lookup per frame.
type busMetrics struct {
	rx, tx, errFrames, drops, busDown prometheus.Counter
}

func (m *Metrics) forBus(bus string) busMetrics {
	return busMetrics{
		rx:        m.frames.WithLabelValues(bus, "rx"),
		tx:        m.frames.WithLabelValues(bus, "tx"),
		errFrames: m.errFrames.WithLabelValues(bus),
		drops:     m.drops.WithLabelValues(bus),
		busDown:   m.busDown.WithLabelValues(bus),
	}
}
