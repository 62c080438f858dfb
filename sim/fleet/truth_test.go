package fleet

import (
	"bytes"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/geo"
	"github.com/kanal-dev/kanal/sim"
	"github.com/kanal-dev/kanal/sim/city"
)

// truthFleet is dense enough for fog alerts, warnings and breakdowns
// within five minutes.
var truthFleet = Options{Vehicles: 30, Seed: 7, Duration: 5 * time.Minute,
	Fog: FogOptions{Banks: 2, Life: 150 * time.Second}, WarningRate: 4, BreakdownRate: 3,
	BreakdownFor: 50 * time.Second}

var truthRules = Rules{FogClearAfter: 40 * time.Second, StoppedFor: 20 * time.Second}

// TestTruthAgreesWithFrames writes a fleet's logs, decodes every one with
// the agent's pipeline, computes the alerts from the decoded values on its
// own (a sweep over per-cell count timelines, not the truth's event
// engine), and wants the truth the simulator wrote beside the logs.
func TestTruthAgreesWithFrames(t *testing.T) {
	t.Parallel()
	f := newFleet(t, truthFleet)
	dir := t.TempDir()
	tr, err := f.WriteLogs(ctxT(t), dir, truthRules)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ReadTruth(filepath.Join(dir, TruthFile))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(strip(tr), strip(back)) {
		t.Fatal("truth.json does not read back as the truth returned")
	}
	if len(tr.Fog) < 2 || len(tr.Warnings) < 2 || len(tr.Breakdowns) < 1 {
		t.Fatalf("truth has %d fog alerts, %d warnings, %d breakdowns: too few to compare", len(tr.Fog), len(tr.Warnings), len(tr.Breakdowns))
	}
	cleared := 0
	for _, a := range tr.Fog {
		if a.Cleared != nil {
			cleared++
		}
	}
	if cleared == 0 {
		t.Fatal("no fog alert clears within the run")
	}
	logs := make([]decodedLog, f.Len())
	for i := range logs {
		logs[i] = decodeFile(t, filepath.Join(dir, f.ID(i)+".log"))
	}
	got := independentTruth(t, f, logs, truthRules)
	want := strip(tr)
	if !reflect.DeepEqual(got.Fog, want.Fog) {
		t.Errorf("fog alerts differ:\ndecoded   %v\nsimulator %v", got.Fog, want.Fog)
	}
	if !reflect.DeepEqual(got.Warnings, want.Warnings) {
		t.Errorf("warnings differ:\ndecoded   %v\nsimulator %v", got.Warnings, want.Warnings)
	}
	if !reflect.DeepEqual(got.Breakdowns, want.Breakdowns) {
		t.Errorf("breakdowns differ:\ndecoded   %v\nsimulator %v", got.Breakdowns, want.Breakdowns)
	}
	var text bytes.Buffer
	if err := tr.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, a := range tr.Fog {
		if !strings.Contains(text.String(), a.Cell+"  raised "+clock(a.Raised)) {
			t.Errorf("text lacks fog alert %s:\n%s", a.ID, text.String())
		}
	}
}

// flat is a comparable digest of alerts: ids and times.
type flat struct {
	Fog, Warnings, Breakdowns []string
}

func tstr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func strip(tr *Truth) flat {
	var f flat
	for _, a := range tr.Fog {
		f.Fog = append(f.Fog, fmt.Sprintf("%s cleared %s", a.ID, tstr(a.Cleared)))
	}
	for _, a := range tr.Warnings {
		f.Warnings = append(f.Warnings, fmt.Sprintf("%s %s", a.ID, a.Vehicle))
	}
	for _, a := range tr.Breakdowns {
		f.Breakdowns = append(f.Breakdowns, fmt.Sprintf("%s %s raised %s cleared %s", a.ID, a.Vehicle, tstr(&a.Raised), tstr(a.Cleared)))
	}
	sort.Strings(f.Fog)
	sort.Strings(f.Warnings)
	sort.Strings(f.Breakdowns)
	return f
}

