package loadgen

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kanal-dev/kanal/internal/rlimit"
	"github.com/kanal-dev/kanal/uplink/batch"
)

// Generator holds many MQTT v5 vehicle connections to a gateway and
// publishes batches on them at a steady rate, measuring every PUBACK.
//
//	g, err := loadgen.New(opts)
//	err = g.Connect(ctx)  // log every vehicle in
//	rep, err := g.Run(ctx) // publish for opts.Duration, then drain
//	g.Close()             // DISCONNECT them all
//
// Connect and Run are separate so that a caller can measure the gateway
// with the connections idle in between. A lost connection is counted and
// not replaced.
type Generator struct {
	opts      Options
	templates []template
	maxPacket int64 // the largest PUBLISH the profile makes, bytes
	start     time.Time

	mu        sync.Mutex
	conns     []*conn // logged in, by index
	connected bool
	ran       bool
	connSecs  float64
	runSecs   float64
	failures  map[string]uint64
	lost      map[string]uint64
	readers   sync.WaitGroup

	held, peak   atomic.Int64
	inflight     atomic.Int64
	published    atomic.Uint64
	payloadBytes atomic.Uint64
	acked        atomic.Uint64
	lastAck      atomic.Int64 // now() of the latest PUBACK
	valuesAcked  atomic.Uint64
	skipped      atomic.Uint64
	scheduled    atomic.Uint64
	unexpected   atomic.Uint64 // packets a vehicle never expects
	nacks        [256]atomic.Uint64
	latency      Histogram
	closed       atomic.Bool

	m *metrics
}

// New checks opts and encodes the profile; it opens no connection.
func New(opts Options) (*Generator, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	ts, err := newTemplates(opts.Profile)
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	g := &Generator{opts: opts, templates: ts, start: time.Now(), failures: map[string]uint64{}, lost: map[string]uint64{}}
	g.maxPacket = g.largestPublish()
	if g.m, err = newMetrics(opts.Metrics, g); err != nil {
		return nil, err
	}
	return g, nil
}

// largestPublish is the size of the largest PUBLISH packet of the profile:
// fixed header, topic, packet id, properties and payload.
func (g *Generator) largestPublish() int64 {
	p, _ := newPayloader(g.opts.Payload)
	h := batch.Header{Vehicle: VehicleID(g.opts.VehiclePrefix, g.opts.FirstVehicle+g.opts.Connections-1), Boot: batch.NewBoot(), Seq: 1 << 40, SentAt: time.Now().UnixNano()}
	var most int
	for i := range g.templates {
		if b, err := p.payload(&g.templates[i], h); err == nil {
			most = max(most, len(b))
		}
	}
	topic := len("kanal/v1/vehicles//batch") + len(h.Vehicle)
	// 64 bytes of slack: a batch encoded afresh (PayloadEncode) at another
	// time may compress a few bytes worse than this one
	return int64(1+4+2+topic+2+1+most) + 64
}

// now is the time since New on the monotonic clock, ns.
func (g *Generator) now() int64 { return int64(time.Since(g.start)) }

// wall turns a now() into Unix ns.
func (g *Generator) wall(ns int64) int64 { return g.start.UnixNano() + ns }

// Connect logs in opts.Connections vehicles, at most ConnectConcurrency at
// once and ConnectRate a second, and returns when every one has succeeded
// or failed. A failure is counted by reason; Connect fails only when ctx
// ends or no vehicle got in.
func (g *Generator) Connect(ctx context.Context) error {
	g.mu.Lock()
	if g.connected {
		g.mu.Unlock()
		return errors.New("loadgen: Connect called twice")
	}
	g.connected = true
	g.mu.Unlock()
	o := &g.opts
	if soft, _, err := rlimit.RaiseOpenFiles(); err == nil && uint64(o.Connections)+64 > soft {
		o.Logger.Warn("open-file limit below the connections asked for: the rest will fail (too many open files)", "limit", soft, "connections", o.Connections)
	}
	t0 := time.Now()
	conns := make([]*conn, o.Connections)
	sem := make(chan struct{}, o.ConnectConcurrency)
	var wg sync.WaitGroup
	var pace *time.Ticker
	if o.ConnectRate > 0 {
		pace = time.NewTicker(time.Duration(float64(time.Second) / o.ConnectRate))
		defer pace.Stop()
	}
	for i := range conns {
		if pace != nil {
			select {
			case <-pace.C:
			case <-ctx.Done():
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := g.dial(ctx, i)
			if err != nil {
				g.countFailure(reasonOf(err))
				return
			}
			conns[i] = c
			for n, p := g.held.Add(1), g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
			}
			g.readers.Add(1)
			go func() {
				defer g.readers.Done()
				c.read()
			}()
		}()
	}
	wg.Wait()
	g.mu.Lock()
	for _, c := range conns {
		if c != nil {
			g.conns = append(g.conns, c)
		}
	}
	g.connSecs = time.Since(t0).Seconds()
	n, failures := len(g.conns), maps.Clone(g.failures)
	g.mu.Unlock()
	o.Logger.Info("connected", "connections", n, "failed", sum(failures), "seconds", fmt.Sprintf("%.1f", g.connSecs))
	if err := ctx.Err(); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("loadgen: no vehicle connected to %s: %v", o.Broker, failures)
	}
	return nil
}

