package fleet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/can"
	"github.com/kanal-dev/kanal/sim"
	"github.com/kanal-dev/kanal/sim/city"
)

const (
	demoDBC     = "../../testdata/candumps/kanal_demo.dbc"
	demoMapping = "../../testdata/candumps/kanal_demo.mapping.yaml"
)

func newFleet(t testing.TB, o Options) *Fleet {
	t.Helper()
	o.DBC = demoDBC
	f, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// candump returns vehicle i's whole log as candump text.
func candump(t testing.TB, f *Fleet, i int) []byte {
	t.Helper()
	v, err := f.Vehicle(i)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := can.NewLogWriter(&buf)
	if err := drain(context.Background(), v, w.Write); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReproducible(t *testing.T) {
	opts := Options{Vehicles: 5, Seed: 42, Duration: 90 * time.Second, Fog: FogOptions{Banks: 1},
		WarningRate: 20, BreakdownRate: 10}
	a, b := newFleet(t, opts), newFleet(t, opts)
	opts.Seed = 43
	c := newFleet(t, opts)
	hashes := map[[32]byte]string{}
	for i := range 5 {
		la, lb, lc := candump(t, a, i), candump(t, b, i), candump(t, c, i)
		if !bytes.Equal(la, lb) {
			t.Fatalf("vehicle %d: the same options gave different frames", i)
		}
		if bytes.Equal(la, lc) {
			t.Fatalf("vehicle %d: seeds 42 and 43 gave the same frames", i)
		}
		h := sha256.Sum256(la)
		if other, ok := hashes[h]; ok {
			t.Fatalf("vehicles %d and %s have the same frames", i, other)
		}
		hashes[h] = a.ID(i)
		if n := bytes.Count(la, []byte("\n")); n < 87*85 || n > 87*91 {
			t.Errorf("vehicle %d: %d frames in 90 s, want about 87 a second", i, n)
		}
	}
	// the truth is reproducible too, and the same however the vehicles run
	ta, err := a.Truth(ctxT(t), Rules{})
	if err != nil {
		t.Fatal(err)
	}
	tb, err := b.Truth(ctxT(t), Rules{})
	if err != nil {
		t.Fatal(err)
	}
	var sa, sb strings.Builder
	ta.WriteText(&sa)
	tb.WriteText(&sb)
	if sa.String() != sb.String() {
		t.Fatalf("truths differ:\n%s\n%s", sa.String(), sb.String())
	}
}

func TestOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"no dbc", Options{}, "dbc is required"},
		{"vehicles", Options{DBC: demoDBC, Vehicles: -1}, "vehicles -1"},
		{"duration", Options{DBC: demoDBC, Duration: time.Millisecond}, "duration 1ms"},
		{"prefix", Options{DBC: demoDBC, IDPrefix: "a:b"}, "id_prefix"},
		{"prefix long", Options{DBC: demoDBC, IDPrefix: strings.Repeat("x", 70)}, "id_prefix"},
		{"warning rate", Options{DBC: demoDBC, WarningRate: -1}, "warning_rate -1"},
		{"breakdown rate", Options{DBC: demoDBC, BreakdownRate: math.NaN()}, "breakdown_rate NaN"},
		{"breakdown for", Options{DBC: demoDBC, BreakdownFor: -time.Second}, "breakdown_for"},
		{"park for", Options{DBC: demoDBC, ParkFor: time.Second}, "park_for 1s"},
		{"fog banks", Options{DBC: demoDBC, Fog: FogOptions{Banks: -2}}, "fog.banks -2"},
		{"fog radius", Options{DBC: demoDBC, Fog: FogOptions{RadiusM: 1}}, "fog.radius_m 1"},
		{"fog speed", Options{DBC: demoDBC, Fog: FogOptions{SpeedKmh: -3}}, "fog.speed_kmh -3"},
		{"fog light use", Options{DBC: demoDBC, Fog: FogOptions{LightUse: 1.5}}, "fog.light_use 1.5"},
		{"cell level", Options{DBC: demoDBC, CellLevel: 31}, "cell_level"},
		{"city", Options{DBC: demoDBC, City: city.Options{SizeM: 10}}, "size_m 10"},
		{"dbc missing", Options{DBC: "nonexistent.dbc"}, "nonexistent.dbc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want %q", err, tc.want)
			}
		})
	}
}

func TestNotTheDemoVehicle(t *testing.T) {
	_, err := New(Options{DBC: "../../dbc/testdata/layout.dbc"})
	if err == nil {
		t.Fatal("a fleet of another vehicle's DBC")
	}
}

