package dbc

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kanal-dev/kanal/can"
	"github.com/kanal-dev/kanal/catalog"
)

const (
	demoDBC     = "../testdata/candumps/kanal_demo.dbc"
	demoMapping = "../testdata/candumps/kanal_demo.mapping.yaml"
)

func demoDatabases(t testing.TB) BusDatabases {
	t.Helper()
	db, err := Load(demoDBC)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range db.Problems {
		t.Errorf("demo DBC problem: %s", p)
	}
	return BusDatabases{"can0": {db}}
}

func TestLoadDemoMapping(t *testing.T) {
	m, err := LoadMapping(demoMapping, catalog.Default(), demoDatabases(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Rules) != 100 {
		t.Errorf("%d rules, want 100", len(m.Rules))
	}
	rule := func(path string) *Rule {
		for i := range m.Rules {
			if m.Rules[i].Path == path {
				return &m.Rules[i]
			}
		}
		t.Fatalf("no rule for %s", path)
		return nil
	}
	for _, tc := range []struct {
		desc      string
		path      string
		raw       uint64
		phys      float64
		want      float64
		wantFound bool
	}{
		{"plain float", "Vehicle.Speed", 0, 42.5, 42.5, true},
		{"math x*1000 into uint32, float noise rounded", "Vehicle.TraveledDistance", 482134, 48213.4, 48213400, true},
		{"scale 1000", "Vehicle.TraveledDistanceSinceStart", 0, 1.23, 1230, true},
		{"round: true", "Vehicle.Powertrain.FuelSystem.RelativeLevel", 155, 62.0000001, 62, true},
		{"value map by label", "Vehicle.Body.Windshield.Front.Wiping.Mode", 4, 4, 5, true}, // Auto → RAIN_SENSOR
		{"value map, unlisted raw", "Vehicle.Body.Windshield.Front.Wiping.Mode", 7, 7, 0, false},
		{"value map to int8", "Vehicle.Powertrain.Transmission.SelectedGear", 1, 1, -1, true},
		{"bool", "Vehicle.Kanal.Warning.ABS.IsOn", 1, 1, 1, true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got, ok := rule(tc.path).Convert(tc.raw, tc.phys)
			if ok != tc.wantFound || ok && got != tc.want {
				t.Errorf("Convert(%d, %v) = %v, %v; want %v, %v", tc.raw, tc.phys, got, ok, tc.want, tc.wantFound)
			}
		})
	}
	fog := rule("Vehicle.Body.Lights.Fog.Front.IsOn")
	if fog.Bus != "" || fog.Message != "BCM_Lights" || fog.Signal != "FogLightFront" || fog.ID != 200 ||
		fog.Sampling != (Sampling{OnChange: true, Priority: PriorityCritical}) {
		t.Errorf("fog rule = %+v", fog)
	}
	if s := rule("Vehicle.Speed").Sampling; s != (Sampling{OnChange: true, IntervalMS: 200, Deadband: 0.5, Priority: PriorityNormal}) {
		t.Errorf("speed sampling = %+v", s)
	}
}

