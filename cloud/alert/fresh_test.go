package alert

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/internal/await"
)

// TestTwinRefresh: a batch that changes a twin's values is written with
// its group; one that only repeats them (newer report times) waits
// TwinRefresh, measured on the processor's clock, and is then written with
// what came in meanwhile. A vehicle a rule follows (here: fog lights on in
// a cell) is written with every batch. A new processor starts from the
// values, which are never behind.
func TestTwinRefresh(t *testing.T) {
	ns := runNATS(t)
	js := connect(t, ns)
	ensureBatches(t, js)
	clk := newClock(base)
	refresh := func(o *Options, _ *Engine) {
		if o != nil {
			o.TwinRefresh = 10 * time.Second
		}
	}
	e := startEngine(t, js, clk, Rules{}, "a", refresh)
	await.Until(t, testTimeout, "engine active", e.Leader)
	send := func(c *car, r report) {
		t.Helper()
		r.at, r.cell = clk.Now(), cellA
		c.send(t, js, false, r.values(t)...)
		waitAcked(t, js)
		e.waitTicks(t, 2)
	}
	seen := func(c *car, want time.Time, wipers float64) {
		t.Helper()
		tw, err := e.twinOf(t, js, c.id)
		if err != nil {
			t.Fatal(err)
		}
		if !tw.Seen.Equal(want) || tw.Wipers.Value != wiperMode(t, wipers) {
			t.Fatalf("%s in KANAL_TWINS: seen %v, wipers %q; want %v, %q", c.id, tw.Seen, tw.Wipers.Value, want, wiperMode(t, wipers))
		}
	}
	c := newCar(t, "car-00")

	t0 := clk.Now()
	send(c, report{kmh: 20})
	seen(c, t0, 0) // a new vehicle: written at once

	clk.Add(time.Second)
	send(c, report{kmh: 20})
	seen(c, t0, 0) // the same values: waiting

	clk.Add(time.Second)
	t2 := clk.Now()
	send(c, report{kmh: 20, wipers: 1})
	seen(c, t2, 1) // the wipers changed: written at once, with the newer times

	clk.Add(time.Second)
	t3 := clk.Now()
	send(c, report{kmh: 20, wipers: 1})
	seen(c, t2, 1)
	clk.Add(9 * time.Second)
	e.waitTicks(t, 2)
	seen(c, t2, 1) // 9 s of the 10 s
	clk.Add(time.Second)
	e.waitTicks(t, 2)
	seen(c, t3, 1) // 10 s after the batch that only moved the times
	if n := testutil.ToFloat64(e.m.twins); n != 3 {
		t.Errorf("%v twin writes for 5 batches, want 3: the new vehicle, the wipers, the refresh", n)
	}

	// Fog lights on in a cell: the fog rule counts the vehicle until a
	// window after its latest report, so every report is written.
	clk.Add(time.Second)
	send(c, report{kmh: 20, wipers: 1, fog: true})
	clk.Add(time.Second)
	t5 := clk.Now()
	send(c, report{kmh: 20, wipers: 1, fog: true})
	seen(c, t5, 1)

	// A vehicle whose first batch holds no signal the twin follows is
	// written at once all the same: it exists from its first batch on.
	other := newCar(t, "car-01")
	other.send(t, js, false, catalog.Value{ID: id(t, "Vehicle.Powertrain.CombustionEngine.Speed"), Time: clk.Now().UnixNano(), Num: 800})
	waitAcked(t, js)
	if tw, err := e.twinOf(t, js, other.id); err != nil || !tw.Seen.Equal(clk.Now()) {
		t.Fatalf("a new vehicle's twin: %+v, %v", tw, err)
	}

	// Repeated reports of a vehicle no rule follows wait again; a
	// processor taking over then starts from its values, with the report
	// times as written.
	third := newCar(t, "car-02")
	t6 := clk.Now()
	send(third, report{kmh: 50, wipers: 2})
	clk.Add(time.Second)
	send(third, report{kmh: 50, wipers: 2})
	e.stop(t)
	e2 := startEngine(t, js, clk, Rules{}, "b", refresh)
	await.Until(t, testTimeout, "second engine active", e2.Leader)
	seen(third, t6, 2)
}

// wiperMode is the catalog's name of wiper mode index i.
func wiperMode(t *testing.T, i float64) string {
	t.Helper()
	e, ok := catalog.Default().ByPath("Vehicle.Body.Windshield.Front.Wiping.Mode")
	if !ok {
		t.Fatal("no wiper mode in the catalog")
	}
	label, ok := e.Label(i)
	if !ok {
		t.Fatalf("no wiper mode %v in the catalog", i)
	}
	return label
}
