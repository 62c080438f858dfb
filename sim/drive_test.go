package sim

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/kanal-dev/kanal/can"
	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/dbc"
)

const demoDir = "../testdata/candumps"

func demoDB(t *testing.T) *dbc.Database {
	t.Helper()
	db, err := dbc.Load(filepath.Join(demoDir, "kanal_demo.dbc"))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// TestDrivesUpToDate regenerates every demo drive and compares it with the
// file in testdata byte for byte: the files are what `go generate ./sim`
// writes, and the generator is deterministic.
func TestDrivesUpToDate(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		// Go may fuse a*b+c into one FMA instruction on other architectures,
		// which can move a value across a rounding boundary of the encoder.
		t.Skipf("drives are generated on amd64; %s may round a last bit differently", runtime.GOARCH)
	}
	db := demoDB(t)
	var total int64
	for _, sc := range DemoDrives() {
		var buf bytes.Buffer
		w := can.NewLogWriter(&buf)
		if _, err := Drive(db, sc, w); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(demoDir, sc.Name+".log")
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("%s differs from a fresh run: run `go generate ./sim`", path)
		}
		total += int64(len(want))
	}
	if total > 3<<20 {
		t.Errorf("demo drives are %d bytes, want under 3 MiB for git", total)
	}
}

// reading is one catalog value with its time offset from the drive's start.
type reading struct {
	t float64
	v float64
}

// decodeDrive decodes a drive with the decode pipeline and the demo
// mapping and returns every catalog reading by path.
func decodeDrive(t *testing.T, sc Scenario) map[string][]reading {
	t.Helper()
	pipe, err := dbc.NewPipeline(dbc.PipelineOptions{DBC: []string{filepath.Join(demoDir, "kanal_demo.dbc")},
		Mapping: filepath.Join(demoDir, "kanal_demo.mapping.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	lr, err := can.OpenLog(filepath.Join(demoDir, sc.Name+".log"), can.LogReaderOptions{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	defer lr.Close()
	var fv dbc.FrameValues
	got := map[string][]reading{}
	cat := pipe.Catalog()
	frames := 0
	for {
		tf, err := lr.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		frames++
		pipe.Decode(&tf, &fv)
		if res := fv.Result; res.Status != dbc.Decoded || res.OutOfRange != 0 {
			t.Fatalf("%s frame %d (%v): status %v, %d values out of range", sc.Name, frames, tf.Frame, res.Status, res.OutOfRange)
		}
		for _, cv := range fv.Catalog {
			e, _ := cat.ByID(cv.ID)
			if !e.Fits(cv.Num) {
				t.Fatalf("%s: %s = %v does not fit %s", sc.Name, e.Path, cv.Num, e.Type)
			}
			got[e.Path] = append(got[e.Path], reading{tf.Time.Sub(sc.Start).Seconds(), cv.Num})
		}
	}
	return got
}

// onDuring returns the first and last time a boolean reading is 1.
func onDuring(rs []reading) (first, last float64, ok bool) {
	for _, r := range rs {
		if r.v == 1 {
			if !ok {
				first, ok = r.t, true
			}
			last = r.t
		}
	}
	return first, last, ok
}

func TestDemoDrivesDecode(t *testing.T) {
	drives := map[string]Scenario{}
	for _, sc := range DemoDrives() {
		drives[sc.Name] = sc
	}
	t.Run("fog", func(t *testing.T) {
		got := decodeDrive(t, drives["drive_fog"])
		for _, p := range []string{"Vehicle.Body.Lights.Fog.Front.IsOn", "Vehicle.Body.Lights.Fog.Rear.IsOn"} {
			first, last, ok := onDuring(got[p])
			if !ok || first < 60 || first > 60.3 || last < 119.7 || last > 120 {
				t.Errorf("%s on from %.2f to %.2f s (%v), want 60 to 120", p, first, last, ok)
			}
		}
		if _, _, ok := onDuring(got["Vehicle.Kanal.Warning.ABS.IsOn"]); ok {
			t.Error("ABS lamp on in the fog drive")
		}
		modes := map[float64]bool{}
		for _, r := range got["Vehicle.Body.Windshield.Front.Wiping.Mode"] {
			modes[r.v] = true
		}
		e, _ := catalog.Default().ByPath("Vehicle.Body.Windshield.Front.Wiping.Mode")
		interval, _ := e.Index("INTERVAL")
		if !modes[0] || !modes[interval] {
			t.Errorf("wiper modes %v, want OFF and INTERVAL", modes)
		}
	})
	t.Run("warning", func(t *testing.T) {
		got := decodeDrive(t, drives["drive_warning"])
		first, last, ok := onDuring(got["Vehicle.Kanal.Warning.ABS.IsOn"])
		if !ok || first < 75 || first > 75.6 || last < 119 {
			t.Errorf("ABS lamp on from %.2f to %.2f s (%v), want from 75 to the end", first, last, ok)
		}
		if _, _, ok := onDuring(got["Vehicle.Body.Lights.Fog.Front.IsOn"]); ok {
			t.Error("fog lights on in the warning drive")
		}
	})
	t.Run("city", func(t *testing.T) {
		got := decodeDrive(t, drives["drive_city"])
		for _, p := range []string{"Vehicle.Speed", "Vehicle.CurrentLocation.Latitude", "Vehicle.CurrentLocation.Longitude",
			"Vehicle.Powertrain.FuelSystem.RelativeLevel", "Vehicle.TraveledDistance", "Vehicle.LowVoltageBattery.CurrentVoltage",
			"Vehicle.Powertrain.CombustionEngine.Speed", "Vehicle.Chassis.Axle.Row1.Wheel.Left.Tire.Pressure",
			"Vehicle.Powertrain.CombustionEngine.EngineOil.Level", "Vehicle.Exterior.Humidity"} {
			if len(got[p]) == 0 {
				t.Errorf("no %s readings", p)
			}
		}
		first, last, ok := onDuring(got["Vehicle.Body.Lights.Hazard.IsSignaling"])
		if !ok || first < 150 || last > 158 {
			t.Errorf("hazard on from %.2f to %.2f s (%v), want 150 to 158", first, last, ok)
		}
		maxSpeed := 0.0
		for _, r := range got["Vehicle.Speed"] {
			maxSpeed = max(maxSpeed, r.v)
		}
		if maxSpeed < 25 || maxSpeed > 60 {
			t.Errorf("city top speed %.1f km/h", maxSpeed)
		}
		lat := got["Vehicle.CurrentLocation.Latitude"]
		if l := lat[len(lat)-1].v; l < 48.10 || l > 48.18 {
			t.Errorf("drive ended at latitude %v, outside Munich", l)
		}
	})
}