// independentTruth computes the alerts from decoded logs.
func independentTruth(t *testing.T, f *Fleet, logs []decodedLog, rules Rules) flat {
	t.Helper()
	r, _, err := rules.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	grid, _ := geo.NewGrid(f.Options().CellLevel)
	end := f.Options().Start.Add(f.Options().Duration).UnixNano()
	type span struct {
		cell     geo.Cell
		from, to int64
	}
	var spans []span // a vehicle in a cell with its fog lights on
	var out flat
	for i, lg := range logs {
		var lat, lon float64
		var cell geo.Cell
		fogF, fogR, hazard, stopped := false, false, false, false
		fogOn := func() bool { return fogF || fogR }
		since := int64(-1) // fog lights on in cell since
		lamps := map[string]bool{}
		bdStart := int64(-1)
		var bdCell geo.Cell
		bdRaised := false
		var bdIdx int
		var prevFrame int64
		flush := func(at int64) {
			if since >= 0 {
				spans = append(spans, span{cell, since, at})
				since = -1
			}
		}
		bd := func(at int64) {
			on := hazard && stopped
			switch {
			case on && bdStart < 0:
				bdStart, bdCell, bdRaised = at, cell, false
			case !on && bdStart >= 0:
				if bdRaised {
					out.Breakdowns[bdIdx] += " cleared " + tstr(ptr(time.Unix(0, at)))
				}
				bdStart = -1
			}
		}
		for j, rd := range lg.readings {
			// a breakdown raised by time alone, before this reading
			if bdStart >= 0 && !bdRaised && bdStart+int64(r.StoppedFor) <= rd.t {
				bdRaised, bdIdx = true, len(out.Breakdowns)
				out.Breakdowns = append(out.Breakdowns, fmt.Sprintf("breakdown:%s:%d %s raised %s", bdCell.Token(), bdStart, f.ID(i),
					tstr(ptr(time.Unix(0, bdStart+int64(r.StoppedFor))))))
			}
			if gap := lg.frames[rd.frame] - prevFrame; prevFrame != 0 && gap > int64(1500*time.Millisecond) && fogOn() {
				t.Fatalf("%s fell silent with fog lights on", f.ID(i))
			}
			prevFrame = lg.frames[rd.frame]
			switch rd.path {
			case pLat:
				lat = rd.v
			case pLon:
				lon = rd.v
				c, err := grid.Cell(lat, lon)
				if err != nil {
					t.Fatal(err)
				}
				if c != cell {
					flush(rd.t)
					cell = c
					if fogOn() {
						since = rd.t
					}
				}
			case pFogF, pFogR:
				was := fogOn()
				if rd.path == pFogF {
					fogF = rd.v == 1
				} else {
					fogR = rd.v == 1
				}
				switch {
				case !was && fogOn():
					since = rd.t
				case was && !fogOn():
					flush(rd.t)
				}
			case pHazard:
				hazard = rd.v == 1
				bd(rd.t)
			case pSpeed:
				stopped = rd.v < 2
				bd(rd.t)
			default:
				name := strings.TrimSuffix(strings.TrimPrefix(rd.path, "Vehicle.Kanal.Warning."), ".IsOn")
				alert := false
				for _, l := range r.Lamps {
					alert = alert || l == name
				}
				if rd.v == 1 && !lamps[name] && alert {
					out.Warnings = append(out.Warnings, fmt.Sprintf("warning:%s:%s:%d %s", cell.Token(), name, rd.t, f.ID(i)))
				}
				lamps[name] = rd.v == 1
			}
			_ = j
		}
		if bdStart >= 0 && !bdRaised && bdStart+int64(r.StoppedFor) <= end {
			out.Breakdowns = append(out.Breakdowns, fmt.Sprintf("breakdown:%s:%d %s raised %s", bdCell.Token(), bdStart, f.ID(i),
				tstr(ptr(time.Unix(0, bdStart+int64(r.StoppedFor))))))
		}
		flush(math.MaxInt64)
	}
	for k, b := range out.Breakdowns {
		if !strings.Contains(b, " cleared ") {
			out.Breakdowns[k] += " cleared -"
		}
	}
	// per cell: a timeline of the count, swept for raise and clear
	type step struct {
		at int64
		d  int
	}
	byCell := map[geo.Cell][]step{}
	for _, s := range spans {
		byCell[s.cell] = append(byCell[s.cell], step{s.from, +1})
		if s.to != math.MaxInt64 {
			byCell[s.cell] = append(byCell[s.cell], step{s.to, -1})
		}
	}
	for c, steps := range byCell {
		sort.SliceStable(steps, func(i, j int) bool { return steps[i].at < steps[j].at })
		n, active, below := 0, "", int64(-1)
		clearBy := func(at int64) {
			if active != "" && below >= 0 && below+int64(r.FogClearAfter) <= at {
				out.Fog = append(out.Fog, active+" cleared "+tstr(ptr(time.Unix(0, below+int64(r.FogClearAfter)))))
				active, below = "", -1
			}
		}
		for _, s := range steps {
			clearBy(s.at)
			n += s.d
			switch {
			case n >= r.FogMinVehicles && active == "":
				active = fmt.Sprintf("fog:%s:%d", c.Token(), s.at)
			case n >= r.FogMinVehicles:
				below = -1
			case active != "" && below < 0:
				below = s.at
			}
		}
		clearBy(end)
		if active != "" {
			out.Fog = append(out.Fog, active+" cleared -")
		}
	}
	sort.Strings(out.Fog)
	sort.Strings(out.Warnings)
	sort.Strings(out.Breakdowns)
	return out
}

