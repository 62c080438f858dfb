package alert

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kanal-dev/kanal/internal/await"
	"github.com/kanal-dev/kanal/internal/wire"
)

func TestOptions(t *testing.T) {
	js := connect(t, runNATS(t))
	for _, tc := range []struct {
		desc string
		opts Options
		want string
	}{
		{"no jetstream", Options{}, "JetStream is required"},
		{"consumer", Options{JetStream: js, Consumer: "a.b"}, `consumer "a.b"`},
		{"lease", Options{JetStream: js, LeaseTTL: time.Millisecond}, "lease_ttl 1ms"},
		{"negative tick", Options{JetStream: js, Tick: -time.Second}, "tick -1s"},
		{"group", Options{JetStream: js, Group: 1 << 20}, "group 1048576"},
		{"replicas", Options{JetStream: js, Replicas: 7}, "replicas 7"},
		{"duplicates", Options{JetStream: js, Duplicates: 48 * time.Hour, AlertsMaxAge: 24 * time.Hour}, "duplicates 48h0m0s"},
		{"rules", Options{JetStream: js, Rules: Rules{Fog: FogRule{MinVehicles: -2}}}, "rules: fog.min_vehicles -2"},
		{"lamps", Options{JetStream: js, Rules: Rules{Warning: WarningRule{Lamps: []string{"Horn"}}}}, `unknown lamp "Horn"`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := New(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error with %q", err, tc.want)
			}
		})
	}
	e, err := New(Options{JetStream: js})
	if err != nil {
		t.Fatal(err)
	}
	if e.opts.Consumer != DefaultConsumer || e.opts.Group != DefaultGroup || e.opts.LeaseTTL != DefaultLeaseTTL ||
		e.Rules().Fog.MinVehicles != DefaultFogMinVehicles || e.opts.Name == "" {
		t.Errorf("defaults: %+v", e.opts)
	}
}

// TestStatus: presence from kanal.status.{vehicle} (the gateway forwards
// the vehicles' status topic) sets the twin's online state; an older
// presence, a command reply and garbage change nothing.
func TestStatus(t *testing.T) {
	f := newFogFixture(t, Rules{}, 1)
	nc := f.js.Conn()
	pub := func(vehicle string, v any) {
		data, _ := json.Marshal(v)
		if s, ok := v.(string); ok {
			data = []byte(s)
		}
		if err := nc.Publish(wire.StatusSubject(vehicle), data); err != nil {
			t.Fatal(err)
		}
	}
	online := func(want bool) {
		t.Helper()
		await.Until(t, testTimeout, "twin online state", func() bool {
			tw, err := f.e.twinOf(t, f.js, "car-00")
			return err == nil && tw.Online.Known() && tw.Online.Value == want
		})
	}
	at := time.Now().UTC()
	await.Until(t, testTimeout, "the processor subscribed", func() bool { // it subscribes once it has loaded its state
		pub("car-00", wire.Presence{Type: "presence", Online: true, Boot: "b1", At: at})
		tw, err := f.e.twinOf(t, f.js, "car-00")
		return err == nil && tw.Online.Value && tw.Boot == "b1"
	})
	pub("car-00", wire.Presence{Type: "presence", Online: false, At: at.Add(-time.Minute)}) // older: a retained copy
	pub("car-00", wire.Reply{Type: "reply", ID: "1", Cmd: "status", OK: true, At: at.Add(time.Second)})
	pub("car-00", "{not json")
	pub("bad~id", wire.Presence{Type: "presence", Online: false, At: at.Add(time.Second)})
	await.Until(t, testTimeout, "status messages counted", func() bool {
		return testutil.ToFloat64(f.e.m.statuses.WithLabelValues("ignored")) >= 2 &&
			testutil.ToFloat64(f.e.m.statuses.WithLabelValues("invalid")) >= 2
	})
	online(true)
	pub("car-00", wire.Presence{Type: "presence", Online: false, At: at.Add(time.Minute)}) // the last will
	online(false)
}

// TestBadBatches: a batch that does not decode, or names another vehicle
// than its subject, is counted and acknowledged, and blocks nothing.
func TestBadBatches(t *testing.T) {
	f := newFogFixture(t, Rules{Fog: FogRule{MinVehicles: 1}}, 2)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if _, err := f.js.Publish(ctx, wire.BatchSubject("car-00"), []byte("not a batch")); err != nil {
		t.Fatal(err)
	}
	// car-01's batch on car-00's subject
	c := f.cars[1]
	c.seq++
	data, _ := c.enc.Encode(nil, batchOf(c, report{at: f.clk.Now(), cell: cellA, fog: true}.values(t)))
	if _, err := f.js.Publish(ctx, wire.BatchSubject("car-00"), data); err != nil {
		t.Fatal(err)
	}
	f.report(t, 0, report{cell: cellFar, fog: true})
	if got := states(alerts(t, f.js)); got != "fog/raised/1" {
		t.Fatalf("alerts %q, want car-00's fog only", got)
	}
	if n := testutil.ToFloat64(f.e.m.batches.WithLabelValues("undecodable")); n != 1 {
		t.Errorf("undecodable %v", n)
	}
	if n := testutil.ToFloat64(f.e.m.batches.WithLabelValues("mismatch")); n != 1 {
		t.Errorf("mismatch %v", n)
	}
	if _, err := f.e.twinOf(t, f.js, "car-01"); err == nil {
		t.Error("a batch on another vehicle's subject made a twin")
	}
	var _ jetstream.JetStream = f.js
}

// TestNATSRestart: nats-server stops for longer than the lease's half TTL
// and comes back on the same directory; the processor (and the relay)
// reconnect, take the lease again and go on: the fog the third vehicle
// completes after the restart is raised, once, and relayed.
func TestNATSRestart(t *testing.T) {
	ns := runNATS(t)
	js := connect(t, ns)
	ensureBatches(t, js)
	clk := newClock(base)
	f := &fogFixture{js: js, clk: clk, e: startEngine(t, connect(t, ns), clk, Rules{}, "a")}
	for i := range 3 {
		f.cars = append(f.cars, newCar(t, fmtCar(i)))
	}
	srv, addr := startMochi(t)
	startRelay(t, connect(t, ns), srv)
	traffic := subscribe(t, addr, "traffic", "kanal/v1/alerts/#")
	await.Until(t, testTimeout, "leader", f.e.Leader)
	f.report(t, 0, report{cell: cellA, fog: true})
	f.report(t, 1, report{cell: cellA, fog: true})
	ns.Shutdown()
	ns.WaitForShutdown()
	time.Sleep(1500 * time.Millisecond) // the lease lapses: renewals fail for more than TTL/2
	ns.start(t)
	await.Until(t, testTimeout, "the processor active again", func() bool { return f.e.Leader() && f.js.Conn().IsConnected() })
	f.clk.Add(time.Second)
	f.report(t, 2, report{cell: cellA, fog: true})
	if got := states(alerts(t, f.js)); got != "fog/raised/3" {
		t.Fatalf("alerts %q after the restart", got)
	}
	if p := traffic.next(t, "relayed after the restart"); p.Topic != wire.AlertTopic(KindFog, cellA.Token()) {
		t.Errorf("relayed %s", p.Topic)
	}
}
