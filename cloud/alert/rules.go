package alert

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/cloud/twin"
)

// Defaults of Rules: what the engine does without a rules file.
const (
	DefaultFogMinVehicles  = 3
	DefaultFogWindow       = 5 * time.Minute
	DefaultFogClearAfter   = 2 * time.Minute
	DefaultStoppedFor      = 30 * time.Second
	DefaultMaxLateness     = 2 * time.Minute
	DefaultMaxClockSkew    = 5 * time.Minute
	DefaultSilentAfter     = 30 * time.Minute
	maxRuleDuration        = 24 * time.Hour
	maxFogMinVehicles      = 10_000
	minRuleDuration        = time.Second
	defaultRulesFileFormat = 1
)

// DefaultLamps are the warning lamps that raise a warning alert when none
// are configured: the lamps that say a vehicle on the road may be a danger
// (the list). Seat belt, low fuel and service lamps are left out.
var DefaultLamps = []string{
	"MalfunctionIndicator", "ABS", "Airbag", "BrakeSystem", "OilPressure",
	"CoolantTemperature", "BatteryCharge", "ESC", "TirePressure",
}

// Rules are the alert rules: the `rules` file of `ingest-gateway run` and
// `process` (LoadRules), or Options.Rules. Every zero field means its
// default, so the zero Rules are the defaults.
//
//	fog: {min_vehicles: 3, window: 5m, clear_after: 2m}
//	warning: {lamps: [ABS, Airbag, Vehicle.Kanal.Warning.ESC.IsOn]}
//	breakdown: {stopped_for: 30s}
//	max_lateness: 2m
//	max_clock_skew: 5m
//	silent_after: 30m
type Rules struct {
	Fog       FogRule       `yaml:"fog"`
	Warning   WarningRule   `yaml:"warning"`
	Breakdown BreakdownRule `yaml:"breakdown"`
	// MaxLateness is how old a report may be, by the processor's clock,
	// to still raise an alert: an older one (a spool backlog after an
	// outage, a processor catching up) updates the twin and raises
	// nothing, since an alert about the past misleads. Default 2m.
	MaxLateness time.Duration `yaml:"max_lateness"`
	// MaxClockSkew is how far ahead of the processor's clock a report's
	// time may be. A report further ahead is counted (a vehicle clock that
	// is off), kept, and taken as reported now. Default 5m.
	MaxClockSkew time.Duration `yaml:"max_clock_skew"`
	// SilentAfter clears a vehicle's warning and breakdown alerts when it
	// has reported nothing for this long: the cloud no longer knows.
	// Default 30m.
	SilentAfter time.Duration `yaml:"silent_after"`
}

// FogRule: fog in a cell when at least MinVehicles distinct vehicles there
// have front or rear fog lights on, each with a report no older than
// Window; cleared once the count has stayed below MinVehicles for
// ClearAfter.
type FogRule struct {
	MinVehicles int           `yaml:"min_vehicles"` // default 3
	Window      time.Duration `yaml:"window"`       // default 5m
	ClearAfter  time.Duration `yaml:"clear_after"`  // default 2m
}

// WarningRule: a warning alert when one of Lamps turns on. Lamps are short
// names (ABS) or catalog paths (Vehicle.Kanal.Warning.ABS.IsOn); nil means
// DefaultLamps, an empty non-nil list turns warning alerts off.
type WarningRule struct {
	Lamps []string `yaml:"lamps"`
}

// BreakdownRule: a breakdown alert for a vehicle with hazard lights on that
// has been stopped (twin.BandStopped) for StoppedFor. Default 30s.
type BreakdownRule struct {
	StoppedFor time.Duration `yaml:"stopped_for"`
}

// withDefaults returns r with every zero field set to its default and the
// lamps as short names, or an error naming the first bad field. cat
// resolves lamp names; nil means catalog.Default().
func (r Rules) withDefaults(cat *catalog.Catalog) (Rules, error) {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if r.Fog.MinVehicles == 0 {
		r.Fog.MinVehicles = DefaultFogMinVehicles
	}
	def(&r.Fog.Window, DefaultFogWindow)
	def(&r.Fog.ClearAfter, DefaultFogClearAfter)
	def(&r.Breakdown.StoppedFor, DefaultStoppedFor)
	def(&r.MaxLateness, DefaultMaxLateness)
	def(&r.MaxClockSkew, DefaultMaxClockSkew)
	def(&r.SilentAfter, DefaultSilentAfter)
	if r.Fog.MinVehicles < 1 || r.Fog.MinVehicles > maxFogMinVehicles {
		return r, fmt.Errorf("fog.min_vehicles %d: want 1 to %d", r.Fog.MinVehicles, maxFogMinVehicles)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"fog.window", r.Fog.Window}, {"fog.clear_after", r.Fog.ClearAfter},
		{"breakdown.stopped_for", r.Breakdown.StoppedFor}, {"max_lateness", r.MaxLateness},
		{"max_clock_skew", r.MaxClockSkew}, {"silent_after", r.SilentAfter},
	} {
		if err := checkDuration(d.v); err != nil {
			return r, fmt.Errorf("%s %v: %w", d.name, d.v, err)
		}
	}
	if r.Warning.Lamps == nil {
		r.Warning.Lamps = DefaultLamps
	}
	known := lampNames(cat)
	lamps := make([]string, 0, len(r.Warning.Lamps))
	for _, l := range r.Warning.Lamps {
		name, err := lampName(l, known)
		if err != nil {
			return r, fmt.Errorf("warning.lamps: %w", err)
		}
		if !slices.Contains(lamps, name) {
			lamps = append(lamps, name)
		}
	}
	r.Warning.Lamps = lamps
	return r, nil
}

// checkDuration bounds a rule's duration: at least a second (the engine's
// tick), at most a day (anything longer is a typo).
func checkDuration(d time.Duration) error {
	if d < minRuleDuration || d > maxRuleDuration {
		return fmt.Errorf("want %v to %v", minRuleDuration, maxRuleDuration)
	}
	return nil
}

// lampNames returns the short names of the catalog's warning lamps.
func lampNames(cat *catalog.Catalog) []string {
	if cat == nil {
		cat = catalog.Default()
	}
	var out []string
	for _, e := range cat.Entries() {
		if name, ok := twin.LampName(e.Path); ok && e.Type == catalog.Bool {
			out = append(out, name)
		}
	}
	return out
}

// lampName resolves a short name or a catalog path to a known short name.
func lampName(s string, known []string) (string, error) {
	name := s
	if n, ok := twin.LampName(s); ok {
		name = n
	}
	if slices.Contains(known, name) {
		return name, nil
	}
	if s == "" {
		return "", errors.New("empty lamp name")
	}
	return "", fmt.Errorf("unknown lamp %q (want one of %v, or its path %s)", s, known, twin.LampPath("<Lamp>"))
}
