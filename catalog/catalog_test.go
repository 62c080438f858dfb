package catalog

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefault(t *testing.T) {
	c := Default()
	if c.Len() < 80 {
		t.Fatalf("default catalog has %d signals, want at least 80", c.Len())
	}
	for _, tc := range []struct {
		path string
		typ  Type
		unit string
	}{
		{"Vehicle.Speed", Float, "km/h"},
		{"Vehicle.CurrentLocation.Latitude", Double, "degrees"},
		{"Vehicle.CurrentLocation.Longitude", Double, "degrees"},
		{"Vehicle.CurrentLocation.Heading", Double, "degrees"},
		{"Vehicle.CurrentLocation.Altitude", Double, "m"},
		{"Vehicle.Body.Lights.Fog.Front.IsOn", Bool, ""},
		{"Vehicle.Body.Lights.Fog.Rear.IsOn", Bool, ""},
		{"Vehicle.Body.Lights.Hazard.IsSignaling", Bool, ""},
		{"Vehicle.Body.Windshield.Front.Wiping.Mode", Enum, ""},
		{"Vehicle.Powertrain.FuelSystem.RelativeLevel", Uint8, "percent"},
		{"Vehicle.TraveledDistance", Uint32, "m"},
		{"Vehicle.Kanal.Warning.MalfunctionIndicator.IsOn", Bool, ""},
		{"Vehicle.Kanal.Warning.ABS.IsOn", Bool, ""},
		{"Vehicle.Kanal.Warning.Airbag.IsOn", Bool, ""},
		{"Vehicle.Kanal.Warning.BrakeSystem.IsOn", Bool, ""},
		{"Vehicle.Kanal.Warning.OilPressure.IsOn", Bool, ""},
		{"Vehicle.Kanal.Warning.CoolantTemperature.IsOn", Bool, ""},
		{"Vehicle.Kanal.Warning.BatteryCharge.IsOn", Bool, ""},
		{"Vehicle.Kanal.Warning.ESC.IsOn", Bool, ""},
		{"Vehicle.Kanal.Warning.TirePressure.IsOn", Bool, ""},
	} {
		e, ok := c.ByPath(tc.path)
		if !ok {
			t.Errorf("%s missing", tc.path)
			continue
		}
		if e.Type != tc.typ || e.Unit != tc.unit {
			t.Errorf("%s: type %s unit %q, want %s %q", tc.path, e.Type, e.Unit, tc.typ, tc.unit)
		}
		if e.ID == 0 || e.ID > MaxDefaultID {
			t.Errorf("%s: id %d outside the default range", tc.path, e.ID)
		}
		if back, ok := c.ByID(e.ID); !ok || back.Path != tc.path {
			t.Errorf("ByID(%d) = %v, want %s", e.ID, back, tc.path)
		}
	}
	// The domains the issue asks for each have signals.
	for _, prefix := range []string{"Vehicle.Speed", "Vehicle.CurrentLocation.", "Vehicle.Body.Lights.",
		"Vehicle.Body.Windshield.", "Vehicle.Powertrain.CombustionEngine.", "Vehicle.Powertrain.FuelSystem.",
		"Vehicle.LowVoltageBattery.", "Vehicle.Kanal.Warning."} {
		n := 0
		for _, e := range c.Entries() {
			if strings.HasPrefix(e.Path, prefix) {
				n++
			}
		}
		if n == 0 {
			t.Errorf("no signal under %s", prefix)
		}
	}
}

// TestDefaultIDsFrozen pins a few ids: changing one breaks every stored
// record and deployed agent. Extend the list, never edit it.
func TestDefaultIDsFrozen(t *testing.T) {
	c := Default()
	for path, id := range map[string]uint32{
		"Vehicle.Speed":                               1,
		"Vehicle.TraveledDistance":                    2,
		"Vehicle.CurrentLocation.Latitude":            100,
		"Vehicle.CurrentLocation.Longitude":           101,
		"Vehicle.Body.Lights.Fog.Front.IsOn":          200,
		"Vehicle.Body.Lights.Fog.Rear.IsOn":           201,
		"Vehicle.Body.Lights.Hazard.IsSignaling":      202,
		"Vehicle.Body.Windshield.Front.Wiping.Mode":   300,
		"Vehicle.Powertrain.FuelSystem.RelativeLevel": 500,
		"Vehicle.Kanal.Warning.ABS.IsOn":              601,
	} {
		if e, ok := c.ByPath(path); !ok || e.ID != id {
			t.Errorf("%s: id changed or missing (got %v), want %d", path, e, id)
		}
	}
}

