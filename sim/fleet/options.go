package fleet

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/kanal-dev/kanal/geo"
	"github.com/kanal-dev/kanal/sim/city"
	"github.com/kanal-dev/kanal/uplink/batch"
)

// Defaults of Options.
const (
	DefaultVehicles     = 40
	DefaultDuration     = 10 * time.Minute
	DefaultIDPrefix     = "sim"
	DefaultBreakdownFor = 3 * time.Minute
	DefaultParkFor      = 5 * time.Minute
	DefaultFogRadiusM   = 900.0
	DefaultFogSpeedKmh  = 15.0
	DefaultFogLightUse  = 0.9
	maxVehicles         = 1_000_000
	maxDuration         = 30 * 24 * time.Hour
	maxRate             = 3600.0 // events per vehicle-hour: one a second
)

// DefaultStart is the timestamp of the first frame when Options.Start is
// zero: a November dawn, the season of fog. A live run (sim/runner) starts
// at the present instead.
var DefaultStart = time.Date(2025, 11, 12, 6, 45, 0, 0, time.UTC)

// Options describe a fleet. Zero fields take the defaults named beside
// them; zero counts and rates mean none.
type Options struct {
	// DBC is the demo vehicle's DBC file (testdata/candumps/kanal_demo.dbc),
	// through which every frame is encoded. Required.
	DBC string `yaml:"dbc"`
	// Vehicles is the fleet's size (default 40).
	Vehicles int `yaml:"vehicles"`
	// Seed fixes everything random: the city, the fog, each vehicle's
	// trips, events and sensor noise. The same Options give the same frames.
	Seed uint64 `yaml:"seed"`
	// Duration is the simulated time (default 10 minutes).
	Duration time.Duration `yaml:"duration"`
	// Start is the time of the first frame (default DefaultStart).
	Start time.Time `yaml:"start"`
	// IDPrefix names the vehicles PREFIX-0001, PREFIX-0002, ... (default sim).
	IDPrefix string `yaml:"id_prefix"`
	// City is the road network; its seed, when zero, is Seed.
	City city.Options `yaml:"city"`
	Fog  FogOptions   `yaml:"fog"`
	// WarningRate is how often a warning lamp comes on, per vehicle and
	// hour (0: never). Each lamp is one of the nine the cloud's warning
	// rule watches, and stays on to the end.
	WarningRate float64 `yaml:"warning_rate"`
	// BreakdownRate is how often a vehicle breaks down, per vehicle and
	// hour of driving (0: never): it brakes to a stop on the road, switches
	// the hazard lights on and stands for BreakdownFor.
	BreakdownRate float64 `yaml:"breakdown_rate"`
	// BreakdownFor is how long a broken-down vehicle stands (default 3m).
	BreakdownFor time.Duration `yaml:"breakdown_for"`
	// CellLevel is the grid level the agents round positions to
	// (privacy.level; default geo.DefaultLevel, 13): the truth's cells.
	CellLevel int `yaml:"cell_level"`
	// ParkFor is the mean time a vehicle stays parked, ignition off and
	// silent, between trips (default 5m; at least 30 s).
	ParkFor time.Duration `yaml:"park_for"`
}

// FogOptions describe the fog banks that drift across the city with the
// wind. Vehicles inside one drive slower with low beam and wipers, and
// most drivers switch the fog lights on after a few seconds.
type FogOptions struct {
	// Banks is how many fog banks form during the run (0: none). They
	// start evenly spread over the run, the first at its start.
	Banks int `yaml:"banks"`
	// RadiusM is a bank's radius when fully formed (default 900 m); it
	// grows and thins out over a fifth of its life at either end.
	RadiusM float64 `yaml:"radius_m"`
	// SpeedKmh is the wind that moves the banks (default 15 km/h), from a
	// direction the seed picks.
	SpeedKmh float64 `yaml:"speed_kmh"`
	// Life is how long each bank lasts (default 60 % of the run, at most 30m).
	Life time.Duration `yaml:"life"`
	// LightUse is the share of drivers who switch the fog lights on in
	// fog (default 0.9; the others drive on with low beam only).
	LightUse float64 `yaml:"light_use"`
}

