package uplink

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/geo"
)

// Catalog paths the privacy stage reads and writes.
const (
	LatitudePath  = "Vehicle.CurrentLocation.Latitude"
	LongitudePath = "Vehicle.CurrentLocation.Longitude"
	CellPath      = "Vehicle.Kanal.Location.Cell"
	// The signals that tell a trip's start: ignition (the low-voltage system
	// switched to ON or START), else the engine starting, else motion after
	// a long stop.
	ignitionPath = "Vehicle.LowVoltageSystemState"
	enginePath   = "Vehicle.Powertrain.CombustionEngine.IsRunning"
	speedPath    = "Vehicle.Speed"
)

// DefaultTripGap is how long a vehicle must stand still before moving again
// counts as a new trip, when the mapping has no ignition or engine signal.
const DefaultTripGap = 10 * time.Minute

// PrivacyOptions is the `privacy` section of the agent's config.
type PrivacyOptions struct {
	// Level is the S2 grid level positions are rounded to: 1 (a continent)
	// to geo.MaxLevel; 0 means geo.DefaultLevel, 13, about 1 km.
	Level int `yaml:"level"`
	// Zones are places (home, depot) inside which no position is sent at
	// all, not even a cell; a cell that overlaps a zone is withheld too,
	// since it would reveal the zone as surely as the position.
	Zones []geo.Zone `yaml:"zones"`
	// TripStartDelay withholds positions for the first minutes of a trip,
	// so where a trip starts is not sent. 0 turns it off (the default).
	TripStartDelay time.Duration `yaml:"trip_start_delay"`
	// TripGap: without an ignition or engine signal in the mapping, motion
	// after a stop this long starts a trip (default 10 minutes).
	TripGap time.Duration `yaml:"trip_gap"`
}

// Check validates the options, naming the field.
func (o PrivacyOptions) Check() error {
	if o.Level != 0 {
		if _, err := geo.NewGrid(o.Level); err != nil {
			return fmt.Errorf("privacy.level: %w", err)
		}
	}
	if _, err := geo.NewZones(o.Zones); err != nil {
		return fmt.Errorf("privacy.zones: %w", err)
	}
	if o.TripStartDelay < 0 || o.TripStartDelay > 24*time.Hour {
		return fmt.Errorf("privacy.trip_start_delay %v: want 0 (off) to 24h", o.TripStartDelay)
	}
	if o.TripGap < 0 {
		return fmt.Errorf("privacy.trip_gap %v: want more than 0", o.TripGap)
	}
	return nil
}

// Privacy is the stage between the decoder and the sampler that keeps
// precise positions in the vehicle: it takes the latitude and longitude out
// of every frame's catalog values and puts the grid cell in their place, or
// nothing at all inside a privacy zone or early in a trip. Nothing after it
// (the sampler, the batches, the spool, the wire, the logs, the metrics)
// ever sees a precise position. It follows the frames' timestamps, so
// replays at any speed behave as the drive did. Not safe for concurrent use.
type Privacy struct {
	grid     geo.Grid
	zones    geo.Zones
	delay    int64 // ns
	gap      int64 // ns
	log      *slog.Logger
	withheld *prometheus.CounterVec

	latID, lonID, cellID        uint32
	ignitionID, engineID, speed uint32 // 0: not mapped

	lat, lng       float64
	haveLat        bool
	haveLng        bool
	cell           geo.Cell
	cellShown      bool // the last cell computed may be sent
	state          string
	tripStart      int64
	tripKnown      bool
	ignitionOn     bool
	lastMoving     int64
	sawMotion      bool
	byIgnition     bool
	onWithhold     func()
	positionsTotal prometheus.Counter
}

// PrivacyDeps are what the privacy stage needs besides its options.
type PrivacyDeps struct {
	Catalog *catalog.Catalog
	// Mapped reports whether the mapping feeds a catalog id: the stage looks
	// for an ignition signal, and falls back to motion without one.
	Mapped func(id uint32) bool
	// OnWithhold runs when positions start being withheld (entering a zone,
	// a trip starting with a delay): the agent forgets the last cell, so no
	// keyframe repeats where the vehicle was.
	OnWithhold func()
	Logger     *slog.Logger
	Metrics    prometheus.Registerer
}