// writer is one goroutine's tools for publishing.
type writer struct {
	p   *payloader
	pub *packets.Publish
}

// work is a publish or a keep-alive ping due on a connection.
type work struct {
	c    *conn
	ping bool
}

// Run publishes on every connection for opts.Duration (connecting first if
// Connect was not called), waits up to DrainTimeout for the PUBACKs still
// due, and returns the report. It ends early, with the report so far and
// ctx's error, when ctx ends. Idle runs hold the connections for Duration
// and publish nothing.
func (g *Generator) Run(ctx context.Context) (*Report, error) {
	g.mu.Lock()
	connected, ran := g.connected, g.ran
	g.ran = true
	g.mu.Unlock()
	if ran {
		return nil, errors.New("loadgen: Run called twice")
	}
	if !connected {
		if err := g.Connect(ctx); err != nil {
			return g.Snapshot(), err
		}
	}
	g.mu.Lock()
	conns := g.conns
	g.mu.Unlock()
	o := &g.opts
	queue := make(chan work, 4*o.Writers)
	var wg sync.WaitGroup
	for range o.Writers {
		p, err := newPayloader(o.Payload)
		if err != nil {
			return nil, err
		}
		w := &writer{p: p, pub: &packets.Publish{QoS: 1, Properties: &packets.Properties{}}}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range queue {
				if it.ping {
					it.c.ping()
				} else {
					it.c.publish(w)
				}
			}
		}()
	}
	t0 := g.now()
	err := g.schedule(ctx, conns, queue, time.Now().Add(o.Duration))
	close(queue)
	wg.Wait()
	end := g.now()
	if err == nil && !o.Idle {
		err = g.drain(ctx)
	}
	// Seconds run from the first publish to the last PUBACK, or to the end
	// of the schedule when the PUBACKs stopped early (a broker gone).
	end = max(end, g.lastAck.Load())
	g.mu.Lock()
	g.runSecs = time.Duration(end - t0).Seconds()
	g.mu.Unlock()
	rep := g.Snapshot()
	o.Logger.Info("run done", "held", rep.Held, "published", rep.Published, "acked", rep.Acked,
		"nacked", rep.NackedTotal(), "batches_per_s", fmt.Sprintf("%.0f", rep.BatchesPerSecond), "p99_ms", fmt.Sprintf("%.2f", rep.Puback.P99))
	return rep, err
}

// schedule hands out publishes at opts.Rate per connection, in turn, so
// that the fleet's publishes are spread evenly (connection i of n first
// publishes i/n of a period after the start), and pings to connections
// idle for half their keep-alive. The schedule is open loop: a slow
// gateway does not slow it down, its publishes are skipped instead
// (Report.Skipped), so latencies are not hidden by a generator that waits.
func (g *Generator) schedule(ctx context.Context, conns []*conn, queue chan<- work, stop time.Time) error {
	o := &g.opts
	total := float64(len(conns)) * o.Rate // publishes per second
	if o.Idle || len(conns) == 0 {
		total = 0
	}
	tick := 10 * time.Millisecond
	if total > 0 {
		tick = min(max(time.Duration(float64(time.Second)/total), time.Millisecond), 10*time.Millisecond)
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	start := time.Now()
	var issued int64
	next, lastSweep := 0, time.Now()
	// look for idle connections four times per keep-alive (at most once a
	// second): a ping then goes out between half and three quarters of it
	sweep := min(time.Second, o.KeepAlive/4)
	for _, c := range conns {
		sweep = min(sweep, c.keep/4) // the broker may have set a shorter one
	}
	send := func(w work) error {
		select {
		case queue <- w:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case now := <-t.C:
			if !now.Before(stop) {
				// all that was due by the stop, also what a generator short
				// of CPU did not get out in time
				g.scheduled.Store(uint64(stop.Sub(start).Seconds() * total))
				return nil
			}
			due := int64(now.Sub(start).Seconds()*total) - issued
			for ; due > 0; due-- {
				c := conns[next]
				next = (next + 1) % len(conns)
				issued++
				g.scheduled.Add(1)
				if c.dead.Load() {
					continue
				}
				if err := send(work{c: c}); err != nil {
					return err
				}
			}
			if now.Sub(lastSweep) >= sweep {
				lastSweep = now
				ns := g.now()
				for _, c := range conns {
					if c.idle(ns) {
						if err := send(work{c: c, ping: true}); err != nil {
							return err
						}
					}
				}
			}
		}
	}
}

// drain waits for the PUBACKs still due, up to DrainTimeout.
func (g *Generator) drain(ctx context.Context) error {
	deadline := time.NewTimer(g.opts.DrainTimeout)
	defer deadline.Stop()
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for g.inflight.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			g.opts.Logger.Warn("PUBACKs still due after the drain timeout", "inflight", g.inflight.Load(), "timeout", g.opts.DrainTimeout)
			return nil
		case <-poll.C:
		}
	}
	return nil
}

