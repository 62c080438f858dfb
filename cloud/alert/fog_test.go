package alert

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/internal/await"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestFogThreshold: fog is raised when the N-th distinct vehicle in a cell
// turns its fog lights on, not at N-1, and once.
func TestFogThreshold(t *testing.T) {
	for _, n := range []int{1, 3, 4} {
		t.Run(fmtN(n), func(t *testing.T) {
			ns := runNATS(t)
			js := connect(t, ns)
			ensureBatches(t, js)
			clk := newClock(base)
			e := startEngine(t, js, clk, Rules{Fog: FogRule{MinVehicles: n}}, "a")
			cars := make([]*car, n)
			for i := range cars {
				cars[i] = newCar(t, fmtCar(i))
			}
			for i, c := range cars[:n-1] {
				c.send(t, js, true, report{at: clk.At(time.Duration(i) * time.Second), cell: cellA, fog: true, kmh: 30, wipers: 4}.values(t)...)
			}
			// The same vehicles again, and a vehicle without fog lights: still N-1.
			for _, c := range cars[:n-1] {
				c.send(t, js, false, report{at: clk.At(5 * time.Second), cell: cellA, fog: true, kmh: 30, wipers: 4}.values(t)...)
			}
			newCar(t, "nofog").send(t, js, true, report{at: clk.At(5 * time.Second), cell: cellA, kmh: 80}.values(t)...)
			await.Until(t, testTimeout, "engine active", e.Leader)
			waitAcked(t, js)
			if got := alerts(t, js); len(got) != 0 {
				t.Fatalf("%d vehicles raised %d alerts: %+v", n-1, len(got), got)
			}
			last := clk.At(6 * time.Second)
			cars[n-1].send(t, js, true, report{at: last, cell: cellA, fog: true, kmh: 90}.values(t)...)
			waitAcked(t, js)
			got := alerts(t, js)
			if len(got) != 1 {
				t.Fatalf("%d vehicles: %d alerts, want 1: %+v", n, len(got), got)
			}
			a := got[0]
			if a.Kind != KindFog || a.State != StateRaised || a.Cell != cellA.Token() || a.Count != n {
				t.Errorf("alert %+v, want fog raised in %s with count %d", a, cellA, n)
			}
			if a.ID != "fog:"+cellA.Token()+":"+itoa(last.UnixNano()) {
				t.Errorf("id %q", a.ID)
			}
			first := base
			if n == 1 {
				first = last
			}
			if !a.First.Equal(first) || !a.Last.Equal(last) {
				t.Errorf("first %v last %v, want %v and %v", a.First, a.Last, first, last)
			}
			if a.Centre != cellA.Center() || a.Corners != cellA.Corners() {
				t.Errorf("geometry %v %v", a.Centre, a.Corners)
			}
			wantWipers := float64(n-1) / float64(n)
			if a.Corroboration == nil || a.Corroboration.Wipers != wantWipers || a.Corroboration.LowSpeed != wantWipers {
				t.Errorf("corroboration %+v, want wipers and low speed %v", a.Corroboration, wantWipers)
			}
		})
	}
}

// fogFixture is an engine with three cars able to report in cell A.
type fogFixture struct {
	js   jetstream.JetStream
	clk  *clock
	e    *engine
	cars []*car
}

func newFogFixture(t *testing.T, rules Rules, cars int) *fogFixture {
	ns := runNATS(t)
	js := connect(t, ns)
	ensureBatches(t, js)
	clk := newClock(base)
	f := &fogFixture{js: js, clk: clk, e: startEngine(t, js, clk, rules, "a")}
	for i := range cars {
		f.cars = append(f.cars, newCar(t, fmtCar(i)))
	}
	await.Until(t, testTimeout, "engine active", f.e.Leader)
	return f
}

// report sends car i's report at the clock's time plus d, and waits until
// it is processed.
func (f *fogFixture) report(t *testing.T, i int, r report) {
	t.Helper()
	if r.at.IsZero() {
		r.at = f.clk.Now()
	}
	f.cars[i].send(t, f.js, false, r.values(t)...)
	waitAcked(t, f.js)
}

// advance moves the clock and waits until the engine has ticked on it.
func (f *fogFixture) advance(t *testing.T, d time.Duration) {
	t.Helper()
	f.clk.Add(d)
	f.e.waitTicks(t, 2)
}

func states(as []Alert) string {
	var b strings.Builder
	for _, a := range as {
		fmt.Fprintf(&b, "%s/%s/%d ", a.Kind, a.State, a.Count)
	}
	return strings.TrimSpace(b.String())
}

// TestFogHysteresis: a count wavering around N raises once; the alert
// clears only after the count stayed below N for clear_after, once.
func TestFogHysteresis(t *testing.T) {
	f := newFogFixture(t, Rules{}, 3)
	on := report{cell: cellA, fog: true, kmh: 20}
	off := report{cell: cellA, kmh: 20}
	for i := range 3 {
		f.report(t, i, on)
	}
	for range 3 { // below for 60 s, then back: no clear
		f.advance(t, 10*time.Second)
		f.report(t, 0, on)
		f.report(t, 1, on)
		f.report(t, 2, off)
		f.advance(t, 60*time.Second)
		f.report(t, 2, on)
	}
	f.advance(t, time.Second)
	f.report(t, 0, on)
	f.report(t, 1, on)
	f.report(t, 2, off)
	f.advance(t, DefaultFogClearAfter-time.Second)
	if got := states(alerts(t, f.js)); got != "fog/raised/3" {
		t.Fatalf("below for less than clear_after: alerts %q, want one raised", got)
	}
	f.advance(t, time.Second)
	f.advance(t, time.Minute)
	got := alerts(t, f.js)
	if states(got) != "fog/raised/3 fog/cleared/2" {
		t.Fatalf("alerts %q, want raised then cleared", states(got))
	}
	if got[0].ID != got[1].ID || got[1].Corroboration == nil {
		t.Errorf("cleared %+v does not match raised %+v", got[1], got[0])
	}
}

