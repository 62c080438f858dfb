package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/kanal-dev/kanal/cloud/twin"
	"github.com/kanal-dev/kanal/internal/wire"
)

// Engine is an alert processor replica. Every replica runs the same Engine;
// one at a time holds the lease and processes (see the package comment),
// the others wait to take over.
type Engine struct {
	opts  Options
	sig   *twin.Signals
	lamps map[string]bool
	log   *slog.Logger
	m     *metrics

	leader atomic.Bool
	ticks  atomic.Uint64 // ticks run and flushed, so tests can wait for one
	// crashAfter, set by tests before Run, is asked after each step of a
	// flush that publishes alerts; an error ends the term there, as a
	// crash would.
	crashAfter func(step string) error
}

// step ends a flush after the named step when a test asks for it.
func (e *Engine) step(name string, alerts int) error {
	if e.crashAfter == nil || alerts == 0 {
		return nil
	}
	return e.crashAfter(name)
}

// New checks opts and returns an Engine; Run starts it. An error names the
// bad option.
func New(opts Options) (*Engine, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	sig, err := twin.NewSignals(opts.Catalog)
	if err != nil {
		return nil, fmt.Errorf("alert engine: %w", err)
	}
	e := &Engine{opts: opts, sig: sig, lamps: map[string]bool{}, m: newMetrics(opts.Metrics),
		log: opts.Logger.With("component", "alerts", "replica", opts.Name)}
	for _, l := range opts.Rules.Warning.Lamps {
		e.lamps[l] = true
	}
	return e, nil
}

// Rules returns the rules the engine runs, defaults filled in.
func (e *Engine) Rules() Rules { return e.opts.Rules }

// Leader reports whether this replica is the active processor now.
func (e *Engine) Leader() bool { return e.leader.Load() }

// Run processes until ctx ends, then returns nil. It sets up the streams
// and buckets it needs (idempotently), waits for the lease, and while it
// holds it processes KANAL_BATCHES. Failures of NATS (a stream not there
// yet, a lost connection) are logged and retried, never fatal: a gateway's
// processor must come back by itself.
func (e *Engine) Run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for {
		err := e.run(ctx)
		if ctx.Err() != nil {
			return nil
		}
		e.log.Warn("alert processor restarting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, e.opts.LeaseTTL)
	}
}

// run sets up, then alternates between standby and leading until an error.
func (e *Engine) run(ctx context.Context) error {
	js := e.opts.JetStream
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := EnsureAlertStreams(sctx, js, e.opts.Replicas, e.opts.AlertsMaxAge, e.opts.Duplicates); err != nil {
		return err
	}
	stateKV, leaseKV, err := ensureBuckets(sctx, js, e.opts.Replicas, e.opts.LeaseTTL)
	if err != nil {
		return err
	}
	twins, err := twin.Ensure(sctx, js, e.opts.Replicas)
	if err != nil {
		return err
	}
	if _, err := js.Stream(sctx, wire.BatchesStream); err != nil {
		return fmt.Errorf("stream %s (the gateway creates it): %w", wire.BatchesStream, err)
	}
	l := newLease(leaseKV, e.opts.Consumer, e.opts.Name, e.opts.LeaseTTL)
	defer l.close()
	for {
		ok, err := l.acquire(ctx)
		if err != nil {
			return err
		}
		if !ok {
			l.wait(ctx)
			if ctx.Err() != nil {
				return nil
			}
			continue
		}
		l.close() // its own renewals are no news
		err = e.lead(ctx, l, stateKV, twins)
		if ctx.Err() != nil {
			return nil
		}
		if !errors.Is(err, errLeaseLost) {
			return err
		}
		e.log.Warn("alert processor lost its lease; standing by", "err", err)
	}
}

// lead runs one term as the active processor: renewing the lease beside
// processing, until either fails or ctx ends.
func (e *Engine) lead(ctx context.Context, l *lease, stateKV jetstream.KeyValue, twins *twin.Store) error {
	e.leader.Store(true)
	e.m.leader.Set(1)
	e.m.takeovers.Inc()
	e.log.Info("alert processor active")
	defer func() {
		e.leader.Store(false)
		e.m.leader.Set(0)
		e.m.fogCells.Set(0)
	}()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := l.hold(gctx); err != nil {
			return err
		}
		return gctx.Err() // the term failed or ctx ended: stop
	})
	g.Go(func() error {
		t := newTerm(e, l, stateKV, twins)
		if err := t.run(gctx); err != nil {
			return err
		}
		return context.Canceled // ended with ctx: let hold release the lease
	})
	err := g.Wait()
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil
	}
	return err
}