func TestVehicleIDs(t *testing.T) {
	f := newFleet(t, Options{Vehicles: 3})
	if got := f.ID(0) + " " + f.ID(2); got != "sim-0001 sim-0003" {
		t.Fatalf("ids %s", got)
	}
	if got := vehicleID("load", 11999, 12000); got != "load-12000" {
		t.Fatalf("id %s", got)
	}
	if got := vehicleID("x", 0, 12000); got != "x-00001" {
		t.Fatalf("id %s", got)
	}
	if _, err := f.Vehicle(3); err == nil {
		t.Fatal("vehicle 3 of 3")
	}
}

func TestFogBanks(t *testing.T) {
	f := newFleet(t, Options{Duration: 10 * time.Minute, Fog: FogOptions{Banks: 3, Life: 4 * time.Minute}})
	banks := f.FogBanks()
	if len(banks) != 3 {
		t.Fatalf("%d banks", len(banks))
	}
	if banks[0].From != 0 || banks[2].To != 10*time.Minute || banks[1].From != 3*time.Minute {
		t.Fatalf("banks not spread over the run: %+v", banks)
	}
	for _, b := range banks {
		mid := (b.From + b.To).Seconds() / 2
		if r := b.Radius(mid); r != b.RadiusM {
			t.Errorf("radius %v at mid-life, want %v", r, b.RadiusM)
		}
		if b.Radius(b.From.Seconds()-1) != 0 || b.Radius(b.To.Seconds()) != 0 {
			t.Error("a bank outside its life")
		}
		if r := b.Radius(b.From.Seconds() + 10); r <= 0 || r >= b.RadiusM {
			t.Errorf("radius %v 10 s after forming, want growing", r)
		}
		x, y := b.Center(mid)
		if !b.Inside(x, y, mid) || b.Inside(x+b.RadiusM+1, y, mid) {
			t.Error("Inside disagrees with the radius")
		}
		x0, y0 := b.Center(b.From.Seconds())
		x1, y1 := b.Center(b.To.Seconds())
		if d := math.Hypot(x1-x0, y1-y0); math.Abs(d-DefaultFogSpeedKmh/3.6*240) > 1e-6 {
			t.Errorf("bank drifted %.0f m in its 4 minutes", d)
		}
		if mx, my := f.City().XY(b.Lat, b.Lon); math.Abs(mx-x) > 1e-6 || math.Abs(my-y) > 1e-6 {
			t.Errorf("Lat/Lon is not the centre at mid-life")
		}
	}
}

// TestDriverObeysTheRoads runs vehicles' models on their own and checks
// them against the city: never past a light that was red for longer than
// the amber, never far over the limit, stopping at stop signs.
func TestDriverObeysTheRoads(t *testing.T) {
	f := newFleet(t, Options{Vehicles: 10, Seed: 5, Duration: 15 * time.Minute, Fog: FogOptions{Banks: 2},
		BreakdownRate: 4, ParkFor: time.Minute})
	c := f.City()
	lightsPassed, stopsPassed := 0, 0
	for i := range f.Len() {
		v, err := f.Vehicle(i)
		if err != nil {
			t.Fatal(err)
		}
		d := v.d
		lastGreen := map[int]float64{} // edge → last time its light was green
		minSpeedOnEdge := math.Inf(1)
		for step := 0; step < int(15*time.Minute/(sim.StepMS*time.Millisecond)); step++ {
			leg, route := d.leg, d.route
			if route == nil {
				d.Step(sim.StepMS / 1000.0)
				continue
			}
			d.Step(sim.StepMS / 1000.0)
			tNow := d.st.T
			if d.route == nil || d.mode == parked {
				continue
			}
			e := d.route[d.leg]
			for _, x := range []int{e, route[leg]} { // the edge left in this step too
				if c.Green(x, tNow) {
					lastGreen[x] = tNow
				}
			}
			minSpeedOnEdge = math.Min(minSpeedOnEdge, d.st.Speed)
			if limit := c.Edges[e].Speed * 1.1; d.st.Speed > limit+0.6 && d.mode == driving {
				t.Fatalf("%s at %.1f km/h on a %v road (limit %.0f)", v.ID, d.st.Speed*3.6, c.Edges[e].Class, c.Edges[e].Speed*3.6)
			}
			if &route[0] == &d.route[0] && d.leg == leg+1 { // passed the end of edge route[leg]
				prev := route[leg]
				switch c.Control(prev) {
				case city.Light:
					if g, ok := lastGreen[prev]; !ok || tNow-g > city.AllRed+0.5 {
						t.Fatalf("%s passed the light at node %d at %.1f s, last green %.1f s (mode %d, cleared %v)", v.ID, c.Edges[prev].To, tNow, g, d.mode, ok)
					}
					lightsPassed++
				case city.Stop:
					if minSpeedOnEdge > 0 && d.mode != broken {
						t.Fatalf("%s passed a stop sign without stopping (slowest %.1f km/h)", v.ID, minSpeedOnEdge*3.6)
					}
					stopsPassed++
				}
				minSpeedOnEdge = math.Inf(1)
			}
		}
	}
	if lightsPassed == 0 || stopsPassed == 0 {
		t.Errorf("passed %d lights and %d stop signs: the test saw nothing", lightsPassed, stopsPassed)
	}
}

