package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/kanal-dev/kanal/can"
	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/dbc"
	"github.com/kanal-dev/kanal/geo"
	"github.com/kanal-dev/kanal/uplink"
)

// Profile is what one simulated vehicle sends: the catalog values of
// consecutive seconds, one batch each, as the agent's batcher cuts them
// (max_age 1 s). Connections cycle through the seconds, each starting at
// a different one. A Profile is read-only once made and shared by every
// connection.
type Profile struct {
	// Name says where the values come from, for the report.
	Name string
	// Seconds are the values of each batch, timed within their second.
	// Every second has at least one value.
	Seconds [][]catalog.Value
}

// Values returns the mean number of values per batch.
func (p *Profile) Values() float64 {
	if len(p.Seconds) == 0 {
		return 0
	}
	n := 0
	for _, s := range p.Seconds {
		n += len(s)
	}
	return float64(n) / float64(len(p.Seconds))
}

func (p *Profile) check() error {
	if len(p.Seconds) == 0 {
		return errors.New("profile: no seconds")
	}
	for i, s := range p.Seconds {
		if len(s) == 0 {
			return fmt.Errorf("profile: second %d has no values", i)
		}
	}
	return nil
}

// Defaults of SyntheticOptions.
const (
	DefaultSignals = 300
	DefaultSeconds = 60
)

// SyntheticOptions shape a synthetic vehicle. Zero fields take the
// defaults named beside them.
type SyntheticOptions struct {
	// Signals is how many catalog signals the vehicle has (default 300, the
	// design's figure for a vehicle): the default catalog's entries first
	// (without the precise position), then user-range ids from 65536.
	Signals int `yaml:"signals"`
	// Seconds is how many distinct batches the profile holds (default 60,
	// so that a minute's heartbeats and rare changes are in it).
	Seconds int `yaml:"seconds"`
	// Seed fixes the values: the same options give the same profile.
	Seed uint64 `yaml:"seed"`
	// Start is the time of the first value (default 2025-11-12 06:45 UTC).
	Start time.Time `yaml:"start"`
}

// signalClass is how often the agent's sampler lets a signal through, as
// the demo mapping (testdata/candumps/kanal_demo.mapping.yaml) samples its
// signals: a few at 5 Hz, many once a second, the slow-moving ones every
// few seconds, switches and modes when they change.
type signalClass uint8

const (
	fast   signalClass = iota // every 200 ms: speed, engine speed, pedals, steering
	second                    // every second: accelerations, currents, voltages
	five                      // every 5 s: temperatures, levels, distances, pressures
	slow                      // on change (rarely) or at the 60 s heartbeat: lamps, switches, modes
)

// fastPaths are the catalog signals a mapping samples at 5 Hz.
var fastPaths = map[string]bool{
	"Vehicle.Speed": true, "Vehicle.Powertrain.CombustionEngine.Speed": true,
	"Vehicle.Chassis.SteeringWheel.Angle": true, "Vehicle.Chassis.Accelerator.PedalPosition": true,
	"Vehicle.Chassis.Brake.PedalPosition": true, "Vehicle.Powertrain.CombustionEngine.Torque": true,
	"Vehicle.Powertrain.CombustionEngine.TPS": true,
}

// synthSignal is one signal of a synthetic vehicle: a random walk of its
// class's rate, rounded to its resolution.
type synthSignal struct {
	id       uint32
	class    signalClass
	lo, hi   float64
	step     float64 // the walk's typical step per sample
	res      float64 // resolution: values are multiples of it
	value    float64
	phase    int // the second (of 5 or of the 60 s heartbeat) it is sent in
	discrete bool
}

