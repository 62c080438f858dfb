package fleet

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/can"
	"github.com/kanal-dev/kanal/geo"
	"github.com/kanal-dev/kanal/sim"
	"github.com/kanal-dev/kanal/sim/city"
)

func TestOptionDefaults(t *testing.T) {
	f := newFleet(t, Options{Seed: 77})
	o := f.Options()
	want := Options{DBC: demoDBC, Vehicles: DefaultVehicles, Seed: 77, Duration: DefaultDuration, Start: DefaultStart,
		IDPrefix: DefaultIDPrefix, BreakdownFor: DefaultBreakdownFor, ParkFor: DefaultParkFor, CellLevel: geo.DefaultLevel,
		City: city.Options{Center: city.DefaultCenter, SizeM: city.DefaultSizeM, BlockM: city.DefaultBlockM, Seed: 77},
		Fog:  FogOptions{RadiusM: DefaultFogRadiusM, SpeedKmh: DefaultFogSpeedKmh, Life: 6 * time.Minute, LightUse: DefaultFogLightUse}}
	if o != want {
		t.Fatalf("defaults\n%+v, want\n%+v", o, want)
	}
	// a long run: fog banks last at most 30 minutes
	long := newFleet(t, Options{Duration: 5 * time.Hour})
	if l := long.Options().Fog.Life; l != 30*time.Minute {
		t.Fatalf("fog life %v in a 5 h run", l)
	}
	if len(newFleet(t, Options{}).FogBanks()) != 0 {
		t.Fatal("fog without fog banks")
	}
}

// TestEventRates draws the events of many vehicles and checks their
// number against the rates, and that a lamp comes on once.
func TestEventRates(t *testing.T) {
	o := Options{Duration: 10 * time.Hour, WarningRate: 0.3, BreakdownRate: 2}
	var lamps, breaks int
	kinds := map[sim.Lamp]int{}
	const n = 400
	for i := range n {
		ev := newEvents(rand.New(rand.NewPCG(1, stream(i, 3))), o)
		seen := sim.Lamps(0)
		for k, l := range ev.lamps {
			if seen.Has(l.lamp) {
				t.Fatalf("vehicle %d: %v twice", i, l.lamp)
			}
			seen = seen.With(l.lamp)
			kinds[l.lamp]++
			if k > 0 && l.at < ev.lamps[k-1].at || l.at < 0 || l.at >= o.Duration.Seconds() {
				t.Fatalf("vehicle %d: lamp times %v", i, ev.lamps)
			}
		}
		lamps += len(ev.lamps)
		breaks += len(ev.breaks)
	}
	// a Poisson count of mean m is within 4 standard deviations
	check := func(what string, got int, rate float64) {
		m := rate * o.Duration.Hours() * n
		if math.Abs(float64(got)-m) > 4*math.Sqrt(m) {
			t.Errorf("%d %s, expected %.0f", got, what, m)
		}
	}
	check("breakdowns", breaks, o.BreakdownRate)
	if lamps < 800 || lamps > 1300 { // 3 expected per vehicle, fewer once repeats are dropped
		t.Errorf("%d lamps for %d vehicles at %v an hour for 10 hours", lamps, n, o.WarningRate)
	}
	if len(kinds) != len(sim.AlertLamps) {
		t.Errorf("lamps drawn: %v", kinds)
	}
	if got := newEvents(rand.New(rand.NewPCG(1, 1)), Options{Duration: time.Hour}); len(got.lamps)+len(got.breaks) != 0 {
		t.Error("events at rate 0")
	}
}