func TestPlayAndSource(t *testing.T) {
	f := newFleet(t, Options{Vehicles: 2, Duration: 20 * time.Second})
	want := candump(t, f, 1)
	v, err := f.Vehicle(1)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Time().Equal(f.Options().Start) {
		t.Fatalf("Time before the first frame: %v", v.Time())
	}
	var buf bytes.Buffer
	w := can.NewLogWriter(&buf)
	clock := NewClock(f.Options().Start, 0)
	n, err := Play(ctxT(t), v.Source(SourceOptions{Clock: clock}), w)
	if err != nil {
		t.Fatal(err)
	}
	w.Flush()
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatal("frames played at speed 0 differ from the vehicle's log")
	}
	if n != bytes.Count(want, []byte("\n")) || uint64(n) != v.Frames() {
		t.Fatalf("played %d frames, vehicle counted %d", n, v.Frames())
	}
	if d := v.Time().Sub(f.Options().Start); d < 19900*time.Millisecond || d >= 20*time.Second || !v.Done() {
		t.Fatalf("last frame %v after the start of a 20 s run (done %v)", d, v.Done())
	}
}

// TestSourcePaces plays two simulated seconds at speed 4 and checks that
// no frame comes out before its time on the clock, and that they keep up.
func TestSourcePaces(t *testing.T) {
	f := newFleet(t, Options{Vehicles: 1, Duration: 2 * time.Second})
	v, err := f.Vehicle(0)
	if err != nil {
		t.Fatal(err)
	}
	clock := NewClock(f.Options().Start, 4)
	src := v.Source(SourceOptions{Clock: clock})
	frames := 0
	for {
		fr, err := src.Next(ctxT(t))
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if early := -clock.Until(fr.Time); early < -time.Millisecond {
			t.Fatalf("frame %d released %v before its time", frames, -early)
		}
		frames++
	}
	if frames < 150 {
		t.Fatalf("%d frames in 2 simulated seconds", frames)
	}
	if lag := src.Lag(); lag > time.Second {
		t.Errorf("lag %v", lag)
	}
}

