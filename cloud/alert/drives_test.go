package alert

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/can"
	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/dbc"
	"github.com/kanal-dev/kanal/geo"
)

// The demo vehicle's drives (testdata/candumps, README there), decoded by
// the agent's own pipeline, rounded to cells as the agent does and sent as
// one batch a second: the alerts they raise are the ones their story says.

const demoDir = "../../testdata/candumps/"

// driveBatch is one second of a drive: its end and its values.
type driveBatch struct {
	end  time.Time
	vals []catalog.Value
}

// drive decodes a candump log into catalog values, sends each value when it
// changes (as the sampler does on change), and replaces the position by
// its level-13 cell, which never leaves a real agent otherwise.
func drive(t *testing.T, log string) (start time.Time, batches []driveBatch) {
	t.Helper()
	p, err := dbc.NewPipeline(dbc.PipelineOptions{DBC: []string{demoDir + "kanal_demo.dbc"}, Mapping: demoDir + "kanal_demo.mapping.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	lr, err := can.OpenLog(demoDir+log, can.LogReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer lr.Close()
	lat, lon, cellID := id(t, "Vehicle.CurrentLocation.Latitude"), id(t, "Vehicle.CurrentLocation.Longitude"), id(t, "Vehicle.Kanal.Location.Cell")
	last := map[uint32]float64{}
	var fix geo.LatLng
	var haveLat, haveLon bool
	var fv dbc.FrameValues
	var cur driveBatch
	for {
		f, err := lr.Next(t.Context())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if start.IsZero() {
			start = f.Time
			cur.end = start.Add(time.Second)
		}
		for !f.Time.Before(cur.end) {
			batches = append(batches, cur)
			cur = driveBatch{end: cur.end.Add(time.Second)}
		}
		p.Decode(&f, &fv)
		for _, v := range fv.Catalog {
			switch v.ID {
			case lat:
				fix.Lat, haveLat = v.Num, true
			case lon:
				fix.Lng, haveLon = v.Num, true
			}
			if v.ID == lat || v.ID == lon {
				if !haveLat || !haveLon {
					continue
				}
				c, err := grid.CellOf(fix)
				if err != nil {
					continue
				}
				v = catalog.Value{ID: cellID, Time: v.Time, Num: c.Float64()}
			}
			if old, ok := last[v.ID]; ok && old == v.Num {
				continue
			}
			last[v.ID] = v.Num
			cur.vals = append(cur.vals, v)
		}
	}
	return start, append(batches, cur)
}

// play sends the drive's batches as the given vehicles, the engine's clock
// following the drive.
func play(t *testing.T, f *fogFixture, batches []driveBatch, cars ...*car) {
	t.Helper()
	for _, b := range batches {
		f.clk.ns.Store(b.end.UnixNano())
		for _, c := range cars {
			if len(b.vals) > 0 {
				c.send(t, f.js, false, b.vals...)
			}
		}
		waitAcked(t, f.js)
	}
}

// TestDriveWarning: drive_warning.log raises one ABS warning, at t+75 s,
// in the cell around 48.1331N 11.5945E.
func TestDriveWarning(t *testing.T) {
	if testing.Short() {
		t.Skip("replays a 120 s drive")
	}
	start, batches := drive(t, "drive_warning.log")
	f := newFogFixture(t, Rules{}, 1)
	f.clk.ns.Store(start.UnixNano())
	play(t, f, batches, f.cars[0])
	got := alerts(t, f.js)
	if states(got) != "warning/raised/1" {
		t.Fatalf("alerts %q, want one warning", states(got))
	}
	a := got[0]
	if at := a.First.Sub(start); a.Lamp != "ABS" || at < 74*time.Second || at > 76*time.Second {
		t.Errorf("warning %s at t+%v, want ABS at t+75s", a.Lamp, at)
	}
	if d := a.Centre.DistanceM(geo.LatLng{Lat: 48.1331, Lng: 11.5945}); d > 1500 {
		t.Errorf("warning in cell %s, %.0f m from where the lamp came on", a.Cell, d)
	}
}

// TestDriveFog: drive_fog.log driven by three vehicles together raises fog
// where their fog lights came on (t+60 s), with their wipers on, and every
// fog alert clears once after the fog.
func TestDriveFog(t *testing.T) {
	if testing.Short() {
		t.Skip("replays a 150 s drive three times")
	}
	start, batches := drive(t, "drive_fog.log")
	f := newFogFixture(t, Rules{}, 3)
	f.clk.ns.Store(start.UnixNano())
	play(t, f, batches, f.cars...)
	for range 4 { // after the drive: the cars stopped reporting, the fog is over
		f.advance(t, time.Minute)
	}
	got := alerts(t, f.js)
	raised := map[string]Alert{}
	cleared := map[string]int{}
	for _, a := range got {
		if a.Kind != KindFog {
			t.Errorf("a %s alert on a foggy drive without warnings: %+v", a.Kind, a)
			continue
		}
		switch a.State {
		case StateRaised:
			raised[a.ID] = a
		case StateCleared:
			cleared[a.ID]++
		}
	}
	if len(raised) == 0 {
		t.Fatalf("no fog raised: %q", states(got))
	}
	var first time.Time
	for id, a := range raised {
		if cleared[id] != 1 {
			t.Errorf("fog %s cleared %d times", id, cleared[id])
		}
		if a.Count != 3 || a.Corroboration == nil || a.Corroboration.Wipers != 1 {
			t.Errorf("fog %+v, want 3 vehicles with wipers on", a)
		}
		if first.IsZero() || a.First.Before(first) {
			first = a.First
		}
	}
	if at := first.Sub(start); at < 59*time.Second || at > 62*time.Second {
		t.Errorf("first fog report at t+%v, want t+60s", at)
	}
	t.Logf("%d fog episodes along the drive: %q", len(raised), states(got))
}