func TestMappingErrors(t *testing.T) {
	_, err := LoadMapping("testdata/mapping_errors.yaml", catalog.Default(), demoDatabases(t))
	wantLines(t, err,
		`testdata/mapping_errors.yaml:5:20: unknown DBC message "NoSuchMessage" in ../testdata/candumps/kanal_demo.dbc`,
		`testdata/mapping_errors.yaml:8:39: message VDC_Speed (../testdata/candumps/kanal_demo.dbc:15) has no signal "NoSuchSignal"`,
		`testdata/mapping_errors.yaml:10:11: unknown catalog path "Vehicle.NoSuchThing"`,
		`testdata/mapping_errors.yaml:13:5: signal ECM_Fluids.FuelRange spans 0–65535 (16 bits), which does not fit boolean`,
		`testdata/mapping_errors.yaml:16:5: signal ECM_Fluids.FuelLevel gives fractional values (×0.4 +0) but Vehicle.Powertrain.FuelSystem.RelativeLevel is uint8`,
		`testdata/mapping_errors.yaml:19:5: signal BMS_LowVoltage.BatteryVoltage is a float, Vehicle.Powertrain.CombustionEngine.EOP is uint16`,
		`testdata/mapping_errors.yaml:22:5: signal ECM_Fluids.FuelRange spans 0–2000, outside the range of int8`,
		`testdata/mapping_errors.yaml:25:5: signal BCM_Wipers.WiperFrontMode spans 0–7 (3 bits), which does not fit enum`,
		`testdata/mapping_errors.yaml:33:18: from: "Sometimes" is not a value label of BCM_Wipers.WiperRearMode`,
		`testdata/mapping_errors.yaml:34:18: from: raw value 9 is outside BCM_Wipers.WiperRearMode (0–3, 2 bits)`,
		`testdata/mapping_errors.yaml:35:25: to: "WHIRL" is not one of Vehicle.Body.Windshield.Rear.Wiping.Mode's values`,
		`testdata/mapping_errors.yaml:40:15: deadband is meaningless for boolean`,
		`testdata/mapping_errors.yaml:41:15: unknown priority "urgent"`,
		`testdata/mapping_errors.yaml:44:18: interval_ms -5 out of range`,
		`testdata/mapping_errors.yaml:45:15: deadband applies only with on_change: true`,
		`testdata/mapping_errors.yaml:46:5: rule needs on_change: true or interval_ms > 0`,
		`testdata/mapping_errors.yaml:50:23: math "x * x": formula is not linear in x`,
		`testdata/mapping_errors.yaml:50:23: use either math or scale/offset, not both`,
		`testdata/mapping_errors.yaml:52:5: unknown field "colour"`,
		`testdata/mapping_errors.yaml:54:16: unknown bus "can9" (buses with DBC files: can0)`,
		`testdata/mapping_errors.yaml:59:5: signal VDC_Speed.VehicleSpeed is already mapped at line 56`,
		`testdata/mapping_errors.yaml:62:5: Vehicle.Speed is already mapped at line 56`,
	)
}

func TestMappingFileErrors(t *testing.T) {
	dbs := demoDatabases(t)
	for _, tc := range []struct{ desc, yaml, want string }{
		{"syntax", "version: 1\nsignals: [\n", "m.yaml: yaml: line 2"},
		{"empty", "", "m.yaml:1: empty file"},
		{"version", "version: 3\nsignals: []\n", "m.yaml:1:10: version 3 is not supported"},
		{"no signals", "version: 1\n", "m.yaml:1:1: missing signals list"},
		{"rule not a map", "version: 1\nsignals: [7]\n", "m.yaml:2:11: rule: want a mapping"},
		{"missing dbc", "version: 1\nsignals:\n  - path: Vehicle.Speed\n    on_change: true\n", "m.yaml:3:5: rule is missing dbc"},
		{"value map on a float", "version: 1\nsignals:\n  - path: Vehicle.Powertrain.CombustionEngine.EOP\n" +
			"    dbc: {message: BMS_LowVoltage, signal: BatteryVoltage}\n    transform: {mapping: [{from: 1, to: 2}]}\n    on_change: true\n",
			"m.yaml:5:26: mapping: signal BMS_LowVoltage.BatteryVoltage is a float"},
		{"map to bool", "version: 1\nsignals:\n  - path: Vehicle.Body.Lights.Fog.Front.IsOn\n" +
			"    dbc: {message: BCM_Wipers, signal: WiperFrontMode}\n    transform: {mapping: [{from: 0, to: false}, {from: 1, to: maybe}]}\n    on_change: true\n",
			`m.yaml:5:63: to: Vehicle.Body.Lights.Fog.Front.IsOn is boolean: want true or false, not "maybe"`},
		{"duplicate from", "version: 1\nsignals:\n  - path: Vehicle.Body.Lights.Fog.Front.IsOn\n" +
			"    dbc: {message: BCM_Wipers, signal: WiperFrontMode}\n    transform: {mapping: [{from: 0, to: false}, {from: \"Off\", to: true}]}\n    on_change: true\n",
			"m.yaml:5:56: mapping: raw value 0 is already mapped at line 5"},
		{"scale zero", "version: 1\nsignals:\n  - path: Vehicle.Speed\n    dbc: {message: VDC_Speed, signal: VehicleSpeed}\n" +
			"    transform: {scale: 0}\n    on_change: true\n", "m.yaml:5:24: scale 0: want a finite, non-zero number"},
		{"cell is not mapped", "version: 1\nsignals:\n  - path: Vehicle.Kanal.Location.Cell\n    dbc: {message: VDC_Speed, signal: VehicleSpeed}\n" +
			"    on_change: true\n", "m.yaml:3:11: Vehicle.Kanal.Location.Cell is a grid cell the agent computes from the position"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := ParseMapping("m.yaml", []byte(tc.yaml), catalog.Default(), dbs)
			wantLines(t, err, tc.want)
		})
	}
}

