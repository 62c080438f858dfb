package alert

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/cloud/store/storetest"
	"github.com/kanal-dev/kanal/cloud/twin"
	"github.com/kanal-dev/kanal/geo"
	"github.com/kanal-dev/kanal/internal/await"
	"github.com/kanal-dev/kanal/internal/wire"
	"github.com/kanal-dev/kanal/uplink/batch"
)

// testTimeout bounds every wait of these tests.
const testTimeout = 20 * time.Second

// natsServer is an embedded nats-server with JetStream on a directory that
// outlives a restart, on a port that stays the same.
type natsServer struct {
	*server.Server
	dir  string
	port int
}

// runNATS starts nats-server with JetStream on a fresh directory.
func runNATS(t testing.TB) *natsServer {
	t.Helper()
	ns := &natsServer{dir: t.TempDir(), port: server.RANDOM_PORT}
	ns.start(t)
	return ns
}

func (ns *natsServer) start(t testing.TB) {
	t.Helper()
	ns.Server = storetest.RunServer(t, storetest.ServerOptions{Dir: ns.dir, Port: ns.port})
	ns.port = ns.Addr().(*net.TCPAddr).Port
}

// connect returns a JetStream client of ns, closed at the end of the test.
func connect(t testing.TB, ns *natsServer) jetstream.JetStream {
	t.Helper()
	_, js := storetest.Connect(t, ns.ClientURL())
	return js
}

// ensureBatches creates KANAL_BATCHES as the gateway does.
func ensureBatches(t testing.TB, js jetstream.JetStream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: wire.BatchesStream,
		Subjects: []string{wire.BatchesAll}, Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
}

// clock is a test clock the engine reads through Options.Now.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *clock) Now() time.Time               { return time.Unix(0, c.ns.Load()) }
func (c *clock) Add(d time.Duration)          { c.ns.Add(int64(d)) }
func (c *clock) At(d time.Duration) time.Time { return c.Now().Add(d) }

// base is the start of the tests' time: the fog drive's morning.
var base = time.Date(2025, 11, 12, 6, 45, 0, 0, time.UTC)

// cells of the tests: Munich's Marienplatz at level 13, a neighbour, and a
// cell a few kilometres away.
var (
	grid, _    = geo.NewGrid(geo.DefaultLevel)
	cellA, _   = grid.Cell(48.1374, 11.5755)
	cellB      = cellA.Neighbours()[0]
	cellFar, _ = grid.Cell(48.20, 11.70)
)

// car sends batches as an agent does: encoded by the real codec, published
// to kanal.batches.{vehicle} with the Nats-Msg-Id the gateway gives them.
type car struct {
	id, boot string
	seq      uint64
	enc      *batch.Encoder
}

