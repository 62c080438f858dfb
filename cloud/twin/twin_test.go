package twin

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/geo"
	"github.com/kanal-dev/kanal/internal/wire"
)

var t0 = time.Date(2025, 6, 2, 16, 10, 0, 0, time.UTC)

func TestReadingSet(t *testing.T) {
	var r Reading[bool]
	steps := []struct {
		desc    string
		v       bool
		at      time.Duration
		changed bool
		value   bool
		since   time.Duration
		last    time.Duration
	}{
		{"first report", false, 0, true, false, 0, 0},
		{"same value later", false, time.Second, false, false, 0, time.Second},
		{"turns on", true, 2 * time.Second, true, true, 2 * time.Second, 2 * time.Second},
		{"older report ignored", false, time.Second, false, true, 2 * time.Second, 2 * time.Second},
		{"same time ignored", false, 2 * time.Second, false, true, 2 * time.Second, 2 * time.Second},
		{"still on", true, 5 * time.Second, false, true, 2 * time.Second, 5 * time.Second},
	}
	for _, s := range steps {
		if got := r.Set(s.v, t0.Add(s.at)); got != s.changed {
			t.Errorf("%s: changed %v, want %v", s.desc, got, s.changed)
		}
		if r.Value != s.value || !r.Since.Equal(t0.Add(s.since)) || !r.At.Equal(t0.Add(s.last)) {
			t.Errorf("%s: %+v, want value %v since +%v at +%v", s.desc, r, s.value, s.since, s.last)
		}
	}
}

func TestSpeedBand(t *testing.T) {
	for _, tc := range []struct {
		kmh  float64
		band string
		low  bool
	}{
		{0, BandStopped, true}, {1.9, BandStopped, true}, {-1, BandStopped, true}, {2, BandCrawling, true},
		{19.9, BandCrawling, true}, {20, BandSlow, true}, {49.9, BandSlow, true}, {50, BandMoving, false},
		{89, BandMoving, false}, {90, BandFast, false}, {250, BandFast, false}, {-30, BandSlow, true},
		{math.NaN(), "", false}, {math.Inf(1), "", false},
	} {
		if got := SpeedBand(tc.kmh); got != tc.band || LowSpeed(got) != tc.low {
			t.Errorf("SpeedBand(%v) = %q (low %v), want %q (low %v)", tc.kmh, got, LowSpeed(got), tc.band, tc.low)
		}
	}
}

func TestLampName(t *testing.T) {
	for _, tc := range []struct {
		path, name string
		ok         bool
	}{
		{"Vehicle.Kanal.Warning.ABS.IsOn", "ABS", true},
		{"Vehicle.Kanal.Warning.TirePressure.IsOn", "TirePressure", true},
		{"Vehicle.Kanal.Warning..IsOn", "", false},
		{"Vehicle.Kanal.Warning.A.B.IsOn", "", false},
		{"Vehicle.Kanal.Warning.ABS", "", false},
		{"Vehicle.Speed", "", false},
	} {
		name, ok := LampName(tc.path)
		if name != tc.name || ok != tc.ok {
			t.Errorf("LampName(%q) = %q, %v", tc.path, name, ok)
		}
		if ok && LampPath(name) != tc.path {
			t.Errorf("LampPath(%q) = %q", name, LampPath(name))
		}
	}
}

func mustID(t *testing.T, path string) uint32 {
	t.Helper()
	e, ok := catalog.Default().ByPath(path)
	if !ok {
		t.Fatalf("no %s", path)
	}
	return e.ID
}

