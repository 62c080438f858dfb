package store

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kanal-dev/kanal/internal/bytesize"
)

// Defaults of Options.
//
// KANAL_BATCHES keeps 7 days or 10 GiB, whichever ends first. The stream is
// the gateway's hand-over to the processors (alerts, twins, products), not
// the archive: 7 days cover a processor down over a long weekend and a
// vehicle that was offline for days and comes back with its spool, and
// they are also how long a silent vehicle's dedup state lives (dedup.go).
// 10 GiB fits the data directory of the small embedded setup; a fleet
// sizes it to its disk (16,500 vehicles at 1 KiB/s write about 1.4 TB a
// day). When the bytes run out the oldest batches go (discard old), never
// the new ones: a full disk must not stop the fleet.
//
// KANAL_DEAD keeps 30 days or 1 GiB: dead letters are few, and someone has
// to look at them, which takes longer than a processor catching up.
const (
	DefaultMaxAge          = 7 * 24 * time.Hour
	DefaultMaxBytes        = 10 * bytesize.GiB
	DefaultDeadMaxAge      = 30 * 24 * time.Hour
	DefaultDeadMaxBytes    = 1 * bytesize.GiB
	DefaultReplicas        = 1
	DefaultDuplicateWindow = 2 * time.Minute
	DefaultPublishTimeout  = 2 * time.Second
	DefaultCacheSize       = 100_000
)

// Storage kinds of Options.Storage.
const (
	StorageFile   = "file"
	StorageMemory = "memory"
)

// Options configures the streams (Ensure) and the Store (New): the
// `jetstream` section of the gateway's config file. Every field has a usable
// zero value; a negative one is an error.
type Options struct {
	// MaxAge and MaxBytes bound KANAL_BATCHES (defaults 7 days, 10 GiB).
	MaxAge   time.Duration `yaml:"max_age"`
	MaxBytes bytesize.Size `yaml:"max_bytes"`
	// DeadMaxAge and DeadMaxBytes bound KANAL_DEAD (defaults 30 days, 1 GiB).
	DeadMaxAge   time.Duration `yaml:"dead_max_age"`
	DeadMaxBytes bytesize.Size `yaml:"dead_max_bytes"`
	// Replicas of both streams: 1 (default) for the embedded server, 3 on
	// a cluster. JetStream changes it in place on a cluster.
	Replicas int `yaml:"replicas"`
	// Storage is "file" (default) or "memory". JetStream cannot change it
	// in place: Ensure reports an existing stream of the other kind.
	Storage string `yaml:"storage"`
	// DuplicateWindow is JetStream's Nats-Msg-Id window (default 2 min, at
	// least 100 ms, at most MaxAge). It is only the first line of the
	// exactly-once store (dedup.go): a longer one costs memory per batch.
	DuplicateWindow time.Duration `yaml:"duplicate_window"`
	// PublishTimeout bounds one Store or Dead call, re-reads after
	// conflicts included (default 2 s). Past it the vehicle gets a negative
	// PUBACK and retries, rather than waiting on a stalled stream; keep it
	// well below the agent's own PUBACK timeout (10 s), which ends the
	// vehicle's connection.
	PublishTimeout time.Duration `yaml:"publish_timeout"`
	// CacheSize is how many vehicles' last subject sequence and dedup state
	// the Store keeps in memory (default 100,000: about 36 MB when full,
	// with four boots a vehicle; BenchmarkCacheMemory). A vehicle in the
	// cache costs one publish per batch; one out of it, one direct get more,
	// which carries its last batch (up to 256 KiB).
	CacheSize int `yaml:"cache_size"`

	Logger  *slog.Logger          `yaml:"-"` // nil means slog.Default()
	Metrics prometheus.Registerer `yaml:"-"` // nil means not registered
}

// withDefaults returns opts with every zero field set, or an error naming
// the first bad field.
func (o Options) withDefaults() (Options, error) {
	durations := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"max_age", &o.MaxAge, DefaultMaxAge},
		{"dead_max_age", &o.DeadMaxAge, DefaultDeadMaxAge},
		{"duplicate_window", &o.DuplicateWindow, DefaultDuplicateWindow},
		{"publish_timeout", &o.PublishTimeout, DefaultPublishTimeout},
	}
	for _, d := range durations {
		if *d.v < 0 {
			return o, fmt.Errorf("store: options: %s %v is negative", d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	sizes := []struct {
		name string
		v    *bytesize.Size
		def  bytesize.Size
	}{
		{"max_bytes", &o.MaxBytes, DefaultMaxBytes},
		{"dead_max_bytes", &o.DeadMaxBytes, DefaultDeadMaxBytes},
	}
	for _, s := range sizes {
		if *s.v < 0 {
			return o, fmt.Errorf("store: options: %s %d is negative", s.name, int64(*s.v))
		}
		if *s.v == 0 {
			*s.v = s.def
		}
	}
	switch {
	case o.Replicas == 0:
		o.Replicas = DefaultReplicas
	case o.Replicas < 0 || o.Replicas > 5:
		return o, fmt.Errorf("store: options: replicas %d: want 1 to 5 (JetStream's limit)", o.Replicas)
	}
	switch o.Storage {
	case "":
		o.Storage = StorageFile
	case StorageFile, StorageMemory:
	default:
		return o, fmt.Errorf("store: options: storage %q: want %q or %q", o.Storage, StorageFile, StorageMemory)
	}
	if o.DuplicateWindow < 100*time.Millisecond {
		return o, fmt.Errorf("store: options: duplicate_window %v: JetStream wants at least 100ms", o.DuplicateWindow)
	}
	if o.DuplicateWindow > o.MaxAge {
		return o, fmt.Errorf("store: options: duplicate_window %v is longer than max_age %v", o.DuplicateWindow, o.MaxAge)
	}
	switch {
	case o.CacheSize == 0:
		o.CacheSize = DefaultCacheSize
	case o.CacheSize < 0:
		return o, fmt.Errorf("store: options: cache_size %d is negative", o.CacheSize)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}

func (o Options) storageType() jetstream.StorageType {
	if o.Storage == StorageMemory {
		return jetstream.MemoryStorage
	}
	return jetstream.FileStorage
}