func ptr(t time.Time) *time.Time { return &t }

// TestFogMakesVehiclesSwitchOn decodes vehicles' frames and checks them
// against the fog banks' geometry: fog lights only in or just out of fog,
// most vehicles deep in fog with them on, wipers and low beam in fog,
// slower driving in fog.
func TestFogMakesVehiclesSwitchOn(t *testing.T) {
	t.Parallel()
	f := newFleet(t, Options{Vehicles: 14, Seed: 3, Duration: 3 * time.Minute,
		Fog: FogOptions{Banks: 1, RadiusM: 1200, Life: 3 * time.Minute}})
	fg := fog(f.FogBanks())
	c := f.City()
	start := f.Options().Start.UnixNano()
	interval := wiperIndex(t, "INTERVAL")
	deepUsers, deepVehicles := 0, 0
	var speedIn, speedOut []float64
	for i := range f.Len() {
		lg := decodeLog(t, bytes.NewReader(candump(t, f, i)))
		var x, y, lat float64
		lastInside := math.Inf(-1) // s
		deepSince := math.Inf(1)
		sawFog, deepLong := false, false
		for _, rd := range lg.readings {
			ts := float64(rd.t-start) / 1e9
			margin := func(dm float64) bool { // inside, at least dm from the edge
				for k := range fg {
					r := fg[k].Radius(ts)
					cx, cy := fg[k].Center(ts)
					if r > dm && math.Hypot(x-cx, y-cy) < r-dm {
						return true
					}
				}
				return false
			}
			in := margin(-5) // GPS noise is under a metre, the fix up to 200 ms old
			if in {
				lastInside = ts
			}
			deep := margin(30)
			switch {
			case deep && math.IsInf(deepSince, 1):
				deepSince = ts
			case !deep:
				deepSince = math.Inf(1)
			}
			if ts-deepSince > 5 { // past the longest reaction time
				deepLong = true
			}
			switch rd.path {
			case pLat:
				lat = rd.v
			case pLon:
				x, y = c.XY(lat, rd.v)
			case pFogF, pFogR:
				if rd.v == 1 {
					sawFog = sawFog || ts-deepSince > 5
					if ts-lastInside > 8.5 { // the longest a driver leaves them on
						t.Fatalf("%s: fog lights on at t+%.1f s, %.1f s after leaving the fog", f.ID(i), ts, ts-lastInside)
					}
				}
			case pWipers:
				if deep && rd.v != interval {
					t.Fatalf("%s: wipers %v deep in fog at t+%.1f s", f.ID(i), rd.v, ts)
				}
				if !in && rd.v == interval {
					t.Fatalf("%s: wipers on interval out of fog at t+%.1f s", f.ID(i), ts)
				}
			case pLowBeam:
				if deep && rd.v != 1 {
					t.Fatalf("%s: no low beam in fog at t+%.1f s", f.ID(i), ts)
				}
			case pSpeed:
				if rd.v > 5 {
					if deep {
						speedIn = append(speedIn, rd.v)
					} else if !in {
						speedOut = append(speedOut, rd.v)
					}
				}
			}
		}
		if deepLong {
			deepVehicles++
			if sawFog {
				deepUsers++
			}
		}
	}
	t.Logf("%d of %d vehicles deep in fog switched the fog lights on", deepUsers, deepVehicles)
	if deepVehicles < 5 {
		t.Fatalf("only %d vehicles were deep in fog for long: the test saw too little", deepVehicles)
	}
	if share := float64(deepUsers) / float64(deepVehicles); share < 0.6 {
		t.Errorf("%d of %d vehicles deep in fog switched the fog lights on", deepUsers, deepVehicles)
	}
	if mi, mo := mean(speedIn), mean(speedOut); !(mi < 0.8*mo) {
		t.Errorf("mean speed %.1f km/h in fog, %.1f out of it: want slower in fog", mi, mo)
	}
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// TestTruthRules feeds the truth's engine made-up reports and checks the
// rules: raised at the Nth vehicle and not at N-1, a vehicle counted
// once, hysteresis on clearing, silent vehicles counted for the window.
func TestTruthRules(t *testing.T) {
	f := newFleet(t, Options{Vehicles: 5, Duration: time.Hour})
	grid, _ := geo.NewGrid(geo.DefaultLevel)
	cellA, _ := grid.Cell(48.137, 11.575)
	cellB, _ := grid.Cell(48.20, 11.70)
	start := f.Options().Start.UnixNano()
	s := func(sec float64) int64 { return start + int64(sec*1e9) }
	at := func(sec float64) time.Time { return time.Unix(0, s(sec)).UTC() }
	rep := func(sec float64, k reportKind, val uint64) report { return report{s(sec), k, val} }
	in := func(sec float64, c geo.Cell) report { return rep(sec, repCell, uint64(c)) }
	fogOn := func(sec float64) report { return rep(sec, repFog, 1) }
	fogOff := func(sec float64) report { return rep(sec, repFog, 0) }
	rules := Rules{FogClearAfter: 60 * time.Second, FogWindow: 100 * time.Second, StoppedFor: 30 * time.Second}
	for _, tc := range []struct {
		name  string
		vs    [][]report
		fog   []string // "raised-cleared" in seconds, "-" for never
		warn  int
		bdown []string
	}{
		{"two are not enough", [][]report{
			{in(1, cellA), fogOn(2)}, {in(1, cellA), fogOn(3)},
		}, nil, 0, nil},
		{"the third raises", [][]report{
			{in(1, cellA), fogOn(2)}, {in(1, cellA), fogOn(3)}, {in(1, cellA), fogOn(4)},
		}, []string{"4-"}, 0, nil},
		{"the same vehicle counts once", [][]report{
			{in(1, cellA), fogOn(2), fogOff(3), fogOn(4), fogOff(5), fogOn(6)}, {in(1, cellA), fogOn(3)},
		}, nil, 0, nil},
		{"a vehicle entering with fog lights on", [][]report{
			{in(1, cellA), fogOn(2)}, {in(1, cellA), fogOn(3)}, {in(1, cellB), fogOn(3), in(10, cellA)},
		}, []string{"10-"}, 0, nil},
		{"cleared after clear_after below", [][]report{
			{in(1, cellA), fogOn(2)}, {in(1, cellA), fogOn(3)}, {in(1, cellA), fogOn(4), fogOff(100)},
		}, []string{"4-160"}, 0, nil},
		{"back above within clear_after: no clear", [][]report{
			{in(1, cellA), fogOn(2)}, {in(1, cellA), fogOn(3)}, {in(1, cellA), fogOn(4), fogOff(100), fogOn(150), fogOff(200)},
		}, []string{"4-260"}, 0, nil},
		{"leaving the cell takes it out", [][]report{
			{in(1, cellA), fogOn(2)}, {in(1, cellA), fogOn(3)}, {in(1, cellA), fogOn(4), in(50, cellB)},
		}, []string{"4-110"}, 0, nil},
		{"two episodes", [][]report{
			{in(1, cellA), fogOn(2)}, {in(1, cellA), fogOn(3)}, {in(1, cellA), fogOn(4), fogOff(10), fogOn(300)},
		}, []string{"4-70", "300-"}, 0, nil},
		{"silent with fog on: counted for the window", [][]report{
			{in(1, cellA), fogOn(2)}, {in(1, cellA), fogOn(3)}, {in(1, cellA), fogOn(4), rep(20, repSilent, 0)},
		}, []string{"4-180"}, 0, nil},
		{"awake again within the window", [][]report{
			{in(1, cellA), fogOn(2)}, {in(1, cellA), fogOn(3)}, {in(1, cellA), fogOn(4), rep(20, repSilent, 0), rep(90, repAwake, 0)},
		}, []string{"4-"}, 0, nil},
		{"warning lamps", [][]report{
			{in(1, cellA), rep(5, repLamp, uint64(sim.LampABS)), rep(6, repLamp, uint64(sim.LampService))},
			{rep(5, repLamp, uint64(sim.LampESC))}, // no cell yet: no alert
		}, nil, 1, nil},
		{"breakdown", [][]report{
			{in(1, cellA), rep(5, repHazard, 1), rep(10, repStopped, 1), rep(100, repHazard, 0)},
			{in(1, cellA), rep(5, repHazard, 1), rep(6, repStopped, 1), rep(20, repStopped, 0)},
		}, nil, 0, []string{"10-40-100"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var vs []*Vehicle
			for i, reps := range tc.vs {
				vs = append(vs, &Vehicle{ID: f.ID(i), Index: i, done: true, rep: reporter{reports: reps}})
			}
			tr, err := f.TruthOf(vs, rules)
			if err != nil {
				t.Fatal(err)
			}
			var fogGot []string
			for _, a := range tr.Fog {
				cl := ""
				if a.Cleared != nil {
					cl = fmt.Sprint(a.Cleared.Sub(f.Options().Start).Seconds())
				}
				fogGot = append(fogGot, fmt.Sprintf("%v-%s", a.Raised.Sub(f.Options().Start).Seconds(), cl))
				if !strings.HasPrefix(a.ID, "fog:"+a.Cell+":") || a.ID != fmt.Sprintf("fog:%s:%d", a.Cell, a.Raised.UnixNano()) {
					t.Errorf("fog id %s", a.ID)
				}
			}
			if !reflect.DeepEqual(fogGot, tc.fog) {
				t.Errorf("fog %v, want %v", fogGot, tc.fog)
			}
			if len(tr.Warnings) != tc.warn {
				t.Errorf("warnings %+v, want %d", tr.Warnings, tc.warn)
			}
			for _, w := range tr.Warnings {
				if w.Lamp != "ABS" || !w.At.Equal(at(5)) || w.ID != fmt.Sprintf("warning:%s:ABS:%d", cellA.Token(), s(5)) {
					t.Errorf("warning %+v", w)
				}
			}
			var bd []string
			for _, b := range tr.Breakdowns {
				cl := "-"
				if b.Cleared != nil {
					cl = fmt.Sprint(b.Cleared.Sub(f.Options().Start).Seconds())
				}
				bd = append(bd, fmt.Sprintf("%v-%v-%s", b.Stopped.Sub(f.Options().Start).Seconds(), b.Raised.Sub(f.Options().Start).Seconds(), cl))
			}
			if !reflect.DeepEqual(bd, tc.bdown) {
				t.Errorf("breakdowns %v, want %v", bd, tc.bdown)
			}
		})
	}
}

func TestTruthPartialAndErrors(t *testing.T) {
	f := newFleet(t, Options{Vehicles: 1, Duration: time.Minute})
	v, err := f.Vehicle(0)
	if err != nil {
		t.Fatal(err)
	}
	for range 870 { // ten seconds
		if _, err := v.Next(); err != nil {
			t.Fatal(err)
		}
	}
	tr, err := f.TruthOf([]*Vehicle{v}, Rules{})
	if err != nil {
		t.Fatal(err)
	}
	if d := tr.End.Sub(tr.Start); d < 9*time.Second || d > 11*time.Second {
		t.Fatalf("truth of a vehicle 10 s into a minute ends after %v", d)
	}
	if _, err := f.TruthOf(nil, Rules{Lamps: []string{"Nope"}}); err == nil || !strings.Contains(err.Error(), `"Nope"`) {
		t.Fatalf("unknown lamp: %v", err)
	}
	if _, err := f.TruthOf(nil, Rules{FogMinVehicles: -1}); err == nil {
		t.Fatal("fog_min_vehicles -1")
	}
}

// TestParkingAndBreakdowns decodes vehicles that park between trips and
// break down, and checks what the frames say: the bus falls silent only
// after the vehicle stood in P with its lights off, it comes back in P;
// a broken-down vehicle comes to a stop with hazard lights on and stands
// for BreakdownFor.
func TestParkingAndBreakdowns(t *testing.T) {
	t.Parallel()
	f := newFleet(t, Options{Vehicles: 5, Seed: 11, Duration: 12 * time.Minute, ParkFor: 30 * time.Second,
		BreakdownRate: 6, BreakdownFor: 40 * time.Second, City: city.Options{SizeM: 1500}})
	const p = 126 // SelectedGear P in the catalog
	gaps, breakdowns := 0, 0
	for i := range f.Len() {
		lg := decodeLog(t, bytes.NewReader(candump(t, f, i)))
		gear, speed := -1.0, -1.0
		hazardOn := int64(-1)
		stoppedAt := int64(-1)
		for k, rd := range lg.readings {
			if k > 0 {
				prev := lg.readings[k-1]
				if gap := rd.t - prev.t; gap > int64(1500*time.Millisecond) {
					gaps++
					if gear != p || speed != 0 {
						t.Fatalf("%s fell silent in gear %v at %v km/h", f.ID(i), gear, speed)
					}
					if gap < int64(30*time.Second) {
						t.Fatalf("%s parked for %v, under the 30 s minimum", f.ID(i), time.Duration(gap))
					}
					if rd.path == pGear && rd.v != p {
						t.Fatalf("%s woke up in gear %v", f.ID(i), rd.v)
					}
				}
			}
			switch rd.path {
			case pGear:
				gear = rd.v
			case pSpeed:
				speed = rd.v
				if hazardOn >= 0 && speed == 0 && stoppedAt < 0 {
					stoppedAt = rd.t
				}
			case pHazard:
				switch {
				case rd.v == 1 && hazardOn < 0:
					hazardOn, stoppedAt = rd.t, -1
				case rd.v == 0 && hazardOn >= 0:
					if stoppedAt < 0 || stoppedAt-hazardOn > int64(15*time.Second) {
						t.Fatalf("%s: hazard lights on at %v without coming to a stop", f.ID(i), time.Unix(0, hazardOn))
					}
					if stood := time.Duration(rd.t - stoppedAt); stood < 39*time.Second || stood > 42*time.Second {
						t.Fatalf("%s stood %v with hazard lights, want 40 s", f.ID(i), stood)
					}
					breakdowns++
					hazardOn = -1
				}
			}
		}
	}
	t.Logf("%d parking gaps, %d breakdowns", gaps, breakdowns)
	if gaps < 3 || breakdowns < 3 {
		t.Fatalf("%d parking gaps and %d breakdowns: the test saw too little", gaps, breakdowns)
	}
}