func TestLoadMerge(t *testing.T) {
	c, err := Load("testdata/user.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != Default().Len()+2 {
		t.Fatalf("merged catalog has %d entries, want %d", c.Len(), Default().Len()+2)
	}
	e, ok := c.ByPath("Vehicle.Private.Trailer.Mode")
	if !ok || e.ID != 0x10001 || e.Type != Enum || len(e.Allowed) != 3 {
		t.Fatalf("Trailer.Mode = %+v", e)
	}
	if e.File != "testdata/user.yaml" || e.Line != 12 {
		t.Errorf("Trailer.Mode defined at %s:%d, want testdata/user.yaml:12", e.File, e.Line)
	}
	if v, ok := e.Index("LOCKED"); !ok || v != 2 {
		t.Errorf("Index(LOCKED) = %v %v", v, ok)
	}
	if l, ok := e.Label(1); !ok || l != "HITCHED" {
		t.Errorf("Label(1) = %q %v", l, ok)
	}
	if _, ok := Default().ByPath("Vehicle.Private.Trailer.Mode"); ok {
		t.Error("Load changed the default catalog")
	}
	load, _ := c.ByPath("Vehicle.Private.Trailer.AxleLoad")
	if !load.Fits(40000) || load.Fits(40001) || load.Fits(1.5) || load.Fits(-1) {
		t.Error("AxleLoad range not applied")
	}
	// Loading the same file twice repeats its ids and paths.
	_, err = Load("testdata/user.yaml", "testdata/user.yaml")
	wantErrs(t, err, "testdata/user.yaml:5: Vehicle.Private.Trailer.AxleLoad: id 65536 already used by Vehicle.Private.Trailer.AxleLoad at testdata/user.yaml:5",
		"testdata/user.yaml:5: path Vehicle.Private.Trailer.AxleLoad already defined at testdata/user.yaml:5",
		"testdata/user.yaml:12: Vehicle.Private.Trailer.Mode: id 65537 already used",
		"testdata/user.yaml:12: path Vehicle.Private.Trailer.Mode already defined")
	if _, err := Load("testdata/missing.yaml"); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		desc string
		yaml string
		want []string // each must appear, with its file:line
	}{
		{"syntax", "version: 1\nsignals: [\n", []string{"u.yaml: yaml: line 2"}},
		{"empty", "", []string{"u.yaml:1: empty file"}},
		{"top not a map", "- 1\n", []string{"u.yaml:1:1: want a mapping"}},
		{"no version, no signals", "retired: []\n", []string{"u.yaml:1:1: missing version", "u.yaml:1:1: missing signals list"}},
		{"bad version", "version: 2\nsignals: []\n", []string{"u.yaml:1:10: version 2 is not supported"}},
		{"unknown top field", "version: 1\nsignal: []\nsignals: []\n", []string{`u.yaml:2:1: unknown field "signal"`}},
		{"alias", "version: 1\nsignals: &a []\n", []string{"u.yaml:2:10: anchors and aliases"}},
		{"every entry mistake at once", `version: 1
signals:
  - id: 65536
    path: Vehicle.A
    type: uint9
  - id: -3
    path: Vehicle..B
    type: float
    uint: km/h
  - path: Vehicle.C
    type: boolean
    min: 0
  - id: 65537
    path: Vehicle.D
    type: enum
  - id: 65538
    path: Vehicle.E
    type: uint8
    max: 300
    allowed: [A]
  - id: 65539
    path: Vehicle.F
    type: float
    min: 10
    max: 1
  - id: 65540
    path: Vehicle.G
    type: enum
    allowed: [A, A]
  - id: 65541
    path: Vehicle.H
    type: double
    id: 65542
  - just a string
`, []string{
			`u.yaml:5:11: unknown type "uint9"`,
			`u.yaml:6:9: id: "-3" is not a valid non-negative integer`,
			`u.yaml:7:11: path "Vehicle..B": empty name between dots`,
			`u.yaml:9:5: unknown field "uint"`,
			`u.yaml:10:5: signal is missing id`,
			`u.yaml:12:10: min and max are not valid for type boolean`,
			`u.yaml:13:5: Vehicle.D: an enum needs an allowed list`,
			`u.yaml:19:10: 300 is outside the range of uint8`,
			`u.yaml:20:14: allowed is only valid for type enum`,
			`u.yaml:24:10: min 10 is greater than max 1`,
			`u.yaml:29:18: allowed label "A" is empty or repeated`,
			`u.yaml:33:5: duplicate key "id"`,
			`u.yaml:34:5: signal: want a mapping`,
		}},
		{"id ranges, duplicates, retired", `version: 1
retired: [65545]
signals:
  - id: 1
    path: Vehicle.Mine
    type: float
  - id: 65536
    path: Vehicle.Speed
    type: float
  - id: 65537
    path: Vehicle.X
    type: float
  - id: 65537
    path: Vehicle.X
    type: float
  - id: 65545
    path: Vehicle.Y
    type: float
`, []string{
			"u.yaml:4: Vehicle.Mine: id 1 (0x1) outside the range 0x10000–0xffffffff",
			"u.yaml:4: Vehicle.Mine: id 1 already used by Vehicle.Speed at catalog/default.yaml:",
			"u.yaml:7: path Vehicle.Speed already defined at catalog/default.yaml:",
			"u.yaml:13: Vehicle.X: id 65537 already used by Vehicle.X at u.yaml:10",
			"u.yaml:13: path Vehicle.X already defined at u.yaml:10",
			"u.yaml:16: Vehicle.Y: id 65545 is retired (u.yaml:2)",
		}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := Default().Extend("u.yaml", []byte(tc.yaml))
			wantErrs(t, err, tc.want...)
		})
	}
}

