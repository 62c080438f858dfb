// Package runner runs a simulated fleet through real edge agents in one
// process: one agent.Agent per vehicle, each with its own spool and MQTT
// connection to a gateway, fed by the vehicle's live fleet.Source on a
// shared clock. It is the load of the gateway's tests and benchmarks and
// the fleet of `make demo`, and at the end it hands back the truth the
// alerts should match.
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kanal-dev/kanal/agent"
	"github.com/kanal-dev/kanal/dbc"
	"github.com/kanal-dev/kanal/sim/fleet"
	"github.com/kanal-dev/kanal/uplink"
	"github.com/kanal-dev/kanal/uplink/spool"
)

// Defaults of Options.
const (
	DefaultProgressEvery = time.Second
	DefaultDrainTimeout  = 30 * time.Second
)

// Options configure a run. Uplink, Spool and Privacy are templates every
// agent starts from; the runner fills in what is per vehicle (broker,
// login, spool directory).
type Options struct {
	// Fleet is what runs. Its Start is the simulated time the run starts
	// at: set it to the present (time.Now()) for a live run, since the
	// gateway's rules judge reports by their age.
	Fleet *fleet.Fleet
	// Broker is the gateway's MQTT URL, mqtt://host:port or mqtts://.
	// Required.
	Broker string
	// Dir holds each vehicle's spool and password file (Dir/ID/spool,
	// Dir/ID/password). Required; it is not removed.
	Dir string
	// Mapping is the demo vehicle's mapping file
	// (testdata/candumps/kanal_demo.mapping.yaml). Required.
	Mapping string
	// Password returns a vehicle's password for the gateway, which then
	// logs in with the vehicle id as user name; nil means no login (a
	// gateway or test broker without authentication). A func, so that the
	// password can come from a file, or from the gateway's credentials
	// store as it creates the vehicle's user.
	Password func(vehicle string) (string, error)
	// Speed is the simulated clock's speed: nil means 1 (real time), 10
	// ten times as fast, 0 as fast as the agents take the frames (each
	// vehicle then runs at its own pace).
	Speed *float64
	// Slack is fleet.SourceOptions.Slack.
	Slack time.Duration
	// Uplink, Spool and Privacy are the agents' sections of the agent
	// config. Privacy.Level must be the fleet's CellLevel (0 means both
	// defaults), or the truth's cells are not the agents'; zones and a
	// trip start delay withhold positions the truth counts, so they are
	// refused.
	Uplink  uplink.Options
	Spool   spool.Options
	Privacy uplink.PrivacyOptions
	// DrainTimeout bounds the wait, after the last frame, for every
	// batch to be acknowledged (default 30 s).
	DrainTimeout time.Duration
	// Rules are the cloud's alert rules the truth applies.
	Rules fleet.Rules
	// Logger receives the run's own log; nil means slog.Default().
	Logger *slog.Logger
	// AgentLogger receives the agents' logs, each with a vehicle attribute;
	// nil means Logger's warnings and errors only (a thousand agents
	// logging their connects would drown everything else).
	AgentLogger *slog.Logger
	// Progress, when set, is called every ProgressEvery (default 1 s) and
	// once more at the end (Progress.Done).
	Progress      func(Progress)
	ProgressEvery time.Duration
	// Metrics registers the run's metrics (kanal_sim_*); nil means none.
	Metrics prometheus.Registerer
}

// Progress is the state of a run, for a progress bar or a log line.
type Progress struct {
	Sim      time.Time     // the simulated clock
	Elapsed  time.Duration // simulated time since the start
	Duration time.Duration // the fleet's
	Vehicles int
	// Running agents have not returned yet; Connected hold a connection to
	// the gateway; Ended vehicles have sent their last frame.
	Running, Connected, Ended int
	Frames                    uint64 // every vehicle's, so far
	Batches                   uint64 // batches the agents made
	Unacked                   int    // batches in the agents' spools, not yet acknowledged
	// Lag is the most any vehicle's frames run behind the clock: a fleet
	// too large for its machine falls behind real time.
	Lag  time.Duration
	Done bool // the last report of the run
}

// VehicleResult is how one vehicle's agent ended.
type VehicleResult struct {
	ID      string
	Frames  uint64
	Batches uint64
	Unacked int // still in its spool
	Err     error
}

// Result is what a run did.
type Result struct {
	Vehicles []VehicleResult
	Frames   uint64
	Batches  uint64
	Unacked  int
	Wall     time.Duration
	// Truth is what the frames sent should make the gateway's rules raise;
	// after a cancelled run, up to the moment every vehicle had reached.
	Truth *fleet.Truth
}

// member is one vehicle in the run.
type member struct {
	id       string
	v        *fleet.Vehicle
	src      *fleet.Source
	a        *agent.Agent
	err      error       // Run's, once returned is set
	returned atomic.Bool // Run has returned

	passwordFile string // "" without logins
}

