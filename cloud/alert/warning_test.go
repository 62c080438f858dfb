package alert

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/cloud/store/storetest"
	"github.com/kanal-dev/kanal/internal/wire"
)

// fleetAlerts returns the fleet view's alerts in KANAL_ALERTS.
func fleetAlerts(t *testing.T, f *fogFixture) []Alert {
	t.Helper()
	var out []Alert
	for _, m := range storetest.Read(t, f.js, wire.AlertsStream, "kanal.fleet.alerts.>") {
		a, err := Parse(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != wire.FleetAlertSubject(a.Kind, a.Vehicle) {
			t.Errorf("fleet alert of %q on %s", a.Vehicle, m.Subject)
		}
		out = append(out, a)
	}
	return out
}

func lamps(kv ...any) map[string]bool {
	m := map[string]bool{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1].(bool)
	}
	return m
}

// TestWarning: a configured lamp turning on raises a warning at once, on
// the traffic subject without the vehicle and on the fleet subject with
// it; it turning off clears both; a lamp staying on raises nothing more.
func TestWarning(t *testing.T) {
	f := newFogFixture(t, Rules{}, 2)
	f.report(t, 0, report{cell: cellA, kmh: 40, lamps: lamps("ABS", false, "SeatBelt", false)})
	f.clk.Add(time.Second)
	on := f.clk.Now()
	f.report(t, 0, report{cell: cellA, kmh: 40, lamps: lamps("ABS", true, "SeatBelt", true)})
	for range 3 { // keyframes repeating the lamp
		f.clk.Add(time.Second)
		f.cars[0].send(t, f.js, true, report{at: f.clk.Now(), cell: cellA, kmh: 40, lamps: lamps("ABS", true, "SeatBelt", true)}.values(t)...)
	}
	waitAcked(t, f.js)
	traffic, fleet := alerts(t, f.js), fleetAlerts(t, f)
	if states(traffic) != "warning/raised/1" || states(fleet) != "warning/raised/1" {
		t.Fatalf("traffic %q, fleet %q; want one raised warning each (SeatBelt is not configured)", states(traffic), states(fleet))
	}
	a, fa := traffic[0], fleet[0]
	wantID := "warning:" + cellA.Token() + ":ABS:" + itoa(on.UnixNano())
	if a.ID != wantID || a.Lamp != "ABS" || a.Cell != cellA.Token() || !a.First.Equal(on) || a.Vehicle != "" {
		t.Errorf("traffic alert %+v, want %s", a, wantID)
	}
	if fa.ID != a.ID || fa.Vehicle != fmtCar(0) {
		t.Errorf("fleet alert %+v", fa)
	}
	f.clk.Add(time.Second)
	f.report(t, 0, report{cell: cellA, kmh: 40, lamps: lamps("ABS", false)})
	traffic, fleet = alerts(t, f.js), fleetAlerts(t, f)
	if states(traffic) != "warning/raised/1 warning/cleared/1" || states(fleet) != states(traffic) || traffic[1].ID != wantID {
		t.Fatalf("after the lamp went off: traffic %q, fleet %q", states(traffic), states(fleet))
	}
}

// TestWarningLateAndSilent: a lamp that came on during an outage raises
// nothing (and its turning off clears nothing); a vehicle silent for
// silent_after has its warnings cleared; a vehicle without a cell (in a
// privacy zone) gets the fleet view only.
func TestWarningLateAndSilent(t *testing.T) {
	f := newFogFixture(t, Rules{}, 3)
	f.report(t, 0, report{at: f.clk.At(-5 * time.Minute), cell: cellA, lamps: lamps("Airbag", true)})
	f.report(t, 0, report{at: f.clk.At(-4 * time.Minute), cell: cellA, lamps: lamps("Airbag", false)})
	f.report(t, 1, report{cell: cellA, lamps: lamps("OilPressure", true)})
	f.report(t, 2, report{lamps: lamps("ESC", true)}) // no cell reported
	if got := states(alerts(t, f.js)); got != "warning/raised/1" {
		t.Fatalf("traffic %q, want only the oil pressure warning", got)
	}
	fleet := fleetAlerts(t, f)
	if states(fleet) != "warning/raised/1 warning/raised/1" || fleet[1].Vehicle != fmtCar(2) || fleet[1].Cell != "" {
		t.Fatalf("fleet %+v, want oil pressure and the cell-less ESC warning", fleet)
	}
	f.advance(t, DefaultSilentAfter+time.Second)
	if got := states(alerts(t, f.js)); got != "warning/raised/1 warning/cleared/1" {
		t.Fatalf("after silence: traffic %q", got)
	}
	if got := states(fleetAlerts(t, f)); got != "warning/raised/1 warning/raised/1 warning/cleared/1 warning/cleared/1" {
		t.Fatalf("after silence: fleet %q", got)
	}
}

