package alert

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/geo"
	"github.com/kanal-dev/kanal/internal/await"
	"github.com/kanal-dev/kanal/internal/wire"
	"github.com/kanal-dev/kanal/uplink/batch"
)

// benchEngine starts nats-server, KANAL_BATCHES and an engine on the real
// clock, and returns a JetStream client for the vehicles and a core NATS
// subscription of every alert.
func benchEngine(b *testing.B) (jetstream.JetStream, <-chan *nats.Msg) {
	ns := runNATS(b)
	js := connect(b, ns)
	ensureBatches(b, js)
	e := startEngine(b, connect(b, ns), nil, Rules{}, "bench", func(o *Options, _ *Engine) {
		if o != nil {
			o.Now, o.Tick = time.Now, 100*time.Millisecond
		}
	})
	await.Until(b, testTimeout, "engine active", e.Leader)
	alerts := make(chan *nats.Msg, 1<<16)
	sub, err := js.Conn().ChanSubscribe("kanal.>", alerts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sub.Unsubscribe() })
	return js, alerts
}

// load publishes keyframe-sized batches of vehicles vehicles at rate
// batches a second, as a fleet does, until ctx ends.
func load(ctx context.Context, b *testing.B, js jetstream.JetStream, vehicles, rate int) {
	if rate == 0 {
		return
	}
	cars := make([]*car, vehicles)
	for i := range cars {
		cars[i] = newCar(b, fmt.Sprintf("load-%05d", i))
	}
	cell, _ := grid.Cell(48.5, 11.0)
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		c := cars[i%len(cars)]
		c.seq++
		vals := report{at: time.Now(), cell: cell, kmh: 60, wipers: 0}.values(b)
		for id := uint32(2); len(vals) < 30; id++ { // 30 signals a batch, like a keyframe of the demo car
			if e, ok := catalog.Default().ByID(id); ok && e.Type == catalog.Float {
				vals = append(vals, catalog.Value{ID: id, Time: time.Now().UnixNano(), Num: float64(i % 100)})
			}
		}
		data, err := c.enc.Encode(nil, &batch.Batch{Header: batch.Header{Vehicle: c.id, Boot: c.boot, Seq: c.seq, SentAt: time.Now().UnixNano()}, Values: vals})
		if err != nil {
			b.Error(err)
			return
		}
		if _, err := js.PublishAsync(wire.BatchSubject(c.id), data); err != nil {
			return
		}
	}
}

// BenchmarkAlertLatency measures, on loopback, the time from a CAN frame's
// timestamp (the value's time inside the batch) to the alert reaching a
// NATS subscriber: the batch stored in KANAL_BATCHES as the gateway does,
// read by the processor, the alert decided, written ahead, published and
// delivered. Each warning iteration turns one vehicle's ABS lamp on or off
// (one alert change each); each fog iteration brings the third vehicle
// with fog lights into a fresh cell. With load, a fleet of 1,000 vehicles
// sends 30-value batches beside it at the given rate.
func BenchmarkAlertLatency(b *testing.B) {
	for _, kind := range []string{KindWarning, KindFog} {
		for _, rate := range []int{0, 1000} {
			b.Run(fmt.Sprintf("kind=%s,load=%d/s", kind, rate), func(b *testing.B) {
				js, alerts := benchEngine(b)
				ctx, cancel := context.WithCancel(context.Background())
				var wg sync.WaitGroup
				wg.Go(func() { load(ctx, b, js, 1000, rate) })
				defer func() { cancel(); wg.Wait() }()
				cars := make([]*car, 100)
				for i := range cars {
					cars[i] = newCar(b, fmt.Sprintf("bench-%03d", i))
				}
				base, _ := grid.Cell(47.0, 8.0)
				next := base
				var lat []time.Duration
				i := 0
				for b.Loop() {
					var at time.Time
					var subject string
					switch kind {
					case KindWarning:
						c := cars[i%len(cars)]
						on := (i/len(cars))%2 == 0
						at = time.Now()
						c.send(b, js, false, report{at: at, cell: base, kmh: 50, lamps: map[string]bool{"ABS": on}}.values(b)...)
						subject = wire.AlertSubject(KindWarning, base.Token())
					case KindFog:
						next = nextCell(next)
						for k := range 3 {
							at = time.Now()
							cars[(3*i+k)%len(cars)].send(b, js, false, report{at: at, cell: next, fog: true, kmh: 30}.values(b)...)
						}
						subject = wire.AlertSubject(KindFog, next.Token())
					}
					lat = append(lat, waitAlert(b, alerts, subject).Sub(at))
					i++
				}
				b.StopTimer()
				slices.Sort(lat)
				b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
				b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
				b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
			})
		}
	}
}

// waitAlert returns when the next message on subject arrived.
func waitAlert(b *testing.B, alerts <-chan *nats.Msg, subject string) time.Time {
	timeout := time.After(testTimeout)
	for {
		select {
		case m := <-alerts:
			if m.Subject == subject {
				return time.Now()
			}
		case <-timeout:
			b.Fatalf("no alert on %s within %v", subject, testTimeout)
		}
	}
}

// nextCell returns a cell some distance from c, so fog episodes do not
// share cells or neighbours.
func nextCell(c geo.Cell) geo.Cell {
	ll := c.Center()
	n, _ := grid.Cell(ll.Lat, ll.Lng+0.05)
	return n
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkEngineThroughput measures how many batches a second the active
// processor takes from KANAL_BATCHES to twins in KV: 1,000 vehicles'
// 30-value batches, stored beforehand, processed and acknowledged.
func BenchmarkEngineThroughput(b *testing.B) {
	ns := runNATS(b)
	js := connect(b, ns)
	ensureBatches(b, js)
	const vehicles, perLoop = 1000, 5000
	cars := make([]*car, vehicles)
	for i := range cars {
		cars[i] = newCar(b, fmt.Sprintf("tp-%05d", i))
	}
	cell, _ := grid.Cell(48.5, 11.0)
	publish := func(n int) {
		for i := range n {
			c := cars[i%vehicles]
			c.seq++
			vals := report{at: time.Now(), cell: cell, kmh: float64(i % 120)}.values(b)
			for id := uint32(2); len(vals) < 30; id++ {
				if e, ok := catalog.Default().ByID(id); ok && e.Type == catalog.Float {
					vals = append(vals, catalog.Value{ID: id, Time: time.Now().UnixNano(), Num: float64(i % 100)})
				}
			}
			data, err := c.enc.Encode(nil, &batch.Batch{Header: batch.Header{Vehicle: c.id, Boot: c.boot, Seq: c.seq, SentAt: time.Now().UnixNano()}, Values: vals})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := js.PublishAsync(wire.BatchSubject(c.id), data); err != nil {
				b.Fatal(err)
			}
		}
		<-js.PublishAsyncComplete()
	}
	e := startEngine(b, connect(b, ns), nil, Rules{}, "tp", func(o *Options, _ *Engine) {
		if o != nil {
			o.Now, o.Tick = time.Now, 100*time.Millisecond
		}
	})
	await.Until(b, testTimeout, "engine active", e.Leader)
	total := 0
	var busy time.Duration
	for b.Loop() {
		b.StopTimer()
		publish(perLoop) // stored before the clock runs: the processor's work alone is timed
		total += perLoop
		b.StartTimer()
		start := time.Now()
		waitAcked(b, js)
		busy += time.Since(start)
	}
	b.ReportMetric(float64(total)/busy.Seconds(), "batches/s")
	b.ReportMetric(30*float64(total)/busy.Seconds(), "values/s")
}