// Run builds an agent per vehicle, runs them all until the fleet's
// Duration has been sent and every batch acknowledged (or ctx ends, when
// each agent puts its open batch in its spool), and returns the result
// with the truth. An agent that fails does not stop the others; Run then
// returns the result and an error naming the vehicles.
func Run(ctx context.Context, opts Options) (*Result, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	f := o.Fleet
	m := newMetrics(o.Metrics)
	members := make([]*member, f.Len())
	defer func() { m.unregister(o.Metrics) }()
	for i := range members {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		mb, err := o.build(f, i)
		if err != nil {
			return nil, err
		}
		members[i] = mb
	}
	// every password before any agent: a missing one fails the run before
	// a spool is opened
	for _, mb := range members {
		if err := o.password(mb); err != nil {
			return nil, err
		}
	}
	speed := 1.0
	if o.Speed != nil {
		speed = *o.Speed
	}
	clock := fleet.NewClock(f.Options().Start, speed)
	for i, mb := range members {
		mb.src = mb.v.Source(fleet.SourceOptions{Clock: clock, Slack: o.Slack})
		if mb.a, err = o.newAgent(mb); err != nil {
			closeAgents(members[:i])
			return nil, err
		}
	}
	clock.Reset() // building a thousand agents takes seconds: the run starts now
	o.Logger.Info("fleet running", "vehicles", len(members), "broker", o.Broker, "speed", speed,
		"start", f.Options().Start, "duration", f.Options().Duration)
	began := time.Now()
	var wg sync.WaitGroup
	for _, mb := range members {
		wg.Add(1)
		m.running.Inc()
		go func() {
			defer wg.Done()
			defer m.running.Dec()
			mb.err = mb.a.Run(ctx)
			mb.returned.Store(true)
		}()
	}
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	o.watch(all, clock, members, m)
	return o.result(members, time.Since(began))
}

func (o Options) withDefaults() (Options, error) {
	switch {
	case o.Fleet == nil:
		return o, errors.New("runner: options: fleet is required")
	case o.Broker == "":
		return o, errors.New("runner: options: broker is required")
	case o.Dir == "":
		return o, errors.New("runner: options: dir is required (each vehicle's spool and password)")
	case o.Mapping == "":
		return o, errors.New("runner: options: mapping is required (testdata/candumps/kanal_demo.mapping.yaml)")
	case o.Speed != nil && (*o.Speed < 0 || *o.Speed > 1e6):
		return o, fmt.Errorf("runner: options: speed %v: want 0 (as fast as possible) to 1e6", *o.Speed)
	case len(o.Privacy.Zones) > 0 || o.Privacy.TripStartDelay > 0:
		return o, errors.New("runner: options: privacy zones and trip_start_delay withhold cells the truth counts: leave them off")
	}
	if lvl := o.Privacy.Level; lvl != 0 && lvl != o.Fleet.Options().CellLevel {
		return o, fmt.Errorf("runner: options: privacy.level %d differs from the fleet's cell_level %d", lvl, o.Fleet.Options().CellLevel)
	}
	if o.Privacy.Level == 0 {
		o.Privacy.Level = o.Fleet.Options().CellLevel
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = DefaultDrainTimeout
	}
	if o.ProgressEvery == 0 {
		o.ProgressEvery = DefaultProgressEvery
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.AgentLogger == nil {
		o.AgentLogger = slog.New(minLevel{o.Logger.Handler(), slog.LevelWarn})
	}
	if err := o.Rules.Check(); err != nil {
		return o, err
	}
	return o, nil
}

// build prepares vehicle i: its generator and directory.
func (o Options) build(f *fleet.Fleet, i int) (*member, error) {
	v, err := f.Vehicle(i)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(o.Dir, v.ID), 0o700); err != nil {
		return nil, fmt.Errorf("runner: %s: %w", v.ID, err)
	}
	return &member{id: v.ID, v: v}, nil
}

// password writes the vehicle's password file, when there are logins.
func (o Options) password(mb *member) error {
	if o.Password == nil {
		return nil
	}
	pw, err := o.Password(mb.id)
	if err != nil {
		return fmt.Errorf("runner: %s: password: %w", mb.id, err)
	}
	if pw == "" || strings.ContainsAny(pw, "\r\n") {
		return fmt.Errorf("runner: %s: password: empty or more than one line", mb.id)
	}
	mb.passwordFile = filepath.Join(o.Dir, mb.id, "password")
	if err := os.WriteFile(mb.passwordFile, []byte(pw+"\n"), 0o600); err != nil {
		return fmt.Errorf("runner: %s: %w", mb.id, err)
	}
	return nil
}