func newCar(t testing.TB, id string) *car {
	t.Helper()
	enc, err := batch.NewEncoder(batch.EncoderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &car{id: id, boot: batch.NewBoot(), enc: enc}
}

// send publishes one batch of values and waits for the stream's ack.
func (c *car) send(t testing.TB, js jetstream.JetStream, keyframe bool, vals ...catalog.Value) {
	t.Helper()
	c.seq++
	b := batch.Batch{Header: batch.Header{Vehicle: c.id, Boot: c.boot, Seq: c.seq, SentAt: time.Now().UnixNano(), Keyframe: keyframe}, Values: vals}
	data, err := c.enc.Encode(nil, &b)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if _, err := js.Publish(ctx, wire.BatchSubject(c.id), data, jetstream.WithMsgID(b.Header.MsgID())); err != nil {
		t.Fatal(err)
	}
}

// ids of the catalog signals the tests send, looked up by path.
func id(t testing.TB, path string) uint32 {
	t.Helper()
	e, ok := catalog.Default().ByPath(path)
	if !ok {
		t.Fatalf("catalog has no %s", path)
	}
	return e.ID
}

// report builds the values of a report at time at: its cell, fog lights,
// speed and wipers (an index into the catalog's enum).
type report struct {
	at     time.Time
	cell   geo.Cell
	fog    bool
	kmh    float64
	wipers float64
	hazard bool
	lamps  map[string]bool
}

func (r report) values(t testing.TB) []catalog.Value {
	t.Helper()
	ns := r.at.UnixNano()
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	vals := []catalog.Value{
		{ID: id(t, "Vehicle.Speed"), Time: ns, Num: r.kmh},
		{ID: id(t, "Vehicle.Body.Lights.Fog.Front.IsOn"), Time: ns, Num: b(r.fog)},
		{ID: id(t, "Vehicle.Body.Lights.Fog.Rear.IsOn"), Time: ns, Num: b(r.fog)},
		{ID: id(t, "Vehicle.Body.Windshield.Front.Wiping.Mode"), Time: ns, Num: r.wipers},
		{ID: id(t, "Vehicle.Body.Lights.Hazard.IsSignaling"), Time: ns, Num: b(r.hazard)},
	}
	if r.cell != 0 {
		vals = append(vals, catalog.Value{ID: id(t, "Vehicle.Kanal.Location.Cell"), Time: ns, Num: r.cell.Float64()})
	}
	for lamp, on := range r.lamps {
		vals = append(vals, catalog.Value{ID: id(t, "Vehicle.Kanal.Warning."+lamp+".IsOn"), Time: ns, Num: b(on)})
	}
	return vals
}

// engine is a running Engine of a test.
type engine struct {
	*Engine
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// startEngine runs an engine with fast ticks and a short lease until the
// test ends (or stop is called).
func startEngine(t testing.TB, js jetstream.JetStream, clk *clock, rules Rules, name string, opts ...func(*Options, *Engine)) *engine {
	t.Helper()
	reg := prometheus.NewRegistry()
	now := time.Now
	if clk != nil {
		now = clk.Now
	}
	o := Options{JetStream: js, Rules: rules, Now: now, Tick: 20 * time.Millisecond,
		LeaseTTL: 2 * time.Second, Name: name, Metrics: reg,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, f := range opts {
		f(&o, nil)
	}
	e, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range opts {
		f(nil, e)
	}
	ctx, cancel := context.WithCancel(context.Background())
	te := &engine{Engine: e, reg: reg, cancel: cancel, done: make(chan error, 1)}
	go func() { te.done <- e.Run(ctx) }()
	t.Cleanup(func() { te.stop(t) })
	return te
}

// stop ends the engine and waits for Run to return.
func (e *engine) stop(t testing.TB) {
	e.once.Do(func() {
		e.cancel()
		select {
		case err := <-e.done:
			if err != nil {
				t.Errorf("engine %s: Run: %v", e.opts.Name, err)
			}
		case <-time.After(testTimeout):
			t.Errorf("engine %s: Run did not return", e.opts.Name)
		}
	})
}

// alerts returns the traffic view's alerts in KANAL_ALERTS.
func alerts(t testing.TB, js jetstream.JetStream) []Alert {
	t.Helper()
	var out []Alert
	for _, m := range storetest.Read(t, js, wire.AlertsStream, "kanal.alerts.>") {
		a, err := Parse(m.Data)
		if err != nil {
			t.Fatalf("seq %d: %v", m.Seq, err)
		}
		out = append(out, a)
	}
	return out
}

// processed returns how many batches the engine processed (of any result).
func (e *engine) processed() int {
	n := 0.0
	for _, r := range []string{"processed", "undecodable", "mismatch"} {
		n += testutil.ToFloat64(e.m.batches.WithLabelValues(r))
	}
	return int(n)
}

// waitProcessed waits until the engine has processed n batches and
// flushed them (acknowledged: the consumer's ack floor is the stream's end).
func (e *engine) waitProcessed(t testing.TB, n int) {
	t.Helper()
	await.Until(t, testTimeout, "batches processed", func() bool { return e.processed() >= n })
}

// waitAcked waits until the active processor has acknowledged every batch
// in KANAL_BATCHES: the last step of a flush, after its alerts are
// published and its state written.
func waitAcked(t testing.TB, js jetstream.JetStream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	await.Until(t, testTimeout, "every batch acknowledged", func() bool {
		s, err := js.Stream(ctx, wire.BatchesStream)
		if err != nil {
			return false
		}
		si, err := s.Info(ctx)
		if err != nil {
			return false
		}
		c, err := s.Consumer(ctx, DefaultConsumer)
		if err != nil {
			return false
		}
		ci, err := c.Info(ctx)
		return err == nil && ci.AckFloor.Stream >= si.State.LastSeq && ci.NumAckPending == 0
	})
}

// waitTicks waits until the engine has run (and flushed) n more ticks, so
// the clock's last move has been seen.
func (e *engine) waitTicks(t testing.TB, n uint64) {
	t.Helper()
	from := e.ticks.Load()
	await.Until(t, testTimeout, "ticks", func() bool { return e.ticks.Load() >= from+n })
}

// twinOf reads a vehicle's twin from KANAL_TWINS.
func (e *engine) twinOf(t testing.TB, js jetstream.JetStream, vehicle string) (*twin.Twin, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	s, err := twin.Open(ctx, js)
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, vehicle)
}

// batchOf is the batch c sends next with vals.
func batchOf(c *car, vals []catalog.Value) *batch.Batch {
	return &batch.Batch{Header: batch.Header{Vehicle: c.id, Boot: c.boot, Seq: c.seq, SentAt: time.Now().UnixNano()}, Values: vals}
}