// TestApply follows one vehicle through its reports, each field from its
// catalog signal, looked up by path.
func TestApply(t *testing.T) {
	sig, err := NewSignals(catalog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if len(sig.Lamps()) < 9 {
		t.Errorf("lamps %v, want the catalog's warning lamps", sig.Lamps())
	}
	grid, _ := geo.NewGrid(13)
	cell, _ := grid.Cell(48.1331, 11.5945)
	ns := func(d time.Duration) int64 { return t0.Add(d).UnixNano() }
	tw := &Twin{Vehicle: "v1"}
	for _, tc := range []struct {
		desc string
		v    catalog.Value
		want Change
	}{
		{"cell", catalog.Value{ID: mustID(t, PathCell), Time: ns(0), Num: cell.Float64()}, Change{Field: FieldCell, Changed: true}},
		{"not a cell", catalog.Value{ID: mustID(t, PathCell), Time: ns(1), Num: 3}, Change{Field: FieldInvalid}},
		{"speed", catalog.Value{ID: mustID(t, PathSpeed), Time: ns(0), Num: 42}, Change{Field: FieldSpeed, Changed: true}},
		{"same band", catalog.Value{ID: mustID(t, PathSpeed), Time: ns(time.Second), Num: 45}, Change{Field: FieldSpeed}},
		{"fog front", catalog.Value{ID: mustID(t, PathFogFront), Time: ns(0), Num: 1}, Change{Field: FieldFogFront, Changed: true}},
		{"fog rear bad", catalog.Value{ID: mustID(t, PathFogRear), Time: ns(0), Num: 0.5}, Change{Field: FieldInvalid}},
		{"hazard", catalog.Value{ID: mustID(t, PathHazard), Time: ns(0), Num: 0}, Change{Field: FieldHazard, Changed: true}},
		{"wipers", catalog.Value{ID: mustID(t, PathWipers), Time: ns(0), Num: 4}, Change{Field: FieldWipers, Changed: true}},
		{"wipers out of the enum", catalog.Value{ID: mustID(t, PathWipers), Time: ns(time.Second), Num: 17}, Change{Field: FieldInvalid}},
		{"ABS on", catalog.Value{ID: mustID(t, LampPath("ABS")), Time: ns(2 * time.Second), Num: 1}, Change{Field: FieldLamp, Lamp: "ABS", Changed: true}},
		{"ABS again", catalog.Value{ID: mustID(t, LampPath("ABS")), Time: ns(3 * time.Second), Num: 1}, Change{Field: FieldLamp, Lamp: "ABS"}},
		{"other signal", catalog.Value{ID: mustID(t, "Vehicle.Powertrain.CombustionEngine.Speed"), Time: ns(4 * time.Second), Num: 900}, Change{}},
	} {
		if got := sig.Apply(tw, tc.v); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.desc, got, tc.want)
		}
	}
	if tw.Cell.Value != cell.Token() || tw.Speed.Value != BandSlow || !tw.FogOn() || !tw.WipersOn() ||
		tw.Wipers.Value != "INTERVAL" || tw.Hazard.Value || !tw.Lamps["ABS"].Value || tw.Stopped() {
		t.Errorf("twin %+v", tw)
	}
	if !tw.Seen.Equal(t0.Add(4 * time.Second)) {
		t.Errorf("seen %v, want the latest report", tw.Seen)
	}
	// Presence: newer wins, older ignored.
	if !tw.SetPresence(wire.Presence{Type: "presence", Online: true, Boot: "b1", At: t0}) || !tw.Online.Value || tw.Boot != "b1" {
		t.Errorf("presence online not applied: %+v", tw.Online)
	}
	if tw.SetPresence(wire.Presence{Type: "presence", Online: false, At: t0.Add(-time.Second)}) || !tw.Online.Value {
		t.Errorf("an older presence was applied: %+v", tw.Online)
	}
	if !tw.SetPresence(wire.Presence{Type: "presence", Online: false, At: t0.Add(time.Minute)}) || tw.Online.Value {
		t.Errorf("last will not applied: %+v", tw.Online)
	}
	data, err := json.Marshal(tw)
	if err != nil {
		t.Fatal(err)
	}
	var back Twin
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	back2, _ := json.Marshal(&back)
	if string(back2) != string(data) {
		t.Errorf("JSON round trip:\n%s\n%s", data, back2)
	}
}

