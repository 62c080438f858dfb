package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/kanal-dev/kanal/can"
	"github.com/kanal-dev/kanal/can/socketcan"
	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/dbc"
	"github.com/kanal-dev/kanal/geo"
	"github.com/kanal-dev/kanal/internal/wire"
	"github.com/kanal-dev/kanal/uplink"
	"github.com/kanal-dev/kanal/uplink/batch"
	"github.com/kanal-dev/kanal/uplink/spool"
)

// Options are what a running agent needs besides its Config.
type Options struct {
	Logger *slog.Logger // nil: slog.Default()
	// Registry receives every metric of the agent; nil: a new one, with the
	// Go runtime and process collectors (RSS, CPU) in it.
	Registry *prometheus.Registry
	Version  string // reported in presence messages and status
	// Source, when set, replaces the sources of the config: the simulator
	// feeds many agents in one process this way.
	Source can.Source
}

// Agent is the edge agent: frames in from the buses or a replayed log,
// decoded into catalog values, positions rounded to grid cells, sampled,
// batched, spooled, and published to the gateway over MQTT v5. Nothing
// decoded is lost on SIGTERM (the open batch goes to the spool) and nothing
// spooled is lost on a crash or a power loss; a batch leaves the spool only
// after the gateway's PUBACK.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	reg     *prometheus.Registry
	version string
	boot    string
	started time.Time

	pipe    *dbc.Pipeline
	sp      *spool.Spool
	pub     *uplink.Publisher
	notices *noticeBoard
	canM    *socketcan.Metrics
	src     can.Source

	// mu guards the loop's state: the frame loop, the ticker, keyframe
	// requests and the metrics collector all take it.
	mu           sync.Mutex
	priv         *uplink.Privacy
	samp         *uplink.Sampler
	bat          *uplink.Batcher
	fv           dbc.FrameValues
	frameNow     int64 // newest frame time, Unix ns
	lastKeyframe int64
	cell         geo.Cell // the cell whose notices are subscribed
	counts       counts
	spoolFailing bool

	keyframeWanted atomic.Bool
	ended          atomic.Bool
}

