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
// what came in meanwhile. A new processor starts from the values, which
// are never behind.
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
	c := newCar(t, "car-00")
	send := func(r report) {
		t.Helper()
		r.at, r.cell = clk.Now(), cellA
		c.send(t, js, false, r.values(t)...)
		waitAcked(t, js)
		e.waitTicks(t, 2)
	}
	seen := func(want time.Time, fog bool) {
		t.Helper()
		tw, err := e.twinOf(t, js, c.id)
		if err != nil {
			t.Fatal(err)
		}
		if !tw.Seen.Equal(want) || tw.FogOn() != fog {
			t.Fatalf("twin in KANAL_TWINS seen %v, fog %v; want %v, %v", tw.Seen, tw.FogOn(), want, fog)
		}
	}

	t0 := clk.Now()
	send(report{kmh: 20})
	seen(t0, false) // a new vehicle: written at once

	clk.Add(time.Second)
	send(report{kmh: 20})
	seen(t0, false) // the same values: waiting

	clk.Add(time.Second)
	t2 := clk.Now()
	send(report{kmh: 20, fog: true})
	seen(t2, true) // fog lights on: written at once, with the newer times

	clk.Add(time.Second)
	t3 := clk.Now()
	send(report{kmh: 20, fog: true})
	seen(t2, true)
	clk.Add(9 * time.Second)
	e.waitTicks(t, 2)
	seen(t2, true) // 9 s of the 10 s
	clk.Add(time.Second)
	e.waitTicks(t, 2)
	seen(t3, true) // 10 s after the batch that only moved the times
	if n := testutil.ToFloat64(e.m.twins); n != 3 {
		t.Errorf("%v twin writes for 5 batches, want 3: the new vehicle, the fog lights, the refresh", n)
	}

	// A vehicle whose first batch holds no signal the twin follows is
	// written at once all the same: it exists from its first batch on.
	other := newCar(t, "car-01")
	other.send(t, js, false, catalog.Value{ID: id(t, "Vehicle.Powertrain.CombustionEngine.Speed"), Time: clk.Now().UnixNano(), Num: 800})
	waitAcked(t, js)
	if tw, err := e.twinOf(t, js, other.id); err != nil || !tw.Seen.Equal(clk.Now()) {
		t.Fatalf("a new vehicle's twin: %+v, %v", tw, err)
	}

	// Repeated reports wait again; a processor taking over then starts
	// from the values, with the report times as written.
	clk.Add(time.Second)
	send(report{kmh: 20, fog: true})
	e.stop(t)
	e2 := startEngine(t, js, clk, Rules{}, "b", refresh)
	await.Until(t, testTimeout, "second engine active", e2.Leader)
	seen(t3, true)
}
