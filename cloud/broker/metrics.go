package broker

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kanal-dev/kanal/cloud/auth"
)

type metrics struct {
	connections *prometheus.GaugeVec
	refused     *prometheus.CounterVec
	disconnects *prometheus.CounterVec
	aclDenied   *prometheus.CounterVec
}

// Reasons a login is refused (kanal_broker_logins_refused_total), with
// the CONNACK reason code the client gets.
const (
	refusedNoCredentials = "no_credentials" // 0x86: no user name and no client certificate
	refusedUnknownUser   = "unknown_user"   // 0x86
	refusedBadPassword   = "bad_password"   // 0x86
	refusedBusy          = "busy"           // 0x89: no free hasher in time, or MaxConnections
	refusedCertificate   = "certificate"    // 0x87: a certificate's name is no vehicle id, or the user name is another
	refusedClientID      = "client_id"      // 0x85: the client id is not the identity's
	refusedWillTopic     = "will_topic"     // 0x87: a last will on a topic the client may not publish to
	refusedProtocol      = "protocol"       // 0x84 (3.1.1: 0x01): not MQTT v5
	refusedOther         = "other"
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kanal_broker_connections",
			Help: "Logged-in MQTT connections, by role."}, []string{"role"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kanal_broker_logins_refused_total",
			Help: "Refused MQTT logins, by reason."}, []string{"reason"}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kanal_broker_disconnects_total",
			Help: "Ended MQTT connections, by reason: client, closed, keepalive, taken_over, shutdown, error; " +
				"and those the broker cut: packet_too_large, rate_limit, connect_timeout, tls_handshake, per_address_limit, revoked."}, []string{"reason"}),
		aclDenied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kanal_broker_acl_denied_total",
			Help: "Publishes, subscriptions and deliveries the ACL denied, by role and action (publish, read)."}, []string{"role", "action"}),
	}
	for _, r := range auth.Roles {
		m.connections.WithLabelValues(string(r))
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.connections, m.refused, m.disconnects, m.aclDenied} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("broker: register metrics: %w", err)
			}
		}
	}
	return m, nil
}