// New builds an agent from a config: it compiles the DBC files and the
// mapping, opens (and recovers) the spool and prepares the uplink. It opens
// no bus and no connection; Run does.
func New(cfg Config, opts Options) (*Agent, error) {
	cfg.setDefaults()
	if err := batch.CheckVehicleID(cfg.Vehicle); err != nil {
		return nil, fmt.Errorf("vehicle: %w", err)
	}
	if opts.Source == nil {
		if err := cfg.Sources.check(); err != nil {
			return nil, fmt.Errorf("sources: %w", err)
		}
	}
	if cfg.Buses.Mapping == "" {
		return nil, errors.New("buses: mapping: required (which DBC signals does the agent send?)")
	}
	a := &Agent{cfg: cfg, log: opts.Logger, reg: opts.Registry, version: opts.Version, boot: batch.NewBoot(),
		started: time.Now(), notices: newNoticeBoard(32), src: opts.Source,
		counts: counts{framesByBus: map[string]uint64{}}}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.reg == nil {
		a.reg = prometheus.NewRegistry()
		a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	cfg.Buses.Logger = a.log
	var err error
	if a.pipe, err = dbc.NewPipeline(cfg.Buses); err != nil {
		return nil, fmt.Errorf("buses: %w", err)
	}
	policies := a.pipe.Sampling()
	cat := a.pipe.Catalog()
	a.priv, err = uplink.NewPrivacy(cfg.Privacy, uplink.PrivacyDeps{Catalog: cat, Logger: a.log, Metrics: a.reg,
		Mapped: func(id uint32) bool { _, ok := policies[id]; return ok },
		OnWithhold: func() {
			// called from Filter, under a.mu
			a.samp.Forget(a.priv.CellID())
		}})
	if err != nil {
		return nil, fmt.Errorf("privacy: %w", err)
	}
	a.samp = uplink.NewSampler(samplingWithCell(policies, cat, a.priv.CellID()), cfg.Uplink.Sampling)

	spOpts := cfg.Spool
	spOpts.Logger, spOpts.Metrics = a.log, a.reg
	if a.sp, err = spool.Open(spOpts); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	fail := func(err error) (*Agent, error) {
		a.sp.Close()
		return nil, err
	}
	if a.bat, err = uplink.NewBatcher(uplink.BatcherOptions{BatchOptions: cfg.Uplink.Batch, Vehicle: cfg.Vehicle, Boot: a.boot,
		Sink: func(data []byte, priority bool) error { _, err := a.sp.Append(data, priority); return err }, Metrics: a.reg}); err != nil {
		return fail(fmt.Errorf("uplink.batch: %w", err))
	}
	a.pub, err = uplink.NewPublisher(uplink.PublisherOptions{MQTTOptions: cfg.Uplink.MQTTOptions, Vehicle: cfg.Vehicle,
		Boot: a.boot, Agent: a.version, Queue: a.sp, Logger: a.log, Metrics: a.reg,
		OnConnect: func() { a.keyframeWanted.Store(true) },
		OnCommand: a.command,
		OnNotice: func(n wire.Notice, cell string) {
			if a.notices.add(n, cell, time.Now()) {
				a.log.Info("notice received", "id", n.ID, "kind", n.Kind, "text", n.Text)
			}
		}})
	if err != nil {
		return fail(fmt.Errorf("uplink: %w", err))
	}
	a.canM = socketcan.NewMetrics(a.reg)
	a.reg.MustRegister(agentCollector{a})
	return a, nil
}

// samplingWithCell gives the cell the sampling of the latitude (a cell is
// sent when it changes, at the latitude's priority) and drops the precise
// coordinates, which never reach the sampler.
func samplingWithCell(p map[uint32]catalog.Sampling, cat *catalog.Catalog, cellID uint32) map[uint32]catalog.Sampling {
	out := make(map[uint32]catalog.Sampling, len(p)+1)
	cell := catalog.Sampling{OnChange: true, Priority: catalog.PriorityHigh}
	for id, s := range p {
		e, _ := cat.ByID(id)
		if e != nil && (e.Path == uplink.LatitudePath || e.Path == uplink.LongitudePath) {
			cell.Priority = max(cell.Priority, s.Priority)
			continue
		}
		out[id] = s
	}
	out[cellID] = cell
	return out
}

// Boot returns this run's boot id.
func (a *Agent) Boot() string { return a.boot }

// Registry returns the agent's metrics.
func (a *Agent) Registry() *prometheus.Registry { return a.reg }

// Close releases an agent that was built but will not run (Run closes
// what it uses itself): the spool and its lock.
func (a *Agent) Close() error { return a.sp.Close() }

// Run reads frames until the source ends or ctx does. When a replay ends
// (no loop) it waits up to DrainTimeout for every batch to be acknowledged
// and fails if one is not. When ctx ends it puts the open batch in the spool
// and returns nil: what is spooled is sent by the next run.
func (a *Agent) Run(ctx context.Context) error {
	defer a.sp.Close()
	src := a.src
	if src == nil {
		var err error
		if src, err = openSource(ctx, a.cfg.Sources, a.pipe, a.canM, a.log); err != nil {
			return fmt.Errorf("sources: %w", err)
		}
	}
	pubCtx, stopPub := context.WithCancel(context.Background())
	tickCtx, stopTick := context.WithCancel(ctx)
	var wg, ticking sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); a.pub.Run(pubCtx) }()
	ticking.Add(1)
	go func() { defer ticking.Done(); a.tick(tickCtx) }()
	var srv *http.Server
	if a.cfg.Metrics.Listen != "" {
		ln, err := net.Listen("tcp", a.cfg.Metrics.Listen)
		if err != nil {
			stopTick()
			stopPub()
			ticking.Wait()
			wg.Wait()
			src.Close()
			return fmt.Errorf("metrics: listen: %w", err)
		}
		srv = &http.Server{Handler: a.handler(a.reg), ReadHeaderTimeout: 5 * time.Second}
		wg.Add(1)
		go func() { defer wg.Done(); srv.Serve(ln) }()
	}
	a.log.Info("agent running", "vehicle", a.cfg.Vehicle, "boot", a.boot, "broker", a.cfg.Uplink.Broker)

	err := a.read(ctx, src)
	src.Close()
	a.ended.Store(true)
	// The ticker stops before the last flush and the drain: a keyframe it
	// sent after the drain found the spool empty would stay there unsent.
	stopTick()
	ticking.Wait()
	a.mu.Lock()
	if ferr := a.bat.Flush(); ferr != nil && err == nil {
		err = ferr
	}
	a.mu.Unlock()
	if err == nil && ctx.Err() == nil {
		err = a.drain(ctx)
	}
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		srv.Shutdown(sctx)
		cancel()
	}
	stopPub()
	wg.Wait()
	st := a.sp.Stats()
	a.log.Info("agent stopped", "batches", a.bat.Seq(), "unacknowledged", st.Records)
	return err
}

// read runs the frame loop until the source ends (nil), ctx ends (nil) or
// the source fails.
func (a *Agent) read(ctx context.Context, src can.Source) error {
	for {
		t, err := src.Next(ctx)
		if err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read frames: %w", err)
		}
		a.mu.Lock()
		a.frame(&t)
		a.mu.Unlock()
	}
}