// settle counts one PUBACK and its latency.
func (g *Generator) settle(lat time.Duration, values int, code byte) {
	g.inflight.Add(-1)
	g.latency.Record(lat)
	g.lastAck.Store(g.now())
	if code < 0x80 {
		g.acked.Add(1)
		g.valuesAcked.Add(uint64(values))
	} else {
		g.nacks[code].Add(1)
	}
	if g.m != nil {
		g.m.observe(lat, code)
	}
}

func (g *Generator) countFailure(reason string) {
	g.mu.Lock()
	g.failures[reason]++
	g.mu.Unlock()
	if g.m != nil {
		g.m.failures.WithLabelValues(reason).Inc()
	}
}

func (g *Generator) countLost(reason string) {
	g.mu.Lock()
	g.lost[reason]++
	g.mu.Unlock()
	if g.m != nil {
		g.m.lost.WithLabelValues(reason).Inc()
	}
}

// Snapshot returns the report so far; it may be called at any time, also
// while Connect or Run are busy.
func (g *Generator) Snapshot() *Report {
	o := &g.opts
	r := &Report{
		Broker: o.Broker, Profile: o.Profile.Name, Payload: string(o.Payload), ValuesPerBatch: o.Profile.Values(),
		Connections: o.Connections, Held: int(g.held.Load()), PeakHeld: int(g.peak.Load()), Rate: o.Rate,
		Scheduled: g.scheduled.Load(), Published: g.published.Load(), Acked: g.acked.Load(), Skipped: g.skipped.Load(), ValuesAcked: g.valuesAcked.Load(),
		Puback: latencyOf(&g.latency),
	}
	if o.Idle {
		r.Rate = 0
	}
	if r.Published > 0 {
		r.PayloadBytes = float64(g.payloadBytes.Load()) / float64(r.Published)
	}
	for code := range g.nacks {
		if n := g.nacks[code].Load(); n > 0 {
			if r.Nacked == nil {
				r.Nacked = map[string]uint64{}
			}
			r.Nacked[codeName(ackReason, byte(code))] = n
		}
	}
	g.mu.Lock()
	r.Connected = len(g.conns)
	r.ConnectSeconds = g.connSecs
	r.Seconds = g.runSecs
	if len(g.failures) > 0 {
		r.ConnectFailures = maps.Clone(g.failures)
	}
	if len(g.lost) > 0 {
		r.Lost = maps.Clone(g.lost)
	}
	g.mu.Unlock()
	if settled := r.Acked + r.NackedTotal(); r.Published > settled {
		r.Unacked = r.Published - settled
	}
	if r.Seconds > 0 {
		r.BatchesPerSecond = float64(r.Acked) / r.Seconds
		r.ValuesPerSecond = float64(r.ValuesAcked) / r.Seconds
	}
	return r
}

// Close sends DISCONNECT on every connection still open, closes them and
// waits for their readers. The report of Run stays as it was.
func (g *Generator) Close() error {
	if g.closed.Swap(true) {
		return nil
	}
	g.mu.Lock()
	conns := g.conns
	g.mu.Unlock()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, c := range conns {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c.close()
		}()
	}
	wg.Wait()
	g.readers.Wait()
	return nil
}

// metrics are the generator's Prometheus series.
type metrics struct {
	latency  prometheus.Histogram
	nacks    *prometheus.CounterVec
	failures *prometheus.CounterVec
	lost     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, g *Generator) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kanal_loadgen_puback_seconds",
			Help: "Time from the write of a PUBLISH to its PUBACK.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18)}),
		nacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kanal_loadgen_nacks_total",
			Help: "Negative PUBACKs, by reason code."}, []string{"code"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kanal_loadgen_connect_failures_total",
			Help: "Logins that failed, by reason."}, []string{"reason"}),
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kanal_loadgen_connections_lost_total",
			Help: "Connections that ended before Close, by reason."}, []string{"reason"}),
	}
	cs := []prometheus.Collector{m.latency, m.nacks, m.failures, m.lost,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kanal_loadgen_connections", Help: "Connections held."},
			func() float64 { return float64(g.held.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kanal_loadgen_published_total", Help: "Batches published."},
			func() float64 { return float64(g.published.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kanal_loadgen_acked_total", Help: "Batches acknowledged with success."},
			func() float64 { return float64(g.acked.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kanal_loadgen_values_acked_total", Help: "Signal values in the acknowledged batches."},
			func() float64 { return float64(g.valuesAcked.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kanal_loadgen_skipped_total", Help: "Publishes not sent: the inflight window was full."},
			func() float64 { return float64(g.skipped.Load()) }),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("loadgen: metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) observe(lat time.Duration, code byte) {
	m.latency.Observe(lat.Seconds())
	if code >= 0x80 {
		m.nacks.WithLabelValues(fmt.Sprintf("0x%02x", code)).Inc()
	}
}
