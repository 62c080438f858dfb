package auth

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	users         *prometheus.GaugeVec
	reloads       *prometheus.CounterVec
	verifications *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		users: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kanal_auth_users",
			Help: "Users in the credentials file, by role."}, []string{"role"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kanal_auth_reloads_total",
			Help: "Reloads of the credentials file after the first load, by result (ok, error: the old users are kept)."}, []string{"result"}),
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kanal_auth_verifications_total",
			Help: "Password checks by result: cached (no bcrypt), hashed (bcrypt), unknown_user, bad_password, busy."}, []string{"result"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.users, m.reloads, m.verifications} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("credentials: register metrics: %w", err)
			}
		}
	}
	return m, nil
}