// closeAgents closes agents that were built but will not run: Run on a
// cancelled context returns at once and closes the spool, which the agent
// offers no other way to do.
func closeAgents(members []*member) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var wg sync.WaitGroup
	for _, mb := range members {
		wg.Go(func() { mb.a.Run(ctx) })
	}
	wg.Wait()
}

// newAgent makes the vehicle's agent on its source.
func (o Options) newAgent(mb *member) (*agent.Agent, error) {
	dir := filepath.Join(o.Dir, mb.id)
	up := o.Uplink
	up.Broker = o.Broker
	if mb.passwordFile != "" {
		up.Username, up.PasswordFile = mb.id, mb.passwordFile
	}
	sp := o.Spool
	sp.Dir = filepath.Join(dir, "spool")
	cfg := agent.Config{
		Vehicle:      mb.id,
		Buses:        dbc.PipelineOptions{DBC: []string{o.Fleet.Options().DBC}, Mapping: o.Mapping},
		Uplink:       up,
		Spool:        sp,
		Privacy:      o.Privacy,
		DrainTimeout: o.DrainTimeout,
	}
	a, err := agent.New(cfg, agent.Options{Logger: o.AgentLogger.With("vehicle", mb.id), Registry: prometheus.NewRegistry(),
		Version: "kanal-sim", Source: mb.src})
	if err != nil {
		return nil, fmt.Errorf("runner: %s: %w", mb.id, err)
	}
	return a, nil
}

// watch reports progress until every agent has returned.
func (o Options) watch(running <-chan struct{}, clock *fleet.Clock, members []*member, m *metrics) {
	t := time.NewTicker(o.ProgressEvery)
	defer t.Stop()
	for {
		select {
		case <-running:
			p := o.progress(clock, members, m)
			p.Done = true
			o.Logger.Info("fleet done", "frames", p.Frames, "batches", p.Batches, "unacknowledged", p.Unacked)
			if o.Progress != nil {
				o.Progress(p)
			}
			return
		case <-t.C:
			p := o.progress(clock, members, m)
			if o.Progress != nil {
				o.Progress(p)
			}
		}
	}
}

func (o Options) progress(clock *fleet.Clock, members []*member, m *metrics) Progress {
	fo := o.Fleet.Options()
	p := Progress{Sim: clock.Sim(), Duration: fo.Duration, Vehicles: len(members)}
	p.Elapsed = min(p.Sim.Sub(fo.Start), fo.Duration)
	for _, mb := range members {
		p.Frames += mb.v.Frames()
		st := mb.a.Status()
		if b, ok := st["connected"].(bool); ok && b {
			p.Connected++
		}
		if b, ok := st["source_ended"].(bool); ok && b {
			p.Ended++
		}
		p.Batches += uint64(number(st["batches"]))
		p.Unacked += int(number(st["spool_records"]))
		p.Lag = max(p.Lag, mb.src.Lag())
		if !mb.returned.Load() {
			p.Running++
		}
	}
	if clock.Speed() == 0 {
		// every vehicle at its own pace: the slowest says where the run is
		slowest := fo.Duration
		for _, mb := range members {
			if !mb.returned.Load() {
				slowest = min(slowest, mb.v.Time().Sub(fo.Start))
			}
		}
		p.Elapsed, p.Sim = max(slowest, 0), fo.Start.Add(max(slowest, 0))
	}
	m.observe(p)
	return p
}

// number reads a count out of an agent's status.
func number(v any) float64 {
	switch n := v.(type) {
	case int:
		return float64(n)
	case int64:
		return float64(n)
	case uint64:
		return float64(n)
	case float64:
		return n
	}
	return 0
}

func (o Options) result(members []*member, wall time.Duration) (*Result, error) {
	res := &Result{Wall: wall}
	var vs []*fleet.Vehicle
	var errs []error
	for _, mb := range members {
		st := mb.a.Status()
		vr := VehicleResult{ID: mb.id, Frames: mb.v.Frames(), Batches: uint64(number(st["batches"])),
			Unacked: int(number(st["spool_records"])), Err: mb.err}
		res.Vehicles = append(res.Vehicles, vr)
		res.Frames += vr.Frames
		res.Batches += vr.Batches
		res.Unacked += vr.Unacked
		if mb.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", mb.id, mb.err))
		}
		vs = append(vs, mb.v)
	}
	tr, err := o.Fleet.TruthOf(vs, o.Rules)
	if err != nil {
		errs = append(errs, err)
	}
	res.Truth = tr
	if len(errs) > 0 {
		if len(errs) > 5 {
			errs = append(errs[:5], fmt.Errorf("and %d more", len(errs)-5))
		}
		return res, fmt.Errorf("runner: %d of %d agents failed: %w", len(errs), len(members), errors.Join(errs...))
	}
	return res, nil
}

// minLevel passes records at or above a level.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(as), h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.min}
}
