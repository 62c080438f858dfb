package loadgen

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/dbc"
	"github.com/kanal-dev/kanal/geo"
)

const candumps = "../../testdata/candumps"

func TestSyntheticProfile(t *testing.T) {
	p, err := SyntheticProfile(SyntheticOptions{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Seconds) != DefaultSeconds {
		t.Fatalf("%d seconds", len(p.Seconds))
	}
	if v := p.Values(); v < 120 || v > 170 {
		t.Errorf("%.1f values a second, want about 148", v)
	}
	again, _ := SyntheticProfile(SyntheticOptions{Seed: 7})
	other, _ := SyntheticProfile(SyntheticOptions{Seed: 8})
	if fmt.Sprint(again.Seconds) != fmt.Sprint(p.Seconds) {
		t.Error("the same seed gave another profile")
	}
	if fmt.Sprint(other.Seconds) == fmt.Sprint(p.Seconds) {
		t.Error("another seed gave the same profile")
	}
	cat := catalog.Default()
	ids := map[uint32]bool{}
	start := time.Date(2025, 11, 12, 6, 45, 0, 0, time.UTC).UnixNano()
	for sec, vs := range p.Seconds {
		for _, v := range vs {
			ids[v.ID] = true
			if lo := start + int64(sec)*int64(time.Second); v.Time < lo || v.Time >= lo+int64(time.Second) {
				t.Fatalf("second %d: value at %v", sec, time.Unix(0, v.Time).UTC())
			}
			if math.IsNaN(v.Num) || math.IsInf(v.Num, 0) {
				t.Fatalf("value %+v", v)
			}
			e, ok := cat.ByID(v.ID)
			if !ok {
				if v.ID < 65536 {
					t.Fatalf("id %d neither in the catalog nor a user id", v.ID)
				}
				continue
			}
			switch {
			case strings.HasPrefix(e.Path, "Vehicle.CurrentLocation."):
				t.Fatalf("%s sent: precise positions never leave a vehicle", e.Path)
			case !e.Fits(v.Num):
				t.Fatalf("%s = %g does not fit its %s type", e.Path, v.Num, e.Type)
			case alertSignal(e.Path) && v.Num != 0:
				t.Fatalf("%s = %g: a load test must raise no alert", e.Path, v.Num)
			case e.Type == catalog.Cell:
				c, err := geo.CellFromFloat64(v.Num)
				if err != nil || c.Level() != 13 {
					t.Fatalf("cell %g: level %d, %v", v.Num, c.Level(), err)
				}
			}
		}
	}
	if len(ids) != DefaultSignals {
		t.Errorf("%d signals sent in a minute, want every one of %d (the heartbeat)", len(ids), DefaultSignals)
	}
	few, err := SyntheticProfile(SyntheticOptions{Signals: 3, Seconds: 120})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range few.Seconds {
		if len(s) == 0 {
			t.Fatalf("second %d is empty", i)
		}
	}
	for _, bad := range []SyntheticOptions{{Signals: -1}, {Signals: 20000}, {Seconds: -3}, {Seconds: 4000}} {
		if _, err := SyntheticProfile(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestDriveProfile(t *testing.T) {
	p, err := DriveProfile(DriveOptions{Log: candumps + "/drive_city.log",
		Buses: dbc.PipelineOptions{DBC: []string{candumps + "/kanal_demo.dbc"}, Mapping: candumps + "/kanal_demo.mapping.yaml"}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(p.Seconds); n < 150 || n > 200 {
		t.Errorf("%d seconds of the city drive", n)
	}
	if v := p.Values(); v < 10 || v > 30 {
		t.Errorf("%.1f values a second", v)
	}
	for i, s := range p.Seconds {
		for _, v := range s[1:] {
			if d := v.Time - s[0].Time; d < 0 || d >= int64(time.Second) {
				t.Fatalf("second %d spans more than a second", i)
			}
		}
	}
	if _, err := newTemplates(p); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		desc string
		opts DriveOptions
		want string
	}{
		{"no log", DriveOptions{}, "log is required"},
		{"no mapping", DriveOptions{Log: "x.log", Buses: dbc.PipelineOptions{DBC: []string{"x.dbc"}}}, "buses.mapping is required"},
		{"missing dbc", DriveOptions{Log: "x.log", Buses: dbc.PipelineOptions{DBC: []string{"nope.dbc"}, Mapping: "m.yaml"}}, "nope.dbc"},
		{"missing log", DriveOptions{Log: "nope.log", Buses: dbc.PipelineOptions{DBC: []string{candumps + "/kanal_demo.dbc"}, Mapping: candumps + "/kanal_demo.mapping.yaml"}}, "nope.log"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := DriveProfile(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
