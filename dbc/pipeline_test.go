package dbc

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/can"
	"github.com/kanal-dev/kanal/catalog"
)

const demoDrive = "../testdata/candumps/drive_fog.log"

func readFrames(t testing.TB, path string) []can.Timed {
	t.Helper()
	lr, err := can.OpenLog(path, can.LogReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer lr.Close()
	var out []can.Timed
	for {
		f, err := lr.Next(t.Context())
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
}

func demoPipeline(t testing.TB, opts PipelineOptions) *Pipeline {
	t.Helper()
	p, err := NewPipeline(opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPipelineMatchesMapping checks the pipeline against the mapping applied
// by hand to the plan's values: the same catalog values, in the same order,
// for every frame of a drive, and the counts agree.
func TestPipelineMatchesMapping(t *testing.T) {
	p := demoPipeline(t, PipelineOptions{DBC: []string{demoDBC}, Mapping: demoMapping})
	m := p.Mapping()
	plan := p.Plan("can0")
	var fv FrameValues
	var want []catalog.Value
	var dropped uint64
	frames := readFrames(t, demoDrive)
	for i := range frames {
		f := &frames[i]
		p.Decode(f, &fv)
		if fv.Result.Status != Decoded || fv.Plan != plan {
			t.Fatalf("frame %d: %v with plan %p", i, fv.Result.Status, fv.Plan)
		}
		want = want[:0]
		for j, v := range fv.Values {
			rule := fv.Rules[j]
			if rule == NoTarget {
				continue
			}
			r := &m.Rules[rule]
			if r.Message != plan.Signal(v.Sig).Message.Name || r.Signal != plan.Signal(v.Sig).Name {
				t.Fatalf("frame %d: value of %s bound to rule for %s.%s", i, plan.Signal(v.Sig).Name, r.Message, r.Signal)
			}
			num, ok := r.Convert(v.Raw, v.Num)
			if !ok {
				dropped++
				continue
			}
			want = append(want, catalog.Value{ID: r.ID, Time: f.Time.UnixNano(), Num: num})
		}
		if len(want) != len(fv.Catalog) {
			t.Fatalf("frame %d: %d catalog values, want %d", i, len(fv.Catalog), len(want))
		}
		for j := range want {
			if want[j] != fv.Catalog[j] {
				t.Fatalf("frame %d value %d: %+v, want %+v", i, j, fv.Catalog[j], want[j])
			}
		}
	}
	st := p.Stats
	if st.Frames != uint64(len(frames)) || st.Decoded != st.Frames || st.Normalized == 0 {
		t.Fatalf("stats %+v for %d frames", st, len(frames))
	}
	if mapped := st.Normalized + dropped; mapped > st.Values {
		t.Errorf("normalized %d + dropped by value maps %d > values %d", st.Normalized, dropped, st.Values)
	}
}

// TestPipelineNormalizedCount: a value map that does not list a raw value
// produces no catalog value, and the count says so.
func TestPipelineNormalizedCount(t *testing.T) {
	dir := t.TempDir()
	mapping := filepath.Join(dir, "m.yaml")
	writeFile(t, mapping, `version: 1
signals:
  - path: Vehicle.Body.Windshield.Front.Wiping.Mode
    dbc: {message: BCM_Wipers, signal: WiperFrontMode}
    transform: {mapping: [{from: "Off", to: "OFF"}]}
    on_change: true
`)
	p := demoPipeline(t, PipelineOptions{Buses: map[string][]string{"can0": {demoDBC}}, Mapping: mapping})
	var fv FrameValues
	var frames, values int
	for _, f := range readFrames(t, demoDrive) {
		p.Decode(&f, &fv)
		for _, r := range fv.Rules {
			if r != NoTarget {
				frames++
			}
		}
		values += len(fv.Catalog)
	}
	if frames == 0 || values == 0 || values >= frames {
		t.Fatalf("%d wiper values mapped, %d catalog values: want some, and fewer (wipers are not always off)", frames, values)
	}
	if p.Stats.Normalized != uint64(values) {
		t.Errorf("Stats.Normalized %d, produced %d", p.Stats.Normalized, values)
	}
}

// TestPipelineSharesPlans: buses with the same files share one plan, and a
// rule for one bus binds only there.
func TestPipelineSharesPlans(t *testing.T) {
	dir := t.TempDir()
	mapping := filepath.Join(dir, "m.yaml")
	writeFile(t, mapping, `version: 1
signals:
  - path: Vehicle.Speed
    dbc: {bus: can1, message: VDC_Speed, signal: VehicleSpeed}
    on_change: true
  - path: Vehicle.Body.Lights.Fog.Front.IsOn
    dbc: {message: BCM_Lights, signal: FogLightFront}
    on_change: true
    priority: critical
`)
	p := demoPipeline(t, PipelineOptions{DBC: []string{demoDBC}, Mapping: mapping,
		Buses: map[string][]string{"can2": {demoDBC}}})
	if p.Plan("can0") != p.Plan("can1") || p.Plan("can1") != p.Plan("can2") {
		t.Error("buses with the same DBC files do not share a plan")
	}
	speed := func(bus string) int {
		var fv FrameValues
		n := 0
		for _, f := range readFrames(t, demoDrive)[:400] {
			f.Bus = bus
			p.Decode(&f, &fv)
			for _, v := range fv.Catalog {
				if v.ID == 1 {
					n++
				}
			}
		}
		return n
	}
	if speed("can0") != 0 || speed("can2") != 0 || speed("can1") == 0 {
		t.Errorf("Vehicle.Speed values: can0 %d, can1 %d, can2 %d; want only can1", speed("can0"), speed("can1"), speed("can2"))
	}
	if ids := p.IDs("can1", true); len(ids) != 2 {
		t.Errorf("can1 needs %#x, want the two mapped messages", ids)
	}
	if ids := p.IDs("can0", true); len(ids) != 1 {
		t.Errorf("can0 needs %#x, want the lights message", ids)
	}
	if all := p.IDs("can0", false); len(all) != len(p.Plan("can0").Messages()) {
		t.Errorf("IDs(can0, false) = %d ids, plan has %d messages", len(all), len(p.Plan("can0").Messages()))
	}
	s := p.Sampling()
	if len(s) != 2 || s[1].Priority != catalog.PriorityNormal || s[200].Priority != catalog.PriorityCritical || !s[200].OnChange {
		t.Errorf("Sampling() = %+v", s)
	}
}

func TestPipelineErrors(t *testing.T) {
	dir := t.TempDir()
	badMapping := filepath.Join(dir, "bad.yaml")
	writeFile(t, badMapping, "version: 1\nsignals:\n  - path: Vehicle.Nope\n    dbc: {message: VDC_Speed, signal: VehicleSpeed}\n    on_change: true\n")
	for _, tc := range []struct {
		desc string
		opts PipelineOptions
		want string
	}{
		{"no DBC", PipelineOptions{}, "no DBC file"},
		{"missing DBC", PipelineOptions{DBC: []string{filepath.Join(dir, "none.dbc")}}, "none.dbc"},
		{"empty bus", PipelineOptions{Buses: map[string][]string{"can0": nil}}, `bus "can0"`},
		{"bad mapping", PipelineOptions{DBC: []string{demoDBC}, Mapping: badMapping}, "bad.yaml:3:11: unknown catalog path"},
		{"missing catalog", PipelineOptions{DBC: []string{demoDBC}, Catalogs: []string{filepath.Join(dir, "c.yaml")}}, "c.yaml"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := NewPipeline(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to say %q", err, tc.want)
			}
		})
	}
}

// TestPipelineNoPlan: a bus without files is counted, not decoded.
func TestPipelineNoPlan(t *testing.T) {
	p := demoPipeline(t, PipelineOptions{Buses: map[string][]string{"can0": {demoDBC}}})
	var fv FrameValues
	f := readFrames(t, demoDrive)[0]
	f.Bus = "can7"
	p.Decode(&f, &fv)
	if fv.Plan != nil || fv.Result.Status != UnknownID || p.Stats.NoPlan != 1 || len(fv.Catalog) != 0 {
		t.Fatalf("frame of an unknown bus: %+v, stats %+v", fv.Result, p.Stats)
	}
}

func TestPipelineDecodeAllocs(t *testing.T) {
	p := demoPipeline(t, PipelineOptions{DBC: []string{demoDBC}, Mapping: demoMapping})
	frames := readFrames(t, demoDrive)[:2000]
	var fv FrameValues
	for i := range frames {
		p.Decode(&frames[i], &fv) // grow the slices once
	}
	allocs := testing.AllocsPerRun(5, func() {
		for i := range frames {
			p.Decode(&frames[i], &fv)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per %d frames", allocs, len(frames))
	}
}

func BenchmarkPipeline(b *testing.B) {
	p := demoPipeline(b, PipelineOptions{DBC: []string{demoDBC}, Mapping: demoMapping})
	frames := readFrames(b, demoDrive)
	var fv FrameValues
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for i := range frames {
			p.Decode(&frames[i], &fv)
		}
		n += len(frames)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "frames/s")
}

func writeFile(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPipelineDemoMapping: the demo mapping uses every message of the demo
// DBC; a mapping of two signals needs only their messages (the 29-bit one
// with its flag); and a frame's catalog values are the rules' transforms.
func TestPipelineDemoMapping(t *testing.T) {
	p := demoPipeline(t, PipelineOptions{Buses: map[string][]string{"can0": {demoDBC}}, Mapping: demoMapping})
	plan := p.Plan("can0")
	if all, mapped := p.IDs("can0", false), p.IDs("can0", true); len(all) != len(plan.Messages()) || len(mapped) != len(all) {
		t.Errorf("IDs: %d of %d mapped", len(mapped), len(all))
	}
	pair := filepath.Join(t.TempDir(), "pair.yaml")
	writeFile(t, pair, `version: 1
signals:
  - {path: Vehicle.Body.Lights.Fog.Front.IsOn, dbc: {message: BCM_Lights, signal: FogLightFront}, on_change: true}
  - {path: Vehicle.CurrentLocation.Latitude, dbc: {message: GNSS_Position, signal: Latitude}, interval_ms: 1000}
`)
	two := demoPipeline(t, PipelineOptions{Buses: map[string][]string{"can0": {demoDBC}}, Mapping: pair})
	if ids := two.IDs("can0", true); len(ids) != 2 || ids[0] != 0x200 || ids[1] != 0x98FF1021 {
		t.Errorf("IDs(mapped) = %#x, want [0x200 0x98ff1021]", ids)
	}
	msg := demoDatabases(t)["can0"][0].Message("BCM_Lights")
	data, err := msg.Encode(map[string]float64{"FogLightFront": 1, "HazardActive": 1, "LightSwitchPos": 4})
	if err != nil {
		t.Fatal(err)
	}
	f := can.Timed{Time: time.Unix(0, 1234), Bus: "can0", Frame: frameOf(msg, data)}
	var fv FrameValues
	p.Decode(&f, &fv)
	if fv.Result.Status != Decoded {
		t.Fatal(fv.Result.Status)
	}
	got := map[string]float64{}
	for _, cv := range fv.Catalog {
		e, _ := p.Catalog().ByID(cv.ID)
		if cv.Time != 1234 {
			t.Errorf("time %d", cv.Time)
		}
		got[e.Path] = cv.Num
	}
	for path, want := range map[string]float64{
		"Vehicle.Body.Lights.Fog.Front.IsOn": 1, "Vehicle.Body.Lights.Fog.Rear.IsOn": 0,
		"Vehicle.Body.Lights.Hazard.IsSignaling": 1, "Vehicle.Body.Lights.LightSwitch": 4, // BEAM
	} {
		if v, ok := got[path]; !ok || v != want {
			t.Errorf("%s = %v (%v), want %v", path, v, ok, want)
		}
	}
}
