package main

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/kanal-dev/kanal/sim/city"
	"github.com/kanal-dev/kanal/sim/fleet"
)

// Defaults of the flags: those of `make demo`'s fleet.
const (
	defaultDBC     = "testdata/candumps/kanal_demo.dbc"
	defaultMapping = "testdata/candumps/kanal_demo.mapping.yaml"
)

// fleetFlags are the flags that describe the fleet, shared by every mode
// so that a seed names the same fleet in each.
type fleetFlags struct {
	dbc           string
	seed          uint64
	vehicles      int
	duration      time.Duration
	start         string
	idPrefix      string
	citySize      float64
	block         float64
	fogBanks      int
	fogRadius     float64
	fogSpeed      float64
	fogLife       time.Duration
	fogLightUse   float64
	warningRate   float64
	breakdownRate float64
	breakdownFor  time.Duration
	parkFor       time.Duration
	cellLevel     int
}

func (fl *fleetFlags) add(f *pflag.FlagSet, startHelp string) {
	f.StringVar(&fl.dbc, "dbc", defaultDBC, "the demo vehicle's DBC file, through which every frame is encoded")
	f.Uint64Var(&fl.seed, "seed", 1, "seed of everything random: city, fog, trips, events, sensor noise")
	f.IntVar(&fl.vehicles, "vehicles", fleet.DefaultVehicles, "number of vehicles")
	f.DurationVar(&fl.duration, "duration", fleet.DefaultDuration, "simulated time")
	f.StringVar(&fl.start, "start", "", startHelp)
	f.StringVar(&fl.idPrefix, "id-prefix", fleet.DefaultIDPrefix, "vehicle ids are PREFIX-0001, PREFIX-0002, ...")
	f.Float64Var(&fl.citySize, "city-size", city.DefaultSizeM, "side of the square city in metres")
	f.Float64Var(&fl.block, "block", city.DefaultBlockM, "metres between neighbouring crossings")
	f.IntVar(&fl.fogBanks, "fog-banks", 2, "fog banks during the run, evenly spread, the first at the start (0: none)")
	f.Float64Var(&fl.fogRadius, "fog-radius", fleet.DefaultFogRadiusM, "radius of a fully formed fog bank in metres")
	f.Float64Var(&fl.fogSpeed, "fog-speed", fleet.DefaultFogSpeedKmh, "wind speed the fog drifts at, km/h")
	f.DurationVar(&fl.fogLife, "fog-life", 0, "how long each fog bank lasts (0: 60% of the run, at most 30m)")
	f.Float64Var(&fl.fogLightUse, "fog-light-use", fleet.DefaultFogLightUse, "share of drivers who switch the fog lights on in fog")
	f.Float64Var(&fl.warningRate, "warning-rate", 0.5, "warning lamps coming on per vehicle and hour (0: none)")
	f.Float64Var(&fl.breakdownRate, "breakdown-rate", 0.2, "breakdowns per vehicle and hour of driving (0: none)")
	f.DurationVar(&fl.breakdownFor, "breakdown-for", fleet.DefaultBreakdownFor, "how long a broken-down vehicle stands with hazard lights on")
	f.DurationVar(&fl.parkFor, "park-for", fleet.DefaultParkFor, "mean time parked, ignition off, between trips (at least 30s)")
	f.IntVar(&fl.cellLevel, "cell-level", 13, "grid level of the agents' cells (privacy.level): the truth's cells")
}

// options turns the flags into fleet options; defaultStart is used when
// --start is not given.
func (fl *fleetFlags) options(defaultStart time.Time) (fleet.Options, error) {
	start := defaultStart
	if fl.start != "" {
		t, err := time.Parse(time.RFC3339Nano, fl.start)
		if err != nil {
			return fleet.Options{}, fmt.Errorf("--start %q: want RFC 3339, e.g. 2025-11-12T06:45:00Z", fl.start)
		}
		start = t
	}
	return fleet.Options{DBC: fl.dbc, Vehicles: fl.vehicles, Seed: fl.seed, Duration: fl.duration, Start: start,
		IDPrefix: fl.idPrefix, City: city.Options{SizeM: fl.citySize, BlockM: fl.block},
		Fog: fleet.FogOptions{Banks: fl.fogBanks, RadiusM: fl.fogRadius, SpeedKmh: fl.fogSpeed, Life: fl.fogLife,
			LightUse: fl.fogLightUse},
		WarningRate: fl.warningRate, BreakdownRate: fl.breakdownRate, BreakdownFor: fl.breakdownFor,
		ParkFor: fl.parkFor, CellLevel: fl.cellLevel}, nil
}

// newFleet builds the fleet of the flags.
func (fl *fleetFlags) newFleet(defaultStart time.Time) (*fleet.Fleet, error) {
	o, err := fl.options(defaultStart)
	if err != nil {
		return nil, err
	}
	if o.Vehicles == 0 {
		return nil, fmt.Errorf("--vehicles 0: want at least 1")
	}
	return fleet.New(o)
}

// ruleFlags are the gateway's alert rules the truth applies: give them as
// in the gateway's rules file.
type ruleFlags struct {
	fogMin        int
	fogWindow     time.Duration
	fogClearAfter time.Duration
	stoppedFor    time.Duration
	lamps         []string
}

func (rl *ruleFlags) add(f *pflag.FlagSet) {
	f.IntVar(&rl.fogMin, "fog-min-vehicles", fleet.DefaultFogMinVehicles, "rules: vehicles with fog lights on in a cell that raise a fog alert")
	f.DurationVar(&rl.fogWindow, "fog-window", fleet.DefaultFogWindow, "rules: how long a silent vehicle's last report counts")
	f.DurationVar(&rl.fogClearAfter, "fog-clear-after", fleet.DefaultFogClearAfter, "rules: how long the count stays below the minimum before the alert clears")
	f.DurationVar(&rl.stoppedFor, "stopped-for", fleet.DefaultStoppedFor, "rules: how long a vehicle stands with hazard lights on before a breakdown alert")
	f.StringSliceVar(&rl.lamps, "lamps", nil, "rules: warning lamps that raise alerts, short names (default: the gateway's nine)")
}

func (rl *ruleFlags) rules() fleet.Rules {
	return fleet.Rules{FogMinVehicles: rl.fogMin, FogWindow: rl.fogWindow, FogClearAfter: rl.fogClearAfter,
		StoppedFor: rl.stoppedFor, Lamps: rl.lamps}
}
