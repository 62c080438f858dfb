package bridge

import (
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
)

// Results of kanal_gateway_publishes_total besides the Reason* constants.
const (
	resultStored        = "stored"
	resultDuplicate     = "duplicate"
	resultNotAuthorized = "not_authorized" // the topic is not the sender's
	resultProtocol      = "protocol"       // not MQTT v5 at QoS 1: no PUBACK, nothing stored
	resultFailed        = "failed"         // JetStream did not store it: retried by the agent
	resultDeadFailed    = "dead_failed"    // refused, but its dead letter was not stored: retried
	resultStopping      = "stopping"       // the hook is stopping
)

type metrics struct {
	publishes *prometheus.CounterVec
	negative  *prometheus.CounterVec
	bytes     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		publishes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kanal_gateway_publishes_total",
			Help: "Batch publishes by result: stored, duplicate, too_large, malformed, schema, vehicle_mismatch, not_authorized, protocol, failed, dead_failed, stopping."},
			[]string{"result"}),
		negative: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kanal_gateway_negative_pubacks_total",
			Help: "Negative PUBACKs sent for batches, by reason code (0x80 and 0x97 are retried by the agent, 0x99 quarantined, 0x87 retried)."},
			[]string{"reason"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "kanal_gateway_bytes_total",
			Help: "Payload bytes of every batch publish received, whatever its result."}),
	}
	for _, r := range []string{resultStored, resultDuplicate, ReasonTooLarge, ReasonMalformed, ReasonSchema, ReasonVehicleMismatch,
		resultNotAuthorized, resultProtocol, resultFailed, resultDeadFailed, resultStopping} {
		m.publishes.WithLabelValues(r)
	}
	for _, c := range []packets.Code{codeInvalid, codeNotAuthorized, codeUnavailable, codeRefused} {
		m.negative.WithLabelValues(codeLabel(c))
	}
	if reg != nil {
		reg.MustRegister(m.publishes, m.negative, m.bytes)
	}
	return m
}