// frame takes one frame through the pipeline, under a.mu.
func (a *Agent) frame(t *can.Timed) {
	a.counts.framesByBus[t.Bus]++
	a.pipe.Decode(t, &a.fv)
	if ns := t.Time.UnixNano(); ns > a.frameNow {
		if a.frameNow == 0 {
			a.lastKeyframe = ns
		}
		a.frameNow = ns
	}
	if a.fv.Result.Status != dbc.Decoded {
		a.counts.skipped[a.fv.Result.Status]++
		return
	}
	vals := a.fv.Catalog
	if cap(vals) == len(vals) {
		vals = append(vals, catalog.Value{})[:len(vals)] // room for the cell
		a.fv.Catalog = vals
	}
	vals = a.priv.Filter(vals)
	for _, v := range vals {
		d := a.samp.Offer(v)
		if d == uplink.Drop {
			a.counts.dropped++
			continue
		}
		a.counts.sampled++
		a.spoolResult(a.bat.Add(v, d == uplink.SendNow))
	}
	a.followCell()
	if a.bat.Due(a.frameNow) {
		a.spoolResult(a.bat.Flush())
	}
	if ki := a.cfg.Uplink.Batch.KeyframeInterval; ki > 0 && a.frameNow-a.lastKeyframe >= int64(ki) {
		a.keyframe()
	}
}

// keyframe sends the last value of every signal, under a.mu.
func (a *Agent) keyframe() {
	a.lastKeyframe = a.frameNow
	vals := a.samp.Latest(nil)
	if len(vals) == 0 {
		return
	}
	a.spoolResult(a.bat.Keyframe(vals))
}

// spoolResult counts and logs (once per failing spell) batches the spool
// could not take.
func (a *Agent) spoolResult(err error) {
	switch {
	case err != nil:
		a.counts.spoolErrors++
		if !a.spoolFailing {
			a.log.Error("spool failing: batches are lost until it recovers", "err", err)
		}
		a.spoolFailing = true
	case a.spoolFailing:
		a.log.Info("spool takes batches again")
		a.spoolFailing = false
	}
}

// followCell moves the notice subscriptions with the vehicle: its cell and
// the neighbours, while the cell may be shown.
func (a *Agent) followCell() {
	c, ok := a.priv.Cell()
	if !ok || c == a.cell {
		return
	}
	a.cell = c
	tokens := []string{c.Token()}
	for _, n := range c.Neighbours() {
		tokens = append(tokens, n.Token())
	}
	a.pub.SetCells(tokens)
}

// tick closes batches that reached their age on the wall clock (a silent
// bus) and sends the keyframes asked for (a reconnect, a command).
func (a *Agent) tick(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond) // a silent bus: a batch closes at most 10 % after its max_age
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.mu.Lock()
		if a.keyframeWanted.Swap(false) {
			a.keyframe()
		} else if a.bat.Due(a.frameNow) {
			a.spoolResult(a.bat.Flush())
		}
		a.mu.Unlock()
	}
}

// drain waits for the spool to empty, up to DrainTimeout.
func (a *Agent) drain(ctx context.Context) error {
	deadline := time.Now().Add(a.cfg.DrainTimeout)
	for {
		st := a.sp.Stats()
		if st.Records == 0 {
			a.log.Info("replay ended; every batch acknowledged", "batches", a.bat.Seq())
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("replay ended, but %d batches were not acknowledged within %v (they stay in the spool for the next run)", st.Records, a.cfg.DrainTimeout)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// command answers the cloud's commands.
func (a *Agent) command(ctx context.Context, c wire.Command) (map[string]any, error) {
	switch c.Cmd {
	case wire.CmdKeyframe:
		a.keyframeWanted.Store(true)
		return nil, nil
	case wire.CmdStatus:
		return a.Status(), nil
	}
	return nil, fmt.Errorf("unknown command %q (known: %s, %s)", c.Cmd, wire.CmdKeyframe, wire.CmdStatus)
}

// Status describes the agent for /healthz and the status command. It says
// nothing of the position.
func (a *Agent) Status() map[string]any {
	st := a.sp.Stats()
	a.mu.Lock()
	defer a.mu.Unlock()
	var frames uint64
	for _, n := range a.counts.framesByBus {
		frames += n
	}
	return map[string]any{
		"vehicle":          a.cfg.Vehicle,
		"boot":             a.boot,
		"version":          a.version,
		"uptime_s":         int64(time.Since(a.started).Seconds()),
		"connected":        a.pub.Connected(),
		"source_ended":     a.ended.Load(),
		"frames":           frames,
		"values_sent":      a.counts.sampled,
		"batches":          a.bat.Seq(),
		"spool_records":    st.Records,
		"spool_bytes":      st.Bytes,
		"notices_received": a.notices.received(),
	}
}
