package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/kanal-dev/kanal/internal/wire"
)

// MQTTPublisher is what the Relay needs of the gateway's MQTT broker:
// publish a message to every client subscribed to topic. mochi's
// *mqtt.Server has exactly this method (with Options.InlineClient set); it
// publishes as the broker itself, past the ACL, so the gateway's publish
// hooks must let its inline client's messages through untouched.
type MQTTPublisher interface {
	Publish(topic string, payload []byte, retain bool, qos byte) error
}

// RelayOptions configures a Relay.
type RelayOptions struct {
	JetStream jetstream.JetStream   // required
	MQTT      MQTTPublisher         // required: the gateway's broker
	Logger    *slog.Logger          // nil means slog.Default()
	Metrics   prometheus.Registerer // nil means not registered
}

// Relay hands alerts and notices from JetStream to one gateway's MQTT
// clients: the traffic view of KANAL_ALERTS to kanal/v1/alerts/{kind}/{cell}
// (retained, so a traffic service that subscribes learns the state of
// every cell at once) and KANAL_NOTICES to kanal/v1/cells/{cell}/notice.
// Every gateway runs one, whichever replica processes: a vehicle or a
// traffic service may be connected to any of them. The fleet view is never
// relayed: it names vehicles.
type Relay struct {
	opts    RelayOptions
	log     *slog.Logger
	relayed *prometheus.CounterVec
	failed  *prometheus.CounterVec
}

// NewRelay checks opts and returns a Relay; Run starts it.
func NewRelay(opts RelayOptions) (*Relay, error) {
	if opts.JetStream == nil {
		return nil, errors.New("alert relay: options: JetStream is required")
	}
	if opts.MQTT == nil {
		return nil, errors.New("alert relay: options: MQTT is required")
	}
	r := &Relay{opts: opts, log: opts.Logger,
		relayed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kanal_relay_messages_total",
			Help: "Alerts and notices published to this gateway's MQTT clients, by what: alert, notice."}, []string{"what"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kanal_relay_failures_total",
			Help: "Alerts and notices the MQTT broker refused, by what: alert, notice."}, []string{"what"}),
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	r.log = r.log.With("component", "relay")
	if opts.Metrics != nil {
		opts.Metrics.MustRegister(r.relayed, r.failed)
	}
	return r, nil
}

// Run relays until ctx ends, then returns nil. It waits for the streams
// (the processor creates them) and follows them from the last alert of
// every cell and from new notices: a notice is for vehicles driving now.
func (r *Relay) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return r.follow(ctx, "alert", wire.AlertsStream, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{"kanal.alerts.>"}, DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy},
			func(m jetstream.Msg) (string, bool) {
				kind, cell, ok := alertSubject(m.Subject())
				return wire.AlertTopic(kind, cell), ok
			}, true)
	})
	g.Go(func() error {
		return r.follow(ctx, "notice", wire.NoticesStream, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{wire.NoticesAll}, DeliverPolicy: jetstream.DeliverNewPolicy},
			func(m jetstream.Msg) (string, bool) {
				cell, ok := wire.SubjectToken(m.Subject(), "kanal.notices.")
				return wire.NoticeTopic(cell), ok
			}, false)
	})
	return g.Wait()
}

// follow publishes every message of an ordered consumer to its MQTT topic,
// setting the consumer up again (after a wait) whenever it fails.
func (r *Relay) follow(ctx context.Context, what, stream string, cfg jetstream.OrderedConsumerConfig,
	topic func(jetstream.Msg) (string, bool), retain bool) error {
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		err := r.followOnce(ctx, what, stream, cfg, topic, retain)
		if ctx.Err() != nil {
			return nil
		}
		r.log.Debug("relay restarting", "what", what, "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

func (r *Relay) followOnce(ctx context.Context, what, stream string, cfg jetstream.OrderedConsumerConfig,
	topic func(jetstream.Msg) (string, bool), retain bool) error {
	c, err := r.opts.JetStream.OrderedConsumer(ctx, stream, cfg)
	if err != nil {
		return fmt.Errorf("follow %s: %w", stream, err)
	}
	it, err := c.Messages()
	if err != nil {
		return fmt.Errorf("follow %s: %w", stream, err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	r.log.Info("relaying to MQTT", "stream", stream)
	for {
		m, err := it.Next() // an error ends the iterator: follow sets it up again
		if err != nil {
			return fmt.Errorf("follow %s: %w", stream, err)
		}
		t, ok := topic(m)
		if !ok {
			continue
		}
		if err := r.opts.MQTT.Publish(t, m.Data(), retain, 1); err != nil {
			r.failed.WithLabelValues(what).Inc()
			continue
		}
		r.relayed.WithLabelValues(what).Inc()
	}
}

// alertSubject splits kanal.alerts.{kind}.{cell}.
func alertSubject(s string) (kind, cell string, ok bool) {
	rest, ok := strings.CutPrefix(s, "kanal.alerts.")
	if !ok {
		return "", "", false
	}
	kind, cell, ok = strings.Cut(rest, ".")
	return kind, cell, ok && kind != "" && cell != "" && !strings.Contains(cell, ".")
}
