package fleet

import (
	"fmt"
	"math/rand/v2"

	"github.com/kanal-dev/kanal/dbc"
	"github.com/kanal-dev/kanal/geo"
	"github.com/kanal-dev/kanal/sim"
	"github.com/kanal-dev/kanal/sim/city"
)

// Fleet is a simulated fleet: its city, its fog and, for each vehicle, a
// deterministic generator of its frames (Vehicle). It holds no vehicle
// state itself and is safe for concurrent use: each Vehicle is independent
// of the others (they do not see each other on the road), so a thousand of
// them run on a thousand goroutines and still give the same frames.
type Fleet struct {
	opts    Options
	enc     *sim.Encoder
	city    *city.City
	fog     fog
	weather sim.State
	sig     signalRefs
}

// signalRefs are the message and signal indices the truth reads from the
// frames.
type signalRefs struct {
	lights, fogFront, fogRear, hazard int // BCM_Lights
	position, lat, lon                int // GNSS_Position
	speedMsg, speed                   int // VDC_Speed.VehicleSpeed
	warnings                          int // IC_Warnings
	lamps                             [len(lampList)]int
}

// lampList are the lamps the truth follows, in sim.Lamp order.
var lampList = [...]sim.Lamp{sim.LampMIL, sim.LampABS, sim.LampAirbag, sim.LampBrake, sim.LampOilPressure,
	sim.LampCoolantTemp, sim.LampBatteryCharge, sim.LampESC, sim.LampTPMS, sim.LampService}

// New builds the fleet of opts: it loads the DBC, lays out the city and
// the fog banks.
func New(opts Options) (*Fleet, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	db, err := dbc.Load(o.DBC)
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	enc, err := sim.NewEncoder(db)
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	c, err := city.New(o.City)
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	o.City = c.Options()
	f := &Fleet{opts: o, enc: enc, city: c}
	f.fog = newFog(o, o.City.SizeM, c.LatLng)
	if f.sig, err = resolve(db); err != nil {
		return nil, fmt.Errorf("fleet: %s: %w", o.DBC, err)
	}
	// One weather for the whole run: a damp, dim November morning.
	w := rand.New(rand.NewPCG(o.Seed, 0x77656174686572)) // "weather"
	f.weather = sim.State{LightPct: sim.Uniform(w, 45, 75), AmbientC: sim.Uniform(w, 2, 8), HumidityPct: sim.Uniform(w, 80, 95)}
	return f, nil
}

// resolve finds the signals the truth reads.
func resolve(db *dbc.Database) (signalRefs, error) {
	var r signalRefs
	find := func(msg, sig string, mi, si *int) error {
		m := db.Message(msg)
		if m == nil {
			return fmt.Errorf("no message %s: not the demo vehicle's DBC", msg)
		}
		s := m.Signal(sig)
		if s == nil {
			return fmt.Errorf("no signal %s.%s: not the demo vehicle's DBC", msg, sig)
		}
		*mi, *si = m.Index, s.Index
		return nil
	}
	for _, f := range []struct {
		msg, sig string
		mi, si   *int
	}{
		{"BCM_Lights", "FogLightFront", &r.lights, &r.fogFront},
		{"BCM_Lights", "FogLightRear", &r.lights, &r.fogRear},
		{"BCM_Lights", "HazardActive", &r.lights, &r.hazard},
		{"GNSS_Position", "Latitude", &r.position, &r.lat},
		{"GNSS_Position", "Longitude", &r.position, &r.lon},
		{"VDC_Speed", "VehicleSpeed", &r.speedMsg, &r.speed},
	} {
		if err := find(f.msg, f.sig, f.mi, f.si); err != nil {
			return r, err
		}
	}
	for i, l := range lampList {
		if err := find("IC_Warnings", l.Signal(), &r.warnings, &r.lamps[i]); err != nil {
			return r, err
		}
	}
	return r, nil
}

// Options returns the fleet's options with the defaults filled in.
func (f *Fleet) Options() Options { return f.opts }

// Len returns the number of vehicles.
func (f *Fleet) Len() int { return f.opts.Vehicles }

// ID returns the id of vehicle i (from 0): sim-0001 for 0.
func (f *Fleet) ID(i int) string { return vehicleID(f.opts.IDPrefix, i, f.opts.Vehicles) }

// City returns the road network.
func (f *Fleet) City() *city.City { return f.city }

// FogBanks returns the fog banks of the run.
func (f *Fleet) FogBanks() []FogBank { return append([]FogBank(nil), f.fog...) }

// Encoder returns the demo vehicle's encoder the frames are made with.
func (f *Fleet) Encoder() *sim.Encoder { return f.enc }

// stream is the seed of one of vehicle i's random sources: where it
// drives, its sensor noise, its events.
func stream(i int, kind uint64) uint64 { return uint64(i)<<8 | kind }

// Vehicle returns a new generator of vehicle i's frames, from the start.
// Two generators of one vehicle give the same frames.
func (f *Fleet) Vehicle(i int) (*Vehicle, error) {
	if i < 0 || i >= f.opts.Vehicles {
		return nil, fmt.Errorf("fleet: vehicle %d: want 0 to %d", i, f.opts.Vehicles-1)
	}
	seed := f.opts.Seed
	ev := newEvents(rand.New(rand.NewPCG(seed, stream(i, 3))), f.opts)
	d := newDriver(f.city, f.fog, rand.New(rand.NewPCG(seed, stream(i, 1))), ev, f.opts, f.weather)
	phase := int(rand.New(rand.NewPCG(seed, stream(i, 4))).Uint64() % 1000)
	tx, err := sim.NewTransmitter(d, sim.TransmitterOptions{Encoder: f.enc, Start: f.opts.Start,
		Duration: f.opts.Duration, Phase: phase, Noise: rand.New(rand.NewPCG(seed, stream(i, 2)))})
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	grid, _ := geo.NewGrid(f.opts.CellLevel)
	return &Vehicle{ID: f.ID(i), Index: i, d: d, tx: tx, start: f.opts.Start, rep: reporter{sig: &f.sig, grid: grid, fog: -1, hazard: -1, stopped: -1}}, nil
}
