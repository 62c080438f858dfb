package sim

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/can"
	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/dbc"
)

// still is a Model that stands where it is told, for tests.
type still struct {
	st    State
	steps int
	// offFrom..offTo switch the ignition off, in steps
	offFrom, offTo int
}

func (m *still) Step(dt float64) {
	m.steps++
	m.st.T += dt
	m.st.Off = m.steps > m.offFrom && m.steps <= m.offTo
}

func (m *still) State() *State { return &m.st }

var start = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func newTx(t *testing.T, m Model, opts TransmitterOptions) *Transmitter {
	t.Helper()
	if opts.Encoder == nil {
		enc, err := NewEncoder(demoDB(t))
		if err != nil {
			t.Fatal(err)
		}
		opts.Encoder = enc
	}
	if opts.Noise == nil {
		opts.Noise = rand.New(rand.NewPCG(1, 2))
	}
	if opts.Start.IsZero() {
		opts.Start = start
	}
	tx, err := NewTransmitter(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

func drainTx(t *testing.T, tx *Transmitter) (frames []can.Timed, msgs []int) {
	t.Helper()
	for {
		f, m, ok := tx.Next()
		if !ok {
			if err := tx.Err(); err != nil {
				t.Fatal(err)
			}
			return frames, msgs
		}
		frames = append(frames, f)
		msgs = append(msgs, m)
	}
}

// TestTransmitterSchedule: every message at its cycle time, in time order,
// each frame within its millisecond, none after the duration; the model is
// stepped every 10 ms.
func TestTransmitterSchedule(t *testing.T) {
	db := demoDB(t)
	m := &still{offFrom: 1 << 30}
	tx := newTx(t, m, TransmitterOptions{Duration: 10 * time.Second, Bus: "vcan3"})
	frames, msgs := drainTx(t, tx)
	perMsg := map[int]int{}
	for i, f := range frames {
		if i > 0 && f.Time.Before(frames[i-1].Time) {
			t.Fatalf("frame %d at %v before frame %d at %v", i, f.Time, i-1, frames[i-1].Time)
		}
		if f.Bus != "vcan3" {
			t.Fatalf("bus %q", f.Bus)
		}
		if d := f.Time.Sub(start); d < 0 || d >= 10*time.Second {
			t.Fatalf("frame at %v of a 10 s drive", d)
		}
		if us := f.Time.Sub(start).Microseconds() % 1000; us >= 900 {
			t.Fatalf("jitter %d µs", us)
		}
		msg := db.Messages[msgs[i]]
		if f.Frame.ID != msg.ID {
			t.Fatalf("frame %v is not message %s", f.Frame, msg.Name)
		}
		perMsg[msgs[i]]++
	}
	for i, msg := range db.Messages {
		want := 10000 / cycles[msg.Name]
		if n := perMsg[i]; n < want-1 || n > want+1 {
			t.Errorf("%s: %d frames in 10 s, cycle %d ms", msg.Name, n, cycles[msg.Name])
		}
	}
	if m.steps < 990 || m.steps > 1001 { // up to the last frame due
		t.Errorf("model stepped %d times in 10 s", m.steps)
	}
	if _, _, ok := tx.Next(); ok {
		t.Error("a frame after the end")
	}
}

// TestTransmitterPhase: a phase shifts the whole schedule, and two phases
// do not send in step.
func TestTransmitterPhase(t *testing.T) {
	a, _ := drainTx(t, newTx(t, &still{offFrom: 1 << 30}, TransmitterOptions{Duration: time.Second}))
	b, _ := drainTx(t, newTx(t, &still{offFrom: 1 << 30}, TransmitterOptions{Duration: time.Second, Phase: 17}))
	if a[0].Time.Truncate(time.Millisecond).Equal(b[0].Time.Truncate(time.Millisecond)) {
		t.Fatal("phase 17 starts in the same millisecond as phase 0")
	}
	same := 0
	ms := map[int64]bool{}
	for _, f := range a {
		ms[f.Time.UnixMilli()] = true
	}
	for _, f := range b {
		if ms[f.Time.UnixMilli()] {
			same++
		}
	}
	if same > len(b)/2 {
		t.Errorf("%d of %d frames in the same milliseconds", same, len(b))
	}
}

// TestTransmitterSilentWhenOff: no frame while the ignition is off; the
// schedule goes on, so the frames come back at once when it is on again.
func TestTransmitterSilentWhenOff(t *testing.T) {
	m := &still{offFrom: 100, offTo: 400} // off from 1 s to 4 s
	frames, _ := drainTx(t, newTx(t, m, TransmitterOptions{Duration: 6 * time.Second}))
	var gap time.Duration
	for i := 1; i < len(frames); i++ {
		gap = max(gap, frames[i].Time.Sub(frames[i-1].Time))
		if d := frames[i].Time.Sub(start); d > 1010*time.Millisecond && d < 4*time.Second {
			t.Fatalf("a frame at %v, while the ignition was off", d)
		}
	}
	if gap < 2900*time.Millisecond || gap > 3100*time.Millisecond {
		t.Fatalf("longest gap %v, want the 3 s off", gap)
	}
}

func TestTransmitterErrors(t *testing.T) {
	enc, err := NewEncoder(demoDB(t))
	if err != nil {
		t.Fatal(err)
	}
	noise := rand.New(rand.NewPCG(1, 1))
	other, err := dbc.Parse("other.dbc", []byte("VERSION \"\"\nBO_ 5 Other: 8 X\n SG_ A : 0|8@1+ (1,0) [0|0] \"\" X\n"))
	if err != nil {
		t.Fatal(err)
	}
	otherEnc, err := NewEncoder(other)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts TransmitterOptions
		want string
	}{
		{"no encoder", TransmitterOptions{Noise: noise}, "Encoder and Noise are required"},
		{"no noise", TransmitterOptions{Encoder: enc}, "Encoder and Noise are required"},
		{"phase", TransmitterOptions{Encoder: enc, Noise: noise, Phase: -1}, "phase -1"},
		{"duration", TransmitterOptions{Encoder: enc, Noise: noise, Duration: -time.Second}, "duration -1s"},
		{"other vehicle", TransmitterOptions{Encoder: otherEnc, Noise: noise}, "Other is not part of the demo vehicle"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewTransmitter(&still{}, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewTransmitter: %v, want %q", err, tc.want)
			}
		})
	}
}