// wantErrs checks that err mentions each of want, on its own line, and has
// no more lines than want (every mistake reported once).
func wantErrs(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	lines := strings.Split(err.Error(), "\n")
	for _, w := range want {
		found := false
		for _, l := range lines {
			if strings.HasPrefix(l, w) || strings.Contains(l, w) && strings.HasPrefix(w, "u.yaml: yaml") {
				found = true
			}
		}
		if !found {
			t.Errorf("missing %q in:\n%v", w, err)
		}
	}
	if len(lines) > len(want) {
		t.Errorf("got %d errors, want %d:\n%v", len(lines), len(want), err)
	}
}

func TestParseStandalone(t *testing.T) {
	c, err := Parse("own.yaml", []byte("version: 1\nsignals:\n  - {id: 7, path: Fleet.Door, type: boolean}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := c.ByID(7); !ok || e.Path != "Fleet.Door" || c.Len() != 1 {
		t.Fatalf("got %+v", e)
	}
}

func TestValueSize(t *testing.T) {
	v := Value{ID: 1, Time: 1_700_000_000_123_456_789, Num: 3}
	if got := v.Timestamp().UnixNano(); got != v.Time {
		t.Fatalf("Timestamp = %d", got)
	}
}

func FuzzLoadCatalog(f *testing.F) {
	for _, p := range append(globOrNil("testdata/*.yaml"), "default.yaml") {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("version: 1\nsignals:\n  - {id: 70000, path: A.B, type: enum, allowed: [X]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Default().Extend("fuzz.yaml", data)
		if err != nil {
			return
		}
		for _, e := range c.Entries() {
			if got, ok := c.ByID(e.ID); !ok || got.Path != e.Path {
				t.Fatalf("entry %d not found by id", e.ID)
			}
			if got, ok := c.ByPath(e.Path); !ok || got.ID != e.ID {
				t.Fatalf("entry %s not found by path", e.Path)
			}
		}
		// A file that extends the default is also a valid catalog on its own.
		if _, err := Parse("fuzz.yaml", data); err != nil {
			t.Fatalf("Extend accepted what Parse rejects: %v", err)
		}
	})
}

func globOrNil(pattern string) []string {
	m, _ := filepath.Glob(pattern)
	return m
}

// TestCellType checks the cell type: an S2 cell id of any level up to 24
// survives the float64 of a Value exactly, and the default catalog carries
// the one cell entry the agent fills.
func TestCellType(t *testing.T) {
	e, ok := Default().ByPath("Vehicle.Kanal.Location.Cell")
	if !ok || e.Type != Cell || !e.Type.IsInteger() {
		t.Fatalf("Vehicle.Kanal.Location.Cell: %+v %v", e, ok)
	}
	if typ, err := ParseType("cell"); err != nil || typ != Cell {
		t.Fatalf("ParseType(cell) = %v, %v", typ, err)
	}
	// the largest id of level 24 on face 5: 3 face bits, 48 position bits, the marker bit
	for level := 0; level <= 24; level++ {
		lsb := uint64(1) << (2 * (30 - level))
		id := uint64(5)<<61 | (^uint64(0)>>3)&^(2*lsb-1) | lsb
		if back := uint64(float64(id)); back != id {
			t.Errorf("level %d: cell id %#x comes back as %#x", level, id, back)
		}
		if !e.Fits(float64(id)) {
			t.Errorf("level %d: %#x does not fit the entry", level, id)
		}
	}
	if _, err := Parse("c.yaml", []byte("version: 1\nsignals:\n  - {id: 9, path: A.C, type: cell, max: 3}\n")); err == nil ||
		!strings.Contains(err.Error(), "min and max are not valid for type cell") {
		t.Errorf("max on a cell entry: %v", err)
	}
}