// withDefaults fills the zero fields and checks the others, naming the
// first bad field.
func (o Options) withDefaults() (Options, error) {
	if o.DBC == "" {
		return o, errors.New("fleet: options: dbc is required (the demo vehicle's DBC, testdata/candumps/kanal_demo.dbc)")
	}
	if o.Vehicles == 0 {
		o.Vehicles = DefaultVehicles
	}
	if o.Duration == 0 {
		o.Duration = DefaultDuration
	}
	if o.Start.IsZero() {
		o.Start = DefaultStart
	}
	if o.IDPrefix == "" {
		o.IDPrefix = DefaultIDPrefix
	}
	if o.City.Seed == 0 {
		o.City.Seed = o.Seed
	}
	if o.BreakdownFor == 0 {
		o.BreakdownFor = DefaultBreakdownFor
	}
	if o.ParkFor == 0 {
		o.ParkFor = DefaultParkFor
	}
	if o.CellLevel == 0 {
		o.CellLevel = geo.DefaultLevel
	}
	if _, err := geo.NewGrid(o.CellLevel); err != nil {
		return o, fmt.Errorf("fleet: options: cell_level: %w", err)
	}
	f := &o.Fog
	if f.RadiusM == 0 {
		f.RadiusM = DefaultFogRadiusM
	}
	if f.SpeedKmh == 0 {
		f.SpeedKmh = DefaultFogSpeedKmh
	}
	if f.Life == 0 {
		f.Life = min(o.Duration*6/10, 30*time.Minute)
	}
	if f.LightUse == 0 {
		f.LightUse = DefaultFogLightUse
	}
	switch {
	case o.Vehicles < 0 || o.Vehicles > maxVehicles:
		return o, fmt.Errorf("fleet: options: vehicles %d: want 1 to %d", o.Vehicles, maxVehicles)
	case o.Duration < time.Second || o.Duration > maxDuration:
		return o, fmt.Errorf("fleet: options: duration %v: want 1s to %v", o.Duration, maxDuration)
	case strings.ContainsAny(o.IDPrefix, ":/ "):
		return o, fmt.Errorf("fleet: options: id_prefix %q: letters, digits, '-' and '_' only", o.IDPrefix)
	case !rate(o.WarningRate):
		return o, fmt.Errorf("fleet: options: warning_rate %v: want 0 to %v per vehicle-hour", o.WarningRate, maxRate)
	case !rate(o.BreakdownRate):
		return o, fmt.Errorf("fleet: options: breakdown_rate %v: want 0 to %v per vehicle-hour", o.BreakdownRate, maxRate)
	case o.BreakdownFor < time.Second || o.BreakdownFor > 24*time.Hour:
		return o, fmt.Errorf("fleet: options: breakdown_for %v: want 1s to 24h", o.BreakdownFor)
	case o.ParkFor < 30*time.Second || o.ParkFor > 24*time.Hour:
		return o, fmt.Errorf("fleet: options: park_for %v: want 30s to 24h", o.ParkFor)
	case f.Banks < 0 || f.Banks > 1000:
		return o, fmt.Errorf("fleet: options: fog.banks %d: want 0 to 1000", f.Banks)
	case !(f.RadiusM >= 50 && f.RadiusM <= 20000):
		return o, fmt.Errorf("fleet: options: fog.radius_m %v: want 50 to 20000", f.RadiusM)
	case !(f.SpeedKmh >= 0 && f.SpeedKmh <= 200):
		return o, fmt.Errorf("fleet: options: fog.speed_kmh %v: want 0 to 200", f.SpeedKmh)
	case f.Life < time.Second || f.Life > maxDuration:
		return o, fmt.Errorf("fleet: options: fog.life %v: want 1s to %v", f.Life, maxDuration)
	case !(f.LightUse > 0 && f.LightUse <= 1):
		return o, fmt.Errorf("fleet: options: fog.light_use %v: want more than 0, at most 1", f.LightUse)
	}
	if err := batch.CheckVehicleID(vehicleID(o.IDPrefix, o.Vehicles-1, o.Vehicles)); err != nil {
		return o, fmt.Errorf("fleet: options: id_prefix %q: %w", o.IDPrefix, err)
	}
	return o, nil
}

func rate(r float64) bool { return r >= 0 && r <= maxRate && !math.IsNaN(r) }

// vehicleID names vehicle i (from 0) of n: prefix-0001, with more digits
// in fleets over 9,999.
func vehicleID(prefix string, i, n int) string {
	width := max(4, len(fmt.Sprint(n)))
	return fmt.Sprintf("%s-%0*d", prefix, width, i+1)
}