func TestParseLinear(t *testing.T) {
	for _, tc := range []struct {
		in            string
		scale, offset float64
		err           string
	}{
		{"x", 1, 0, ""},
		{"x * 1000", 1000, 0, ""},
		{"(x - 32) / 1.8", 1 / 1.8, -32 / 1.8, ""},
		{"-x + 2*3", -1, 6, ""},
		{"2 * (x + 1e3)", 2, 2000, ""},
		{"x / 3.6", 1 / 3.6, 0, ""},
		{"x * x", 0, 0, "not linear"},
		{"1 / x", 0, 0, "not linear"},
		{"x / 0", 0, 0, "division by zero"},
		{"x +", 0, 0, "ends early"},
		{"3", 0, 0, "does not depend on x"},
		{"x - x", 0, 0, "does not depend on x"},
		{"y", 0, 0, "unexpected"},
		{"(x", 0, 0, "missing )"},
		{"x 2", 0, 0, "unexpected"},
		{"floor(x)", 0, 0, "unexpected"},
		{strings.Repeat("(", 40) + "x" + strings.Repeat(")", 40), 0, 0, "nested too deeply"},
		{"x * 1e308 * 10", 0, 0, "overflows"},
	} {
		scale, offset, err := parseLinear(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("parseLinear(%q) error %v, want %q", tc.in, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("parseLinear(%q): %v", tc.in, err)
		case tc.err == "" && (math.Abs(scale-tc.scale) > 1e-12 || math.Abs(offset-tc.offset) > 1e-9):
			t.Errorf("parseLinear(%q) = %v, %v; want %v, %v", tc.in, scale, offset, tc.scale, tc.offset)
		}
	}
}

// wantLines checks that err has exactly the given lines, each starting with
// the wanted prefix, in order.
func wantLines(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	got := strings.Split(err.Error(), "\n")
	for i := 0; i < max(len(got), len(want)); i++ {
		switch {
		case i >= len(got):
			t.Errorf("missing error %q", want[i])
		case i >= len(want):
			t.Errorf("extra error %q", got[i])
		case !strings.HasPrefix(got[i], want[i]):
			t.Errorf("error %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}

func FuzzLoadMapping(f *testing.F) {
	for _, pattern := range []string{demoMapping, "testdata/mapping*.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte("version: 1\nsignals:\n  - {path: Vehicle.Speed, dbc: {message: VDC_Speed, signal: VehicleSpeed}, transform: {math: \"(x+1)*2\"}, on_change: true}\n"))
	dbs := demoDatabases(f)
	cat := catalog.Default()
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMapping("fuzz.yaml", data, cat, dbs)
		if err != nil {
			return
		}
		for i := range m.Rules {
			r := &m.Rules[i]
			e, ok := cat.ByID(r.ID)
			if !ok || e.Path != r.Path {
				t.Fatalf("rule %d: id %d does not name %s", i, r.ID, r.Path)
			}
			if r.Sampling.Priority == 0 || !r.Sampling.OnChange && r.Sampling.IntervalMS == 0 {
				t.Fatalf("rule %d: sampling %+v passed validation", i, r.Sampling)
			}
			for raw, v := range r.ValueMap {
				if !e.Fits(v) {
					t.Fatalf("rule %d: map %d -> %v does not fit %s", i, raw, v, e.Type)
				}
			}
		}
	})
}

// frameOf wraps an encoded payload of msg in a can.Frame.
func frameOf(msg *Message, data []byte) can.Frame {
	f := can.Frame{ID: msg.ID, Len: uint8(len(data))}
	if msg.Extended {
		f.Flags |= can.Extended
	}
	if msg.FD {
		f.Flags |= can.FD
	}
	copy(f.Data[:], data)
	return f
}

// TestConvertRoundNoNegativeZero: rounding a small negative value gives 0,
// not -0, which would push an integer column of the batch codec to floats.
func TestConvertRoundNoNegativeZero(t *testing.T) {
	r := Rule{Scale: 1, Round: true}
	v, ok := r.Convert(0, -0.4)
	if !ok || math.Float64bits(v) != 0 {
		t.Fatalf("Convert(-0.4) = %v (bits %#x)", v, math.Float64bits(v))
	}
}
