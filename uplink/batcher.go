package uplink

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/uplink/batch"
)

// Sink takes an encoded batch: the spool's Append. Priority batches (a
// critical change) are kept longest when the spool is over its budget.
type Sink func(data []byte, priority bool) error

// BatcherOptions configures a Batcher.
type BatcherOptions struct {
	BatchOptions
	Vehicle string // required
	Boot    string // required: this run's boot id (batch.NewBoot)
	Sink    Sink   // required
	// Now is the wall clock, for the send time in the header and for the
	// age of a batch while the bus is silent; nil means time.Now.
	Now     func() time.Time
	Metrics prometheus.Registerer
}

// Batcher gathers sampled values into batches and hands each, encoded, to
// the sink. A batch closes when its oldest value is MaxAge old (by the
// frames' time, and by the wall clock while the bus is silent), before it
// would grow past MaxBytes (by batch.Bound, a guaranteed upper bound, so no
// payload ever exceeds the broker's packet limit), and at once after a
// critical change. Sequence numbers count from 1 per boot. A Batcher is not
// safe for concurrent use.
type Batcher struct {
	opts BatcherOptions
	enc  *batch.Encoder
	seq  uint64
	buf  []byte

	open      []catalog.Value
	cols      map[uint32]struct{}
	firstT    int64 // frame time of the oldest open value
	firstWall time.Time
	priority  bool

	m batcherMetrics
}

type batcherMetrics struct {
	batches   *prometheus.CounterVec
	values    prometheus.Counter
	bytes     prometheus.Histogram
	perValue  prometheus.Gauge
	encodeErr prometheus.Counter
}

// NewBatcher checks the options.
func NewBatcher(opts BatcherOptions) (*Batcher, error) {
	if err := opts.BatchOptions.setDefaults(); err != nil {
		return nil, err
	}
	if err := batch.CheckVehicleID(opts.Vehicle); err != nil {
		return nil, fmt.Errorf("batcher: %w", err)
	}
	if err := batch.CheckBootID(opts.Boot); err != nil {
		return nil, fmt.Errorf("batcher: %w", err)
	}
	if opts.Sink == nil {
		return nil, errors.New("batcher: options: Sink is required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	enc, err := batch.NewEncoder(batch.EncoderOptions{Level: opts.ZstdLevel})
	if err != nil {
		return nil, err
	}
	b := &Batcher{opts: opts, enc: enc, cols: map[uint32]struct{}{}}
	b.m = batcherMetrics{
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kanal_agent_batches_total",
			Help: "Batches built, by kind: data, priority (flushed early for a critical change) or keyframe."}, []string{"kind"}),
		values: prometheus.NewCounter(prometheus.CounterOpts{Name: "kanal_agent_values_batched_total",
			Help: "Signal values put into batches (keyframes included)."}),
		bytes: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kanal_agent_batch_bytes",
			Help: "Encoded size of each batch.", Buckets: prometheus.ExponentialBuckets(64, 2, 13)}),
		perValue: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kanal_agent_batch_bytes_per_value",
			Help: "Bytes per signal value of the last data batch."}),
		encodeErr: prometheus.NewCounter(prometheus.CounterOpts{Name: "kanal_agent_batch_encode_errors_total",
			Help: "Batches that could not be encoded (their values are lost; a bug)."}),
	}
	if opts.Metrics != nil {
		opts.Metrics.MustRegister(b.m.batches, b.m.values, b.m.bytes, b.m.perValue, b.m.encodeErr)
	}
	return b, nil
}

// Seq returns the sequence number of the last batch built.
func (b *Batcher) Seq() uint64 { return b.seq }

// Open returns how many values wait in the open batch.
func (b *Batcher) Open() int { return len(b.open) }

// Add puts a sampled value into the open batch; now (a critical change)
// sends the batch at once. The batch is closed first when v would make it
// older than MaxAge or larger than MaxBytes.
func (b *Batcher) Add(v catalog.Value, now bool) error {
	if len(b.open) > 0 {
		_, known := b.cols[v.ID]
		cols := len(b.cols)
		if !known {
			cols++
		}
		if v.Time-b.firstT >= int64(b.opts.MaxAge) || batch.Bound(len(b.open)+1, cols) > int(b.opts.MaxBytes) {
			if err := b.Flush(); err != nil {
				return err
			}
		}
	}
	if len(b.open) == 0 {
		b.firstT, b.firstWall = v.Time, b.opts.Now()
	}
	b.open = append(b.open, v)
	b.cols[v.ID] = struct{}{}
	if now {
		b.priority = true
		return b.Flush()
	}
	return nil
}

// Due reports whether the open batch has reached MaxAge by frame time
// (frameNow, Unix ns, the newest frame seen) or by the wall clock.
func (b *Batcher) Due(frameNow int64) bool {
	if len(b.open) == 0 {
		return false
	}
	return frameNow-b.firstT >= int64(b.opts.MaxAge) || b.opts.Now().Sub(b.firstWall) >= b.opts.MaxAge
}

// Flush sends the open batch, if any.
func (b *Batcher) Flush() error {
	if len(b.open) == 0 {
		return nil
	}
	kind := "data"
	if b.priority {
		kind = "priority"
	}
	err := b.emit(b.open, false, b.priority, kind)
	b.open = b.open[:0]
	clear(b.cols)
	b.priority = false
	return err
}

// Keyframe sends the open batch, then vals (the last value of every mapped
// signal, Sampler.Latest) as keyframe batches: one, or several when they
// do not fit MaxBytes.
func (b *Batcher) Keyframe(vals []catalog.Value) error {
	if err := b.Flush(); err != nil {
		return err
	}
	for len(vals) > 0 {
		n := len(vals)
		for n > 1 && batch.Bound(n, n) > int(b.opts.MaxBytes) {
			n /= 2
		}
		if err := b.emit(vals[:n], true, false, "keyframe"); err != nil {
			return err
		}
		vals = vals[n:]
	}
	return nil
}

func (b *Batcher) emit(vals []catalog.Value, keyframe, priority bool, kind string) error {
	b.seq++
	bt := batch.Batch{Header: batch.Header{Vehicle: b.opts.Vehicle, Boot: b.opts.Boot, Seq: b.seq,
		SentAt: b.opts.Now().UnixNano(), Keyframe: keyframe, Priority: priority}, Values: vals}
	var err error
	b.buf, err = b.enc.Encode(b.buf[:0], &bt)
	if err != nil {
		// cannot happen for values the pipeline makes
		b.seq-- // not spent: see below
		b.m.encodeErr.Inc()
		return fmt.Errorf("encode batch %d: %w", b.seq+1, err)
	}
	if err := b.opts.Sink(b.buf, priority); err != nil {
		// A sequence number is spent only by a batch the spool holds, so
		// within a boot the spool's positions and the sequence numbers
		// advance together: the publisher's MaxSpread (in spool positions)
		// is then a bound in sequence numbers too, which the gateway's
		// exactly-once window relies on.
		b.seq--
		return fmt.Errorf("spool batch %d: %w", b.seq+1, err)
	}
	b.m.batches.WithLabelValues(kind).Inc()
	b.m.values.Add(float64(len(vals)))
	b.m.bytes.Observe(float64(len(b.buf)))
	if !keyframe {
		b.m.perValue.Set(float64(len(b.buf)) / float64(len(vals)))
	}
	return nil
}