// TestStateReachesTheCatalog sets a state and decodes its frames through
// the agent's pipeline: each part of the state shows in the catalog values
// the cloud reads.
func TestStateReachesTheCatalog(t *testing.T) {
	m := &still{offFrom: 1 << 30}
	m.st = State{Phase: Parked, Speed: 0, Lat: 48.1, Lon: 11.6, Heading: 90, FogLights: true, Foggy: true,
		Hazard: true, Lamps: Lamps(0).With(LampABS).With(LampTPMS), LightPct: 80, Fuel: 50, Coolant: 80, Oil: 85,
		AmbientC: 5, HumidityPct: 60, OdometerKm: 1000}
	tx := newTx(t, m, TransmitterOptions{Duration: 2 * time.Second})
	pipe, err := dbc.NewPipeline(dbc.PipelineOptions{DBC: []string{demoDir + "/kanal_demo.dbc"},
		Mapping: demoDir + "/kanal_demo.mapping.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	last := map[string]float64{}
	var fv dbc.FrameValues
	frames, _ := drainTx(t, tx)
	for i := range frames {
		pipe.Decode(&frames[i], &fv)
		if fv.Result.Status != dbc.Decoded {
			t.Fatalf("frame %v: %v", frames[i].Frame, fv.Result.Status)
		}
		for _, v := range fv.Catalog {
			e, _ := pipe.Catalog().ByID(v.ID)
			last[e.Path] = v.Num
		}
	}
	idx := func(path, label string) float64 {
		e, _ := catalog.Default().ByPath(path)
		v, ok := e.Index(label)
		if !ok {
			t.Fatalf("%s has no %s", path, label)
		}
		return v
	}
	for path, want := range map[string]float64{
		"Vehicle.Body.Lights.Fog.Front.IsOn":           1,
		"Vehicle.Body.Lights.Fog.Rear.IsOn":            1,
		"Vehicle.Body.Lights.Beam.Low.IsOn":            1, // fog, though the day is bright
		"Vehicle.Body.Lights.Running.IsOn":             0,
		"Vehicle.Body.Lights.Hazard.IsSignaling":       1,
		"Vehicle.Body.Windshield.Front.Wiping.Mode":    idx("Vehicle.Body.Windshield.Front.Wiping.Mode", "INTERVAL"),
		"Vehicle.Kanal.Warning.ABS.IsOn":               1,
		"Vehicle.Kanal.Warning.TirePressure.IsOn":      1,
		"Vehicle.Kanal.Warning.Airbag.IsOn":            0,
		"Vehicle.ADAS.ABS.IsError":                     1,
		"Vehicle.Powertrain.Transmission.SelectedGear": 126, // P
		"Vehicle.Chassis.ParkingBrake.IsEngaged":       1,
		"Vehicle.Speed":                                0,
		"Vehicle.Exterior.Humidity":                    98,
		"Vehicle.TraveledDistance":                     1000e3,
	} {
		got, ok := last[path]
		if !ok || got != want {
			t.Errorf("%s = %v (%v), want %v", path, got, ok, want)
		}
	}
	if lat := last["Vehicle.CurrentLocation.Latitude"]; lat < 48.09999 || lat > 48.10001 {
		t.Errorf("latitude %v", lat)
	}
}

func TestLamps(t *testing.T) {
	for l := range numLamps {
		if got, ok := LampBySignal(l.Signal()); !ok || got != l {
			t.Errorf("LampBySignal(%s) = %v %v", l.Signal(), got, ok)
		}
		if got, ok := LampByName(l.Name()); !ok || got != l || l.String() != l.Name() {
			t.Errorf("LampByName(%s) = %v %v", l.Name(), got, ok)
		}
	}
	if _, ok := LampBySignal("WarnNothing"); ok {
		t.Error("a lamp WarnNothing")
	}
	if _, ok := LampByName("Nothing"); ok {
		t.Error("a lamp Nothing")
	}
	if Lamp(200).Name() != "" || Lamp(200).Signal() != "" {
		t.Error("names of an unknown lamp")
	}
	var s Lamps
	s = s.With(LampESC).With(LampESC)
	if !s.Has(LampESC) || s.Has(LampABS) || s != 1<<LampESC {
		t.Errorf("set %b", s)
	}
	for _, l := range AlertLamps {
		if l == LampService {
			t.Error("the service reminder raises alerts")
		}
	}
	if len(AlertLamps) != 9 {
		t.Errorf("%d alert lamps, the gateway watches 9", len(AlertLamps))
	}
}