func TestWriteLogs(t *testing.T) {
	f := newFleet(t, Options{Vehicles: 3, Duration: 10 * time.Second})
	dir := filepath.Join(t.TempDir(), "new", "dir")
	if _, err := f.WriteLogs(ctxT(t), dir, Rules{}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		data, err := os.ReadFile(filepath.Join(dir, f.ID(i)+".log"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, candump(t, f, i)) {
			t.Fatalf("%s.log is not the vehicle's frames", f.ID(i))
		}
		lr := can.NewLogReader(bytes.NewReader(data), can.LogReaderOptions{Strict: true})
		for {
			if _, err := lr.Next(context.Background()); err != nil {
				break
			}
		}
		if bad, _ := lr.Malformed(); bad != 0 {
			t.Fatalf("%d malformed lines", bad)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, TruthFile)); err != nil {
		t.Fatal(err)
	}
	// a file where the directory should be
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	if _, err := f.WriteLogs(ctxT(t), file, Rules{}); err == nil {
		t.Fatal("logs written into a file")
	}
	if _, err := f.WriteLogs(ctxT(t), t.TempDir(), Rules{Lamps: []string{"X"}}); err == nil {
		t.Fatal("logs written with bad rules")
	}
	if _, err := ReadTruth(filepath.Join(t.TempDir(), "none.json")); err == nil {
		t.Fatal("read a missing truth")
	}
	os.WriteFile(file, []byte("{"), 0o644)
	if _, err := ReadTruth(file); err == nil || !strings.Contains(err.Error(), file) {
		t.Fatalf("read a broken truth: %v", err)
	}
}

func TestTruthCancelled(t *testing.T) {
	f := newFleet(t, Options{Vehicles: 50, Duration: 24 * time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err := f.Truth(ctx, Rules{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Truth past its deadline: %v", err)
	}
	if took := time.Since(began); took > 10*time.Second {
		t.Fatalf("cancelled truth took %v", took)
	}
}

func TestTruthText(t *testing.T) {
	cleared := DefaultStart.Add(3 * time.Minute)
	tr := &Truth{Seed: 3, Vehicles: 10, Start: DefaultStart, End: DefaultStart.Add(5 * time.Minute), Level: 13,
		Rules:    Rules{FogMinVehicles: 3, FogWindow: time.Minute, FogClearAfter: time.Minute, StoppedFor: time.Second, Lamps: []string{"ABS"}},
		FogBanks: []FogBank{{From: 0, To: time.Minute, VX: 1, VY: 0, RadiusM: 500, Lat: 48.1, Lon: 11.5}},
		Fog: []FogAlert{{ID: "fog:479e:1", Cell: "479e", Raised: DefaultStart.Add(time.Minute), Cleared: &cleared,
			Vehicles: []string{"sim-0001", "sim-0002", "sim-0003"}, Peak: 4}},
		Warnings:   []WarningAlert{{ID: "w", Vehicle: "sim-0009", Lamp: "ABS", Cell: "479f", At: DefaultStart.Add(2 * time.Second)}},
		Breakdowns: []BreakdownAlert{{ID: "b", Vehicle: "sim-0004", Cell: "47a0", Stopped: DefaultStart, Raised: DefaultStart.Add(time.Second)}},
	}
	var b strings.Builder
	if err := tr.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"truth: 10 vehicles, seed 3, 2025-11-12 06:45:00 to 06:50:00.000 UTC (5m0s), cells of level 13",
		"rules: fog at 3 vehicles (window 1m0s, clear after 1m0s); breakdown after 1s stopped; lamps ABS",
		"  1  06:45:00.000 to 06:46:00.000  over 48.1000N 11.5000E at mid-life, radius 500 m, drifting 4 km/h toward 90°",
		"  fog        479e  raised 06:46:00.000  cleared 06:48:00.000  3 vehicles (peak 4): sim-0001 sim-0002 sim-0003",
		"  warning    479f  at 06:45:02.000  ABS                  sim-0009",
		"  breakdown  47a0  stopped 06:45:00.000  raised 06:45:01.000  still raised at the end  sim-0004",
	} {
		if !strings.Contains(b.String(), want+"\n") {
			t.Errorf("text lacks %q:\n%s", want, b.String())
		}
	}
}