// SyntheticProfile returns the values of a vehicle with opts.Signals
// signals sampled as the agent's mapping would sample them: a few at 5 Hz,
// a quarter once a second, a third every 5 s, and the booleans, enums and
// the like only when they change (rarely) or at the 60 s heartbeat. With
// the defaults that is about 148 values a batch, 0.49 values per signal
// and second: denser than the bundled logs through their mappings (the
// demo drives, mostly standing in traffic, give 0.17 with 100 signals,
// the Ford GT350 log 0.21 with 58), for the design's vehicle of 300
// signals at "1 Hz to ms rates". Fog lights, warning lamps and hazards
// stay off, so that a load test raises no alerts; the position is one
// fixed level-13 grid cell, never coordinates.
func SyntheticProfile(opts SyntheticOptions) (*Profile, error) {
	if opts.Signals == 0 {
		opts.Signals = DefaultSignals
	}
	if opts.Seconds == 0 {
		opts.Seconds = DefaultSeconds
	}
	switch {
	case opts.Signals < 1 || opts.Signals > 10_000:
		return nil, fmt.Errorf("synthetic profile: options: signals %d: want 1 to 10000", opts.Signals)
	case opts.Seconds < 1 || opts.Seconds > 3600:
		return nil, fmt.Errorf("synthetic profile: options: seconds %d: want 1 to 3600", opts.Seconds)
	}
	start := opts.Start
	if start.IsZero() {
		start = time.Date(2025, 11, 12, 6, 45, 0, 0, time.UTC)
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x6b616e616c))
	sigs, err := synthSignals(opts.Signals, rng)
	if err != nil {
		return nil, err
	}
	p := &Profile{Name: fmt.Sprintf("synthetic, %d signals", opts.Signals)}
	t0 := start.UnixNano()
	for sec := range opts.Seconds {
		var vs []catalog.Value
		base := t0 + int64(sec)*int64(time.Second)
		for i := range sigs {
			vs = sigs[i].sample(vs, sec, base, rng)
		}
		if len(vs) == 0 { // a handful of slow signals can leave a second empty
			s := &sigs[rng.IntN(len(sigs))]
			vs = append(vs, catalog.Value{ID: s.id, Time: base, Num: s.value})
		}
		p.Seconds = append(p.Seconds, vs)
	}
	return p, p.check()
}

// synthSignals picks n signals: the default catalog's, then user ids.
func synthSignals(n int, rng *rand.Rand) ([]synthSignal, error) {
	cell, err := marienplatzCell()
	if err != nil {
		return nil, err
	}
	var sigs []synthSignal
	for _, e := range catalog.Default().Entries() {
		if len(sigs) == n {
			break
		}
		if strings.HasPrefix(e.Path, "Vehicle.CurrentLocation.") {
			continue // precise positions never leave a vehicle, not even a simulated one
		}
		s := synthSignal{id: e.ID, phase: rng.IntN(60)}
		lo, hi := e.Range()
		s.lo, s.hi = math.Max(lo, -1000), math.Min(hi, 100_000)
		switch {
		case e.Type == catalog.Cell:
			s.class, s.lo, s.hi, s.value, s.discrete = slow, cell, cell, cell, true
		case e.Type == catalog.Bool || e.Type == catalog.Enum:
			s.class, s.discrete = slow, true
			if alertSignal(e.Path) {
				s.hi = s.lo // off, so that load raises no alert
			}
		case fastPaths[e.Path]:
			s.class = fast
		case rng.IntN(2) == 0:
			s.class = second
		default:
			s.class = five
		}
		s.res = 0.01
		if e.Type.IsInteger() {
			s.res = 1
		}
		s.init(rng)
		sigs = append(sigs, s)
	}
	for id := uint32(65536); len(sigs) < n; id++ {
		s := synthSignal{id: id, lo: 0, hi: 1000, res: 0.01, phase: rng.IntN(60)}
		switch r := rng.IntN(100); {
		case r < 3:
			s.class, s.res = fast, 0.1
		case r < 28:
			s.class = second
		case r < 58:
			s.class = five
		default:
			s.class, s.hi, s.res, s.discrete = slow, 3, 1, true
		}
		s.init(rng)
		sigs = append(sigs, s)
	}
	return sigs, nil
}

// alertSignal reports whether a path feeds an alert rule (fog lights,
// warning lamps, hazards): the synthetic vehicle keeps those off.
func alertSignal(path string) bool {
	return strings.Contains(path, ".Fog.") || strings.Contains(path, ".Warning.") || strings.Contains(path, "Hazard")
}

func (s *synthSignal) init(rng *rand.Rand) {
	if s.discrete {
		if s.value == 0 { // a cell has its value already
			s.value = s.lo
		}
		return
	}
	span := s.hi - s.lo
	s.step = math.Max(span/500, s.res)
	s.value = s.round(s.lo + span*(0.2+0.6*rng.Float64()))
}

func (s *synthSignal) round(v float64) float64 {
	v = math.Min(math.Max(v, s.lo), s.hi)
	v = math.Round(v/s.res) * s.res
	return math.Round(v*100) / 100 // 0.1*3 is 0.30000000000000004: keep decimals short, as a DBC factor does
}