// TestFogLeavesCount: turning fog lights off, leaving the cell and falling
// silent for the window each take a vehicle out of the count.
func TestFogLeavesCount(t *testing.T) {
	for _, tc := range []struct {
		desc  string
		leave func(f *fogFixture, t *testing.T)
	}{
		{"lights off", func(f *fogFixture, t *testing.T) { f.report(t, 2, report{cell: cellA, kmh: 20}) }},
		{"other cell", func(f *fogFixture, t *testing.T) { f.report(t, 2, report{cell: cellB, fog: true, kmh: 20}) }},
		{"silent", func(f *fogFixture, t *testing.T) {
			// car 2 says nothing while the others keep reporting past the window
			for range 6 {
				f.advance(t, time.Minute)
				f.report(t, 0, report{cell: cellA, fog: true, kmh: 20})
				f.report(t, 1, report{cell: cellA, fog: true, kmh: 20})
			}
		}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			f := newFogFixture(t, Rules{}, 3)
			for i := range 3 {
				f.report(t, i, report{cell: cellA, fog: true, kmh: 20})
			}
			f.clk.Add(time.Second) // a later report: one at the same time changes nothing
			tc.leave(f, t)
			for range 3 {
				f.advance(t, time.Minute)
				f.report(t, 0, report{cell: cellA, fog: true, kmh: 20})
				f.report(t, 1, report{cell: cellA, fog: true, kmh: 20})
			}
			got := alerts(t, f.js)
			if states(got) != "fog/raised/3 fog/cleared/2" {
				t.Fatalf("alerts %q, want raised then cleared with 2", states(got))
			}
		})
	}
}

// TestFogSameVehicleOnce: one vehicle, however many batches, boots and
// lights, counts once.
func TestFogSameVehicleOnce(t *testing.T) {
	f := newFogFixture(t, Rules{Fog: FogRule{MinVehicles: 2}}, 1)
	for range 5 {
		f.report(t, 0, report{cell: cellA, fog: true, kmh: 20})
		f.clk.Add(time.Second)
	}
	f.cars[0].boot = "reboot" // the agent restarted: a new boot, the same vehicle
	f.cars[0].seq = 0
	f.report(t, 0, report{cell: cellA, fog: true, kmh: 20})
	if got := alerts(t, f.js); len(got) != 0 {
		t.Fatalf("one vehicle raised %q", states(got))
	}
}

// TestFogLate: batches older than max_lateness (a spool backlog after an
// outage) update the twin and raise nothing, however many vehicles; a
// vehicle clock far ahead is counted, its data kept as reported now.
func TestFogLate(t *testing.T) {
	f := newFogFixture(t, Rules{}, 4)
	for i := range 3 {
		f.report(t, i, report{at: f.clk.At(-3 * time.Minute), cell: cellA, fog: true, kmh: 20})
	}
	f.advance(t, time.Second)
	if got := alerts(t, f.js); len(got) != 0 {
		t.Fatalf("late batches raised %q", states(got))
	}
	if got := testutil.ToFloat64(f.e.m.late); got == 0 {
		t.Error("late values not counted")
	}
	tw, err := f.e.twinOf(t, f.js, fmtCar(0))
	if err != nil || !tw.FogOn() || tw.Cell.Value != cellA.Token() {
		t.Fatalf("twin after a late batch: %+v, %v", tw, err)
	}
	// A vehicle whose clock is an hour ahead: counted, kept, taken as now.
	f.report(t, 3, report{at: f.clk.At(time.Hour), cell: cellA, fog: true, kmh: 20})
	if got := testutil.ToFloat64(f.e.m.skewed); got == 0 {
		t.Error("values from a clock far ahead not counted")
	}
	got := alerts(t, f.js)
	if states(got) != "fog/raised/4" {
		t.Fatalf("alerts %q, want one raised with 4 (three late, within the window, and one now)", states(got))
	}
	if !got[0].Last.Equal(f.clk.Now()) {
		t.Errorf("last report %v, want the skewed report taken as now %v", got[0].Last, f.clk.Now())
	}
}

// TestFogOutage: after an outage longer than the window, the backlog
// raises nothing, and neither do the fresh reports of the one vehicle
// whose reports are recent.
func TestFogOutage(t *testing.T) {
	f := newFogFixture(t, Rules{}, 3)
	for i := range 3 {
		f.report(t, i, report{at: f.clk.At(-10 * time.Minute), cell: cellA, fog: true, kmh: 20})
	}
	f.report(t, 0, report{cell: cellA, fog: true, kmh: 20})
	f.advance(t, time.Second)
	if got := alerts(t, f.js); len(got) != 0 {
		t.Fatalf("a backlog raised %q", states(got))
	}
}