// NewPrivacy builds the stage.
func NewPrivacy(opts PrivacyOptions, deps PrivacyDeps) (*Privacy, error) {
	if err := opts.Check(); err != nil {
		return nil, err
	}
	level := opts.Level
	if level == 0 {
		level = geo.DefaultLevel
	}
	p := &Privacy{delay: int64(opts.TripStartDelay), gap: int64(opts.TripGap), log: deps.Logger, onWithhold: deps.OnWithhold}
	if p.gap == 0 {
		p.gap = int64(DefaultTripGap)
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	p.grid, _ = geo.NewGrid(level)
	p.zones, _ = geo.NewZones(opts.Zones)
	cat := deps.Catalog
	if cat == nil {
		cat = catalog.Default()
	}
	id := func(path string) uint32 {
		if e, ok := cat.ByPath(path); ok {
			return e.ID
		}
		return 0
	}
	p.latID, p.lonID, p.cellID = id(LatitudePath), id(LongitudePath), id(CellPath)
	if p.latID == 0 || p.lonID == 0 || p.cellID == 0 {
		return nil, fmt.Errorf("privacy: the catalog lacks %s, %s or %s", LatitudePath, LongitudePath, CellPath)
	}
	mapped := deps.Mapped
	if mapped == nil {
		mapped = func(uint32) bool { return false }
	}
	if i := id(ignitionPath); mapped(i) {
		p.ignitionID = i
	}
	if i := id(enginePath); mapped(i) {
		p.engineID = i
	}
	p.byIgnition = p.ignitionID != 0 || p.engineID != 0
	p.speed = id(speedPath)
	p.withheld = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kanal_agent_positions_withheld_total",
		Help: "GPS fixes not sent, by reason: zone (inside or next to a privacy zone) or trip_start."}, []string{"reason"})
	p.positionsTotal = prometheus.NewCounter(prometheus.CounterOpts{Name: "kanal_agent_positions_total",
		Help: "GPS fixes turned into grid cells."})
	if deps.Metrics != nil {
		deps.Metrics.MustRegister(p.withheld, p.positionsTotal)
	}
	return p, nil
}

// Grid returns the grid positions are rounded to.
func (p *Privacy) Grid() geo.Grid { return p.grid }

// CellID is the catalog id of the cell values the stage produces.
func (p *Privacy) CellID() uint32 { return p.cellID }

// Cell returns the vehicle's current cell and whether it may be revealed:
// false before the first fix and while positions are withheld. The agent's
// notice subscriptions follow it.
func (p *Privacy) Cell() (geo.Cell, bool) { return p.cell, p.cellShown }

// Filter rewrites the catalog values of one frame in place and returns
// them: latitude and longitude removed, a cell value appended when a
// position may leave the vehicle. It does not allocate while the frame has
// room for one more value (cap(vals) > len(vals), which the agent ensures).
func (p *Privacy) Filter(vals []catalog.Value) []catalog.Value {
	out := vals[:0]
	var fixAt int64
	fix := false
	for _, v := range vals {
		switch v.ID {
		case p.latID:
			p.lat, p.haveLat, fix, fixAt = v.Num, true, true, v.Time
			continue
		case p.lonID:
			p.lng, p.haveLng, fix, fixAt = v.Num, true, true, v.Time
			continue
		case p.ignitionID:
			if p.ignitionID != 0 {
				p.ignition(v.Time, v.Num == 4 || v.Num == 5) // ON, START
			}
		case p.engineID:
			if p.engineID != 0 && p.ignitionID == 0 {
				p.ignition(v.Time, v.Num == 1)
			}
		case p.speed:
			p.motion(v.Time, v.Num)
		}
		out = append(out, v)
	}
	if !fix || !p.haveLat || !p.haveLng {
		return out
	}
	if !p.tripKnown {
		p.startTrip(fixAt) // the agent starts with the ignition
	}
	reason := ""
	c, err := p.grid.Cell(p.lat, p.lng)
	switch {
	case err != nil:
		reason = "invalid"
	case p.delay > 0 && fixAt-p.tripStart < p.delay && fixAt >= p.tripStart:
		reason = "trip_start"
	default:
		if _, in := p.zones.Contains(p.lat, p.lng); in {
			reason = "zone"
		} else if _, near := p.zones.Overlaps(c); near {
			reason = "zone"
		}
	}
	p.setState(reason)
	if reason != "" {
		p.withheld.WithLabelValues(reason).Inc()
		p.cellShown = false
		return out
	}
	p.positionsTotal.Inc()
	p.cell, p.cellShown = c, true
	return append(out, catalog.Value{ID: p.cellID, Time: fixAt, Num: c.Float64()})
}

// setState logs a change of what happens to positions (never the position).
func (p *Privacy) setState(reason string) {
	if reason == p.state {
		return
	}
	prev := p.state
	p.state = reason
	switch {
	case reason == "":
		p.log.Info("positions sent again as grid cells", "after", prev)
	case prev == "":
		p.log.Info("positions withheld", "reason", reason)
		if p.onWithhold != nil {
			p.onWithhold()
		}
	default:
		p.log.Info("positions withheld", "reason", reason)
	}
}

func (p *Privacy) startTrip(at int64) {
	p.tripStart, p.tripKnown = at, true
}

// ignition follows the ignition signal: off to on starts a trip.
func (p *Privacy) ignition(at int64, on bool) {
	if on && !p.ignitionOn {
		p.startTrip(at)
	}
	p.ignitionOn = on
}

// motion starts a trip when the vehicle moves after standing still for
// TripGap, for mappings without an ignition signal.
func (p *Privacy) motion(at int64, kmh float64) {
	moving := kmh > 1
	if p.byIgnition {
		return
	}
	if moving {
		if p.sawMotion && at-p.lastMoving >= p.gap {
			p.startTrip(at)
		}
		p.lastMoving, p.sawMotion = at, true
	}
}