// TestBreakdown: hazard lights on a vehicle stopped for stopped_for raise
// a breakdown; moving again clears it; a backlog raises nothing.
func TestBreakdown(t *testing.T) {
	f := newFogFixture(t, Rules{}, 2)
	f.report(t, 1, report{at: f.clk.At(-10 * time.Minute), cell: cellA, hazard: true})
	f.report(t, 1, report{at: f.clk.At(-9 * time.Minute), cell: cellA, hazard: true})
	f.report(t, 0, report{cell: cellA, kmh: 50})
	f.clk.Add(time.Second)
	start := f.clk.Now()
	f.report(t, 0, report{cell: cellA, kmh: 0, hazard: true})
	f.advance(t, DefaultStoppedFor-2*time.Second)
	f.report(t, 0, report{cell: cellA, kmh: 0, hazard: true})
	if got := alerts(t, f.js); len(got) != 0 {
		t.Fatalf("before stopped_for: %q", states(got))
	}
	f.advance(t, 2*time.Second)
	got := alerts(t, f.js)
	if states(got) != "breakdown/raised/1" {
		t.Fatalf("after stopped_for: %q, want one breakdown (none for the backlog)", states(got))
	}
	if want := "breakdown:" + cellA.Token() + ":" + itoa(start.UnixNano()); got[0].ID != want || !got[0].First.Equal(start) {
		t.Errorf("breakdown %+v, want id %s", got[0], want)
	}
	f.clk.Add(time.Second)
	f.report(t, 0, report{cell: cellA, kmh: 10, hazard: true})
	if got := states(alerts(t, f.js)); got != "breakdown/raised/1 breakdown/cleared/1" {
		t.Fatalf("after moving: %q", got)
	}
	if got := states(fleetAlerts(t, f)); got != "breakdown/raised/1 breakdown/cleared/1" {
		t.Fatalf("fleet view: %q", got)
	}
}

// TestTrafficViewAnonymous: nothing a traffic service can read of
// KANAL_ALERTS (subjects, headers, payloads) names a vehicle.
func TestTrafficViewAnonymous(t *testing.T) {
	f := newFogFixture(t, Rules{}, 3)
	for i := range 3 {
		f.report(t, i, report{cell: cellA, fog: true, kmh: 0, hazard: true, lamps: lamps("ABS", true)})
	}
	f.advance(t, time.Minute)
	for i := range 3 {
		f.report(t, i, report{cell: cellA, kmh: 0, lamps: lamps("ABS", false)})
	}
	f.advance(t, 3*time.Minute)
	msgs := storetest.Read(t, f.js, wire.AlertsStream, "kanal.alerts.>")
	kinds := map[string]int{}
	for _, m := range msgs {
		a, _ := Parse(m.Data)
		kinds[a.Kind+"/"+a.State]++
		var all bytes.Buffer
		all.WriteString(m.Subject)
		for k, vs := range m.Header {
			all.WriteString(k + strings.Join(vs, ","))
		}
		all.Write(m.Data)
		for _, c := range f.cars {
			if bytes.Contains(all.Bytes(), []byte(c.id)) || bytes.Contains(all.Bytes(), []byte(c.boot)) {
				t.Errorf("traffic message seq %d names %s: %s", m.Seq, c.id, all.String())
			}
		}
	}
	for _, k := range []string{"fog/raised", "fog/cleared", "warning/raised", "warning/cleared", "breakdown/raised", "breakdown/cleared"} {
		if kinds[k] == 0 {
			t.Errorf("no %s alert to check (got %v)", k, kinds)
		}
	}
}
