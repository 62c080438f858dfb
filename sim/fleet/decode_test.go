package fleet

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/kanal-dev/kanal/can"
	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/dbc"
)

// reading is one catalog value decoded from a log, with its frame's index.
type reading struct {
	t     int64 // Unix ns
	frame int
	path  string
	v     float64
}

// decodedLog is one vehicle's log through the agent's decode pipeline
// (DBC and mapping), independent of the simulator's own bookkeeping.
type decodedLog struct {
	readings []reading
	frames   []int64 // every frame's time
}

func decodeFile(t testing.TB, path string) decodedLog {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return decodeLog(t, f)
}

func decodeLog(t testing.TB, r io.Reader) decodedLog {
	t.Helper()
	pipe, err := dbc.NewPipeline(dbc.PipelineOptions{DBC: []string{demoDBC}, Mapping: demoMapping})
	if err != nil {
		t.Fatal(err)
	}
	cat := pipe.Catalog()
	lr := can.NewLogReader(r, can.LogReaderOptions{Strict: true})
	var out decodedLog
	var fv dbc.FrameValues
	for {
		tf, err := lr.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		pipe.Decode(&tf, &fv)
		if fv.Result.Status != dbc.Decoded || fv.Result.OutOfRange != 0 {
			t.Fatalf("frame %v: %v, %d values out of range", tf.Frame, fv.Result.Status, fv.Result.OutOfRange)
		}
		n := len(out.frames)
		out.frames = append(out.frames, tf.Time.UnixNano())
		for _, cv := range fv.Catalog {
			e, _ := cat.ByID(cv.ID)
			if !e.Fits(cv.Num) {
				t.Fatalf("%s = %v does not fit %s", e.Path, cv.Num, e.Type)
			}
			if interesting(e.Path) {
				out.readings = append(out.readings, reading{cv.Time, n, e.Path, cv.Num})
			}
		}
	}
}

// The catalog paths the tests look at.
const (
	pLat     = "Vehicle.CurrentLocation.Latitude"
	pLon     = "Vehicle.CurrentLocation.Longitude"
	pFogF    = "Vehicle.Body.Lights.Fog.Front.IsOn"
	pFogR    = "Vehicle.Body.Lights.Fog.Rear.IsOn"
	pHazard  = "Vehicle.Body.Lights.Hazard.IsSignaling"
	pSpeed   = "Vehicle.Speed"
	pWipers  = "Vehicle.Body.Windshield.Front.Wiping.Mode"
	pLowBeam = "Vehicle.Body.Lights.Beam.Low.IsOn"
	pGear    = "Vehicle.Powertrain.Transmission.SelectedGear"
)

func interesting(path string) bool {
	switch path {
	case pLat, pLon, pFogF, pFogR, pHazard, pSpeed, pWipers, pLowBeam, pGear, "Vehicle.CurrentLocation.Heading",
		"Vehicle.Body.Lights.DirectionIndicator.Left.IsSignaling", "Vehicle.Body.Lights.DirectionIndicator.Right.IsSignaling":
		return true
	}
	return strings.HasPrefix(path, "Vehicle.Kanal.Warning.")
}

// wiperIndex returns the catalog's numeric value of a wiper mode label.
func wiperIndex(t testing.TB, label string) float64 {
	e, ok := catalog.Default().ByPath(pWipers)
	if !ok {
		t.Fatal("no wiper mode in the catalog")
	}
	v, ok := e.Index(label)
	if !ok {
		t.Fatalf("no wiper mode %s", label)
	}
	return v
}