func TestNewSignalsNeedsPaths(t *testing.T) {
	cat, err := catalog.Parse("mini.yaml", []byte("version: 1\nsignals:\n  - {id: 1, path: Vehicle.Speed, type: float}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewSignals(cat); err == nil {
		t.Error("a catalog without the twin's paths was accepted")
	}
}

func TestTwinPredicates(t *testing.T) {
	on := func(v bool) Reading[bool] { return Reading[bool]{Value: v, Since: t0, At: t0} }
	str := func(v string) Reading[string] { return Reading[string]{Value: v, Since: t0, At: t0} }
	for _, tc := range []struct {
		desc                 string
		tw                   Twin
		fog, wipers, stopped bool
	}{
		{"nothing known", Twin{}, false, false, false},
		{"front fog", Twin{FogFront: on(true)}, true, false, false},
		{"rear fog", Twin{FogRear: on(true), FogFront: on(false)}, true, false, false},
		{"fog off", Twin{FogRear: on(false), FogFront: on(false)}, false, false, false},
		{"wipers off", Twin{Wipers: str("OFF")}, false, false, false},
		{"wipers rain sensor", Twin{Wipers: str("RAIN_SENSOR")}, false, true, false},
		{"stopped", Twin{Speed: str(BandStopped)}, false, false, true},
		{"crawling", Twin{Speed: str(BandCrawling)}, false, false, false},
	} {
		if tc.tw.FogOn() != tc.fog || tc.tw.WipersOn() != tc.wipers || tc.tw.Stopped() != tc.stopped {
			t.Errorf("%s: fog %v wipers %v stopped %v", tc.desc, tc.tw.FogOn(), tc.tw.WipersOn(), tc.tw.Stopped())
		}
	}
	var tw Twin
	if tw.SetPresence(wire.Presence{Type: "presence", Online: true}) || tw.Online.Known() {
		t.Error("a presence without a time was applied")
	}
}

// TestApplyEveryLamp: every warning lamp of the catalog lands in its own
// entry, under its short name.
func TestApplyEveryLamp(t *testing.T) {
	sig, err := NewSignals(catalog.Default())
	if err != nil {
		t.Fatal(err)
	}
	tw := &Twin{Vehicle: "v"}
	for i, name := range sig.Lamps() {
		ch := sig.Apply(tw, catalog.Value{ID: mustID(t, LampPath(name)), Time: t0.Add(time.Duration(i)).UnixNano(), Num: 1})
		if ch != (Change{Field: FieldLamp, Lamp: name, Changed: true}) {
			t.Errorf("%s: %+v", name, ch)
		}
	}
	if len(tw.Lamps) != len(sig.Lamps()) {
		t.Errorf("lamps %v", tw.Lamps)
	}
	for name, r := range tw.Lamps {
		if !r.Value {
			t.Errorf("%s off", name)
		}
	}
	ch := sig.Apply(tw, catalog.Value{ID: mustID(t, LampPath("ABS")), Time: t0.UnixNano() + 100, Num: 2})
	if ch.Field != FieldInvalid || !tw.Lamps["ABS"].Value {
		t.Errorf("lamp value 2: %+v, %+v", ch, tw.Lamps["ABS"])
	}
}

func TestNewSignalsTypes(t *testing.T) {
	yaml := `version: 1
signals:
  - {id: 1, path: Vehicle.Speed, type: uint8}
  - {id: 2, path: Vehicle.Kanal.Location.Cell, type: cell}
  - {id: 3, path: Vehicle.Body.Lights.Fog.Front.IsOn, type: boolean}
  - {id: 4, path: Vehicle.Body.Lights.Fog.Rear.IsOn, type: boolean}
  - {id: 5, path: Vehicle.Body.Lights.Hazard.IsSignaling, type: boolean}
  - {id: 6, path: Vehicle.Body.Windshield.Front.Wiping.Mode, type: enum, allowed: [OFF, ON]}
`
	cat, err := catalog.Parse("types.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewSignals(cat); err == nil || !strings.Contains(err.Error(), "Vehicle.Speed is uint8") {
		t.Errorf("speed of the wrong type: %v", err)
	}
	fixed := strings.Replace(yaml, "type: uint8", "type: float", 1)
	if cat, err = catalog.Parse("types.yaml", []byte(fixed)); err != nil {
		t.Fatal(err)
	}
	if _, err := NewSignals(cat); err == nil || !strings.Contains(err.Error(), "lamps") {
		t.Errorf("no lamps: %v", err)
	}
	withLamp := fixed + "  - {id: 7, path: Vehicle.Kanal.Warning.Oil.IsOn, type: boolean}\n"
	if cat, err = catalog.Parse("types.yaml", []byte(withLamp)); err != nil {
		t.Fatal(err)
	}
	sig, err := NewSignals(cat)
	if err != nil || len(sig.Lamps()) != 1 || sig.Lamps()[0] != "Oil" {
		t.Errorf("one lamp: %v, %v", sig, err)
	}
}
