package alert

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/internal/yamlfile"
)

func TestRulesDefaults(t *testing.T) {
	r, err := Rules{}.withDefaults(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Rules{
		Fog:          FogRule{MinVehicles: 3, Window: 5 * time.Minute, ClearAfter: 2 * time.Minute},
		Warning:      WarningRule{Lamps: DefaultLamps},
		Breakdown:    BreakdownRule{StoppedFor: 30 * time.Second},
		MaxLateness:  2 * time.Minute,
		MaxClockSkew: 5 * time.Minute,
		SilentAfter:  30 * time.Minute,
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("defaults\n%+v\nwant\n%+v", r, want)
	}
	// An empty lamp list is kept: no warnings.
	r, err = Rules{Warning: WarningRule{Lamps: []string{}}}.withDefaults(nil)
	if err != nil || len(r.Warning.Lamps) != 0 {
		t.Errorf("empty lamps: %v, %v", r.Warning.Lamps, err)
	}
	for _, tc := range []struct {
		desc  string
		rules Rules
		want  string
	}{
		{"min vehicles", Rules{Fog: FogRule{MinVehicles: -1}}, "fog.min_vehicles -1"},
		{"window", Rules{Fog: FogRule{Window: time.Millisecond}}, "fog.window 1ms"},
		{"lateness", Rules{MaxLateness: 48 * time.Hour}, "max_lateness 48h0m0s"},
		{"lamp", Rules{Warning: WarningRule{Lamps: []string{"Horn"}}}, `warning.lamps: unknown lamp "Horn"`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := tc.rules.withDefaults(nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestLoadRules(t *testing.T) {
	r, err := LoadRules("testdata/rules.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Rules{
		Fog:          FogRule{MinVehicles: 5, Window: 10 * time.Minute, ClearAfter: 210 * time.Second},
		Warning:      WarningRule{Lamps: []string{"ABS", "Airbag", "ESC"}},
		Breakdown:    BreakdownRule{StoppedFor: time.Minute},
		MaxLateness:  90 * time.Second,
		MaxClockSkew: 10 * time.Minute,
		SilentAfter:  time.Hour,
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("loaded\n%+v\nwant\n%+v", r, want)
	}
	def, _ := Rules{}.withDefaults(nil)
	for _, text := range []string{"version: 1\n", "fog: {}\n", "warning: {}\n"} {
		r, err := ParseRules("min.yaml", []byte(text), nil)
		if err != nil || !reflect.DeepEqual(r, def) {
			t.Errorf("%q: %+v, %v; want the defaults", text, r, err)
		}
	}
	r, err = ParseRules("off.yaml", []byte("warning: {lamps: []}\n"), nil)
	if err != nil || r.Warning.Lamps == nil || len(r.Warning.Lamps) != 0 {
		t.Errorf("lamps: []: %v, %v; want no lamps", r.Warning.Lamps, err)
	}
	if _, err := LoadRules("testdata/missing.yaml", nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestLoadRulesMistakes: every mistake of a file at once, each at its line
// and column.
func TestLoadRulesMistakes(t *testing.T) {
	_, err := LoadRules("testdata/rules_bad.yaml", nil)
	if err == nil {
		t.Fatal("bad rules accepted")
	}
	want := []string{
		"testdata/rules_bad.yaml:1:10: version 2 is not supported (want 1)",
		"testdata/rules_bad.yaml:3:17: fog.min_vehicles 0: want 1 to 10000",
		`testdata/rules_bad.yaml:4:11: fog.window: "5 minutes" is not a duration (write it as Go does: 90s, 5m, 1h30m)`,
		"testdata/rules_bad.yaml:5:16: fog.clear_after 48h0m0s: want 1s to 24h0m0s",
		`testdata/rules_bad.yaml:6:3: unknown field "radius" (want one of [min_vehicles window clear_after])`,
		`testdata/rules_bad.yaml:8:16: warning.lamps: unknown lamp "Wipers"`,
		"testdata/rules_bad.yaml:8:24: warning.lamps: ABS is listed twice (first on line 8)",
		"testdata/rules_bad.yaml:8:64: warning.lamps: want a single value",
		"testdata/rules_bad.yaml:9:12: breakdown: want a mapping with [stopped_for]",
		"testdata/rules_bad.yaml:10:15: max_lateness -1m0s: want 1s to 24h0m0s",
		"testdata/rules_bad.yaml:11:17: max_clock_skew 500ms: want 1s to 24h0m0s",
		"testdata/rules_bad.yaml:12:15: silent_after: want a single value",
	}
	got := strings.Split(err.Error(), "\n")
	if len(got) != len(want) {
		t.Fatalf("got %d mistakes:\n%v\nwant %d", len(got), err, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("mistake %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
	var fe *yamlfile.Error
	if !errors.As(err, &fe) || fe.Line != 1 {
		t.Errorf("errors.As *yamlfile.Error: %v", fe)
	}
}

// FuzzParseRules: a rules file never panics the loader, and what it
// accepts are valid rules that load the same again.
func FuzzParseRules(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("fog: {min_vehicles: 2}\n"))
	f.Add([]byte("warning: {lamps: []}\nbreakdown: {stopped_for: 1h}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRules("fuzz.yaml", data, nil)
		if err != nil {
			return
		}
		back, err := r.withDefaults(nil)
		if err != nil {
			t.Fatalf("accepted rules are invalid: %+v: %v", r, err)
		}
		if !reflect.DeepEqual(back, r) {
			t.Fatalf("defaults twice differ:\n%+v\n%+v", r, back)
		}
	})
}
