package alert

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/uplink/batch"
)

// Defaults of Options.
const (
	DefaultConsumer   = "kanal-alerts"
	DefaultLeaseTTL   = 10 * time.Second
	DefaultBackfill   = 15 * time.Minute
	DefaultGroup      = 256
	DefaultTick       = time.Second
	DefaultAlertsAge  = 30 * 24 * time.Hour
	DefaultDuplicates = time.Hour
	DefaultNoticesAge = 24 * time.Hour
	DefaultAckWait    = 30 * time.Second
	DefaultRefresh    = 30 * time.Second
	maxGroup          = 10_000
)

// Options configures an Engine: the `alerts` section of the gateway's
// config file and of `ingest-gateway process`. Every field but JetStream has
// a usable zero value. The Engine keeps a copy; the caller's Options stay
// the caller's.
type Options struct {
	// Rules are the alert rules; the zero Rules are the defaults.
	Rules Rules `yaml:"rules"`
	// Consumer is the name of the durable consumer on KANAL_BATCHES that
	// the active processor reads. Default "kanal-alerts". Processors with
	// the same name share one leader; another name is another, independent
	// set of alerts (do not: both publish to KANAL_ALERTS).
	Consumer string `yaml:"consumer"`
	// Replicas of KANAL_ALERTS, KANAL_NOTICES, KANAL_TWINS and the engine's
	// buckets: 1 (default) embedded, 3 on a cluster.
	Replicas int `yaml:"replicas"`
	// AlertsMaxAge is how long KANAL_ALERTS keeps alerts (default 30 days),
	// and with it how far back an SSE client can resume.
	AlertsMaxAge time.Duration `yaml:"alerts_max_age"`
	// Duplicates is KANAL_ALERTS' duplicate window (default 1 h). Alerts are
	// few, so the ids of an hour cost little memory; recovery after a crash
	// does not rely on it (see the package comment).
	Duplicates time.Duration `yaml:"duplicates"`
	// LeaseTTL is how long the active processor's lease lasts without a
	// renewal (default 10 s): the longest a standby waits after the leader
	// died. It is the TTL of the lease bucket, the same for every replica.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// Backfill is how far back the very first processor starts reading
	// KANAL_BATCHES (default 15 min): enough for the rules' windows and
	// for keyframes to fill the twins, without replaying days of history.
	Backfill time.Duration `yaml:"backfill"`
	// Group is the most batches processed between two flushes of state to
	// KV (default 256). Under light load every batch is flushed at once;
	// under heavy load a group shares one round of KV writes.
	Group int `yaml:"group"`
	// Tick is how often the time-driven parts of the rules run (a vehicle
	// falling silent, hysteresis, a breakdown's stopped_for). Default 1 s.
	Tick time.Duration `yaml:"tick"`
	// AckWait of the durable consumer (default 30 s).
	AckWait time.Duration `yaml:"ack_wait"`
	// TwinRefresh is how long a twin whose values did not change, only
	// its report times (Seen, the At of repeated readings), may wait
	// before it is written to KANAL_TWINS (default 30 s). A changed value
	// is written with its batch. See fresh.go for why and what it costs.
	TwinRefresh time.Duration `yaml:"twin_refresh"`

	// JetStream is the connection to NATS; required.
	JetStream jetstream.JetStream `yaml:"-"`
	// Catalog resolves the signals; nil means catalog.Default().
	Catalog *catalog.Catalog `yaml:"-"`
	// Decoder decodes batches; nil means one with the default limits.
	Decoder *batch.Decoder `yaml:"-"`
	// Now is the processor's clock; nil means time.Now. Tests set it.
	Now func() time.Time `yaml:"-"`
	// Name identifies this replica in the lease and the logs; "" means
	// host name, process id and a random suffix.
	Name    string                `yaml:"-"`
	Logger  *slog.Logger          `yaml:"-"` // nil means slog.Default()
	Metrics prometheus.Registerer `yaml:"-"` // nil means not registered
}

// setDefaults fills the zero fields of o and checks the others, naming the
// first bad one.
func (o *Options) setDefaults() error {
	if o.JetStream == nil {
		return errors.New("alert engine: options: JetStream is required")
	}
	rules, err := o.Rules.withDefaults(o.Catalog)
	if err != nil {
		return fmt.Errorf("alert engine: options: rules: %w", err)
	}
	o.Rules = rules
	if o.Consumer == "" {
		o.Consumer = DefaultConsumer
	}
	if err := checkName(o.Consumer); err != nil {
		return fmt.Errorf("alert engine: options: consumer %q: %w", o.Consumer, err)
	}
	for _, f := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
		min  time.Duration
	}{
		{"alerts_max_age", &o.AlertsMaxAge, DefaultAlertsAge, time.Hour},
		{"duplicates", &o.Duplicates, DefaultDuplicates, time.Second},
		{"lease_ttl", &o.LeaseTTL, DefaultLeaseTTL, time.Second},
		{"backfill", &o.Backfill, DefaultBackfill, time.Second},
		{"tick", &o.Tick, DefaultTick, time.Millisecond},
		{"ack_wait", &o.AckWait, DefaultAckWait, time.Second},
		{"twin_refresh", &o.TwinRefresh, DefaultRefresh, time.Millisecond},
	} {
		switch {
		case *f.v < 0:
			return fmt.Errorf("alert engine: options: %s %v: want 0 (default %v) or at least %v", f.name, *f.v, f.def, f.min)
		case *f.v == 0:
			*f.v = f.def
		case *f.v < f.min:
			return fmt.Errorf("alert engine: options: %s %v: want at least %v", f.name, *f.v, f.min)
		}
	}
	if o.Duplicates > o.AlertsMaxAge {
		return fmt.Errorf("alert engine: options: duplicates %v: longer than alerts_max_age %v", o.Duplicates, o.AlertsMaxAge)
	}
	switch {
	case o.Group < 0 || o.Group > maxGroup:
		return fmt.Errorf("alert engine: options: group %d: want 0 (default %d) to %d", o.Group, DefaultGroup, maxGroup)
	case o.Group == 0:
		o.Group = DefaultGroup
	}
	switch {
	case o.Replicas < 0 || o.Replicas > 5:
		return fmt.Errorf("alert engine: options: replicas %d: want 0 (default 1) to 5", o.Replicas)
	case o.Replicas == 0:
		o.Replicas = 1
	}
	if o.Catalog == nil {
		o.Catalog = catalog.Default()
	}
	if o.Decoder == nil {
		if o.Decoder, err = batch.NewDecoder(batch.DecoderOptions{}); err != nil {
			return fmt.Errorf("alert engine: %w", err)
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Name == "" {
		o.Name = replicaName()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// checkName accepts a JetStream consumer name: letters, digits, '-' and '_'.
func checkName(s string) error {
	if s == "" || len(s) > 64 {
		return errors.New("want 1 to 64 characters")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("byte %d is %q (want A-Z, a-z, 0-9, _ or -)", i, c)
		}
	}
	return nil
}

// replicaName returns host-pid-random: unique per process, readable in logs.
func replicaName() string {
	host, _ := os.Hostname()
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}