func TestSourceCloseAndCancel(t *testing.T) {
	f := newFleet(t, Options{Vehicles: 1, Duration: time.Hour})
	v, err := f.Vehicle(0)
	if err != nil {
		t.Fatal(err)
	}
	// a clock an hour behind the fleet: every frame is due in an hour
	clock := NewClock(f.Options().Start.Add(-time.Hour), 1)
	src := v.Source(SourceOptions{Clock: clock})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := src.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next past the deadline: %v", err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		src.Close()
	}()
	if _, err := src.Next(ctxT(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
	if _, err := src.Next(ctxT(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next on a closed source: %v", err)
	}
}

func TestClock(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	wall := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	now := wall
	c := &Clock{start: start, wall: wall, speed: 10, now: func() time.Time { return now }}
	now = wall.Add(3 * time.Second)
	if got := c.Sim(); !got.Equal(start.Add(30 * time.Second)) {
		t.Fatalf("Sim after 3 s at speed 10: %v", got)
	}
	if got := c.Until(start.Add(50 * time.Second)); got != 2*time.Second {
		t.Fatalf("Until: %v", got)
	}
	fast := &Clock{start: start, wall: wall, speed: 0, now: func() time.Time { return now }}
	if fast.Until(start.Add(time.Hour)) != 0 || !fast.Sim().Equal(start) || fast.Speed() != 0 {
		t.Fatal("a speed-0 clock waits")
	}
}

func BenchmarkVehicle(b *testing.B) {
	f := newFleet(b, Options{Vehicles: 1, Duration: 720 * time.Hour, Fog: FogOptions{Banks: 3},
		WarningRate: 1, BreakdownRate: 1})
	v, err := f.Vehicle(0)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Next(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
	// a vehicle sends about 87 frames a simulated second
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/87, "vehicles/core")
}

// BenchmarkFleetMemory builds a thousand vehicles, runs each ten simulated
// seconds, and reports the heap each one holds.
func BenchmarkFleetMemory(b *testing.B) {
	const n = 1000
	f := newFleet(b, Options{Vehicles: n, Duration: time.Hour, Fog: FogOptions{Banks: 2}, WarningRate: 1, BreakdownRate: 1})
	var perVehicle float64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		vs := make([]*Vehicle, n)
		for i := range vs {
			v, err := f.Vehicle(i)
			if err != nil {
				b.Fatal(err)
			}
			for range 870 {
				if _, err := v.Next(); err != nil {
					b.Fatal(err)
				}
			}
			vs[i] = v
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perVehicle = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(vs)
	}
	b.ReportMetric(perVehicle, "B/vehicle")
}

// TestDrivingLooksLikeACity decodes vehicles' frames and checks the drive
// as a person would: city speeds, inside the city, turns signalled by the
// indicator on the side the heading then turns to, the steering and yaw
// rate agreeing with the heading.
func TestDrivingLooksLikeACity(t *testing.T) {
	t.Parallel()
	f := newFleet(t, Options{Vehicles: 10, Seed: 21, Duration: 6 * time.Minute})
	half := f.City().Options().SizeM/2 + 50
	turnsChecked := 0
	for i := range f.Len() {
		lg := decodeLog(t, bytes.NewReader(candump(t, f, i)))
		var lat float64
		var moving, speedSum float64
		var maxSpeed float64
		type hd struct {
			t int64
			h float64
		}
		var headings []hd
		var signals []struct {
			t     int64
			right bool
		}
		for _, rd := range lg.readings {
			switch rd.path {
			case pLat:
				lat = rd.v
			case pLon:
				x, y := f.City().XY(lat, rd.v)
				if math.Abs(x) > half || math.Abs(y) > half {
					t.Fatalf("%s at %.0f m, %.0f m: outside the city", f.ID(i), x, y)
				}
			case pSpeed:
				if rd.v > 3 {
					moving++
					speedSum += rd.v
				}
				maxSpeed = max(maxSpeed, rd.v)
			case "Vehicle.CurrentLocation.Heading":
				headings = append(headings, hd{rd.t, rd.v})
			case "Vehicle.Body.Lights.DirectionIndicator.Left.IsSignaling", "Vehicle.Body.Lights.DirectionIndicator.Right.IsSignaling":
				if rd.v == 1 {
					signals = append(signals, struct {
						t     int64
						right bool
					}{rd.t, strings.Contains(rd.path, "Right")})
				}
			}
		}
		if avg := speedSum / moving; avg < 15 || avg > 50 || maxSpeed > 70 {
			t.Errorf("%s: %.0f km/h on average when moving, %.0f at most", f.ID(i), avg, maxSpeed)
		}
		// each burst of blinking: the heading turns that way within 10 s
		for k := 0; k < len(signals); k++ {
			s := signals[k]
			if k > 0 && s.t-signals[k-1].t < int64(3*time.Second) {
				continue // the same turn
			}
			var before, after float64
			found := false
			for _, h := range headings {
				if h.t <= s.t {
					before = h.h
				}
				if h.t > s.t+int64(10*time.Second) {
					after, found = h.h, true
					break
				}
			}
			if !found {
				continue
			}
			d := math.Mod(after-before+540, 360) - 180
			if math.Abs(d) < 20 {
				continue // signalled, then the turn came later (a stop sign, a light)
			}
			if (d > 0) != s.right {
				t.Errorf("%s signalled %s at %v and turned %.0f°", f.ID(i), map[bool]string{true: "right", false: "left"}[s.right],
					time.Unix(0, s.t).UTC().Format("15:04:05.0"), d)
			}
			turnsChecked++
		}
	}
	t.Logf("%d turns checked", turnsChecked)
	if turnsChecked < 10 {
		t.Errorf("only %d turns checked", turnsChecked)
	}
}

// TestSourceLag: a source whose clock is ahead of what it has sent says
// how far behind it is, and releases the overdue frames at once.
func TestSourceLag(t *testing.T) {
	f := newFleet(t, Options{Vehicles: 1, Duration: time.Minute})
	v, err := f.Vehicle(0)
	if err != nil {
		t.Fatal(err)
	}
	// a clock that started 30 simulated seconds ago
	clock := NewClock(f.Options().Start.Add(30*time.Second), 1)
	src := v.Source(SourceOptions{Clock: clock})
	began := time.Now()
	for range 87 * 10 { // ten seconds of frames, all overdue
		if _, err := src.Next(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Fatalf("overdue frames took %v", took)
	}
	if lag := src.Lag(); lag < 19*time.Second || lag > 31*time.Second {
		t.Fatalf("lag %v, want about 20 s", lag)
	}
	if src.Vehicle() != v {
		t.Fatal("Vehicle")
	}
	// a default source runs in real time from now: the first frame comes
	// within milliseconds
	v2, _ := f.Vehicle(0)
	if _, err := v2.Source(SourceOptions{}).Next(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}