// sample appends the values second sec lets through, timed from base.
func (s *synthSignal) sample(vs []catalog.Value, sec int, base int64, rng *rand.Rand) []catalog.Value {
	at := func(ms int) int64 { return base + int64(ms)*int64(time.Millisecond) }
	switch s.class {
	case fast:
		off := rng.IntN(200)
		for k := range 5 {
			s.value = s.round(s.value + s.step*rng.NormFloat64())
			vs = append(vs, catalog.Value{ID: s.id, Time: at(off + 200*k), Num: s.value})
		}
	case second, five:
		if s.class == five && sec%5 != s.phase%5 {
			return vs
		}
		s.value = s.round(s.value + s.step*rng.NormFloat64())
		vs = append(vs, catalog.Value{ID: s.id, Time: at(rng.IntN(1000)), Num: s.value})
	case slow:
		changed := s.lo != s.hi && rng.IntN(120) == 0 // a switch flips about every two minutes
		if changed {
			s.value = s.lo + float64(rng.IntN(int(s.hi-s.lo)+1))
		}
		if changed || sec%60 == s.phase {
			vs = append(vs, catalog.Value{ID: s.id, Time: at(rng.IntN(1000)), Num: s.value})
		}
	}
	return vs
}

// marienplatzCell is the level-13 grid cell of the synthetic city's
// centre: the only position a synthetic vehicle reports.
func marienplatzCell() (float64, error) {
	g, err := geo.NewGrid(13)
	if err != nil {
		return 0, err
	}
	c, err := g.Cell(48.1374, 11.5755)
	if err != nil {
		return 0, err
	}
	return c.Float64(), nil
}

// DriveOptions make a Profile from a recorded drive.
type DriveOptions struct {
	// Log is a candump log. Required.
	Log string `yaml:"log"`
	// Buses are the DBC files and the mapping (required: it says what the
	// agent samples), as in the agent's config.
	Buses dbc.PipelineOptions `yaml:"buses"`
	// Sampling is the agent's sampling (heartbeat).
	Sampling uplink.SamplingOptions `yaml:"sampling"`
}

// DriveProfile decodes a candump log through the DBC files and the
// mapping, samples the catalog values with the agent's Sampler and cuts
// them into one batch per second of frame time: what `edge-agent run`
// would send for that drive. Seconds in which nothing was sent are left
// out. The demo drives give about 17 values a second, a real car with a
// richer mapping more: see SyntheticProfile for a vehicle of the design's
// 300 signals.
func DriveProfile(opts DriveOptions) (*Profile, error) {
	if opts.Log == "" {
		return nil, errors.New("drive profile: options: log is required")
	}
	if opts.Buses.Mapping == "" {
		return nil, errors.New("drive profile: options: buses.mapping is required")
	}
	if opts.Buses.Logger == nil {
		opts.Buses.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	pipe, err := dbc.NewPipeline(opts.Buses)
	if err != nil {
		return nil, fmt.Errorf("drive profile: %w", err)
	}
	lr, err := can.OpenLog(opts.Log, can.LogReaderOptions{})
	if err != nil {
		return nil, fmt.Errorf("drive profile: %w", err)
	}
	defer lr.Close()
	sampler := uplink.NewSampler(pipe.Sampling(), opts.Sampling)
	p := &Profile{Name: "drive: " + opts.Log}
	var (
		fv    dbc.FrameValues
		cur   []catalog.Value
		start int64
		begun bool
	)
	for {
		t, err := lr.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil { // malformed lines are skipped by the reader, as in the agent
			return nil, fmt.Errorf("drive profile: %w", err)
		}
		pipe.Decode(&t, &fv)
		for _, v := range fv.Catalog {
			if !begun || v.Time < start || v.Time-start >= int64(time.Second) {
				if len(cur) > 0 {
					p.Seconds = append(p.Seconds, cur)
				}
				cur, start, begun = nil, v.Time, true
			}
			if sampler.Offer(v) != uplink.Drop {
				cur = append(cur, v)
			}
		}
	}
	if len(cur) > 0 {
		p.Seconds = append(p.Seconds, cur)
	}
	if len(p.Seconds) == 0 {
		return nil, fmt.Errorf("drive profile: %s: no values sampled", opts.Log)
	}
	return p, nil
}
