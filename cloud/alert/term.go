package alert

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/kanal-dev/kanal/cloud/twin"
	"github.com/kanal-dev/kanal/internal/wire"
	"github.com/kanal-dev/kanal/uplink/batch"
)

// statusQueue bounds the status messages waiting for the processing loop.
// A status burst beyond it (every vehicle reconnecting at once) is dropped
// and counted: presence is repeated at every connect.
const statusQueue = 4096

// maxParallelWrites bounds the StateBucket writes in flight.
const maxParallelWrites = 64

// term is one leadership term of the active processor: the state it loaded
// at takeover and keeps in memory while it processes.
type term struct {
	e       *Engine
	js      jetstream.JetStream
	lease   *lease
	stateKV jetstream.KeyValue
	twins   *twin.Store

	vehicles   map[string]*vehicle
	cells      map[string]*cell
	candidates map[string]*vehicle // hazard lights on and stopped, or with a breakdown raised
	warned     map[string]*vehicle // with warnings raised
	tombs      map[string]*vehicle // records left as tombstones (asof.go)

	dirtyV []*vehicle // twin or record changed since the last flush
	fresh  []*vehicle // twins with only newer report times, waiting (fresh.go)
	dirtyC []*cell
	acks   []jetstream.Msg
	seq    int64 // the last outMsg.Seq given
	// boxesSince is when the earliest of the loaded records with an
	// outbox was written (the server's time): recover reads back from it.
	boxesSince time.Time
	batch      batch.Batch

	undecodable uint64
}

func newTerm(e *Engine, l *lease, stateKV jetstream.KeyValue, twins *twin.Store) *term {
	return &term{e: e, js: e.opts.JetStream, lease: l, stateKV: stateKV, twins: twins,
		vehicles: map[string]*vehicle{}, cells: map[string]*cell{},
		candidates: map[string]*vehicle{}, warned: map[string]*vehicle{}, tombs: map[string]*vehicle{}}
}

// run loads the state, finishes what the previous term left undone, and
// processes batches, status messages and ticks until ctx ends or a write
// fails.
func (t *term) run(ctx context.Context) error {
	if err := t.load(ctx); err != nil {
		return err
	}
	if err := t.recover(ctx); err != nil {
		return err
	}
	cons, err := t.consumer(ctx)
	if err != nil {
		return err
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(t.e.opts.Group))
	if err != nil {
		return fmt.Errorf("read %s: %w", wire.BatchesStream, err)
	}
	statuses := make(chan *nats.Msg, statusQueue)
	sub, err := t.js.Conn().Subscribe(wire.StatusAll, func(m *nats.Msg) {
		select {
		case statuses <- m:
		default:
			t.e.m.statuses.WithLabelValues("dropped").Inc()
		}
	})
	if err != nil {
		it.Stop()
		return fmt.Errorf("subscribe %s: %w", wire.StatusAll, err)
	}
	defer sub.Unsubscribe()

	msgs := make(chan jetstream.Msg, t.e.opts.Group)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		<-gctx.Done()
		it.Stop() // unblocks Next
		return nil
	})
	g.Go(func() error { return t.read(gctx, it, msgs) })
	g.Go(func() error { return t.loop(gctx, msgs, statuses) })
	return g.Wait()
}

// read moves batches from the consumer to the processing loop. Next
// handles missed heartbeats and reconnects itself; any error it returns
// ends the iterator, and with it the term, unless ctx ended.
func (t *term) read(ctx context.Context, it jetstream.MessagesContext, msgs chan<- jetstream.Msg) error {
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read %s: %w", wire.BatchesStream, err)
		}
		select {
		case msgs <- m:
		case <-ctx.Done():
			return nil
		}
	}
}

// loop processes what comes in. Batches are taken in groups: what is
// waiting (up to Options.Group) is processed, then flushed together.
func (t *term) loop(ctx context.Context, msgs <-chan jetstream.Msg, statuses <-chan *nats.Msg) error {
	tick := time.NewTicker(t.e.opts.Tick)
	defer tick.Stop()
	t.tick(t.e.opts.Now()) // evaluate what time did while no one processed
	if err := t.flush(ctx); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-msgs:
			t.process(m)
		group:
			for n := 1; n < t.e.opts.Group; n++ {
				select {
				case m := <-msgs:
					t.process(m)
				default:
					break group
				}
			}
		case m := <-statuses:
			t.status(m)
		case <-tick.C:
			t.tick(t.e.opts.Now())
			if err := t.flush(ctx); err != nil {
				return err
			}
			t.e.ticks.Add(1)
			continue
		}
		if err := t.flush(ctx); err != nil {
			return err
		}
	}
}

// consumer returns the durable consumer, positioned right after the last
// batch whose effects are stored. Batches are acknowledged only after the
// state they changed is written, so the ack floor is that position. When
// batches were delivered and not acknowledged (the previous term ended
// mid-group), the consumer is made anew from the ack floor: waiting for
// their redelivery (AckWait) would process newer batches first.
func (t *term) consumer(ctx context.Context) (jetstream.Consumer, error) {
	s, err := t.js.Stream(ctx, wire.BatchesStream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", wire.BatchesStream, err)
	}
	name := t.e.opts.Consumer
	cfg := jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "Kanal alert processor (cloud/alert)",
		FilterSubject: wire.BatchesAll,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       t.e.opts.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: 4 * t.e.opts.Group,
	}
	c, err := s.Consumer(ctx, name)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		start := time.Now().Add(-t.e.opts.Backfill)
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
	case err != nil:
		return nil, fmt.Errorf("consumer %s: %w", name, err)
	default:
		info := c.CachedInfo()
		if info.NumAckPending == 0 && info.NumRedelivered == 0 {
			return c, nil
		}
		floor := info.AckFloor.Stream
		if err := s.DeleteConsumer(ctx, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil, fmt.Errorf("reset consumer %s: %w", name, err)
		}
		if floor == 0 {
			cfg.DeliverPolicy, cfg.OptStartTime = info.Config.DeliverPolicy, info.Config.OptStartTime
			cfg.OptStartSeq = info.Config.OptStartSeq
		} else {
			cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, floor+1
		}
		t.e.log.Info("alert processor resumes after the ack floor", "consumer", name, "seq", floor+1,
			"unacknowledged", info.NumAckPending)
	}
	c, err = s.CreateOrUpdateConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create consumer %s: %w", name, err)
	}
	return c, nil
}

// vehicle returns the state of vehicle id, making it on first sight.
func (t *term) vehicle(id string) *vehicle {
	v := t.vehicles[id]
	if v == nil {
		v = &vehicle{id: id, twin: twin.Twin{Vehicle: id}}
		t.vehicles[id] = v
	}
	return v
}

// cell returns the state of the cell with the given token.
func (t *term) cell(token string) *cell {
	c := t.cells[token]
	if c == nil {
		c = &cell{token: token, fog: map[string]*vehicle{}}
		t.cells[token] = c
	}
	return c
}

func (t *term) touchTwin(v *vehicle) {
	if !v.twinDirty && !v.recDirty {
		t.dirtyV = append(t.dirtyV, v)
	}
	v.twinDirty = true
}

func (t *term) touchRecord(v *vehicle) {
	if !v.twinDirty && !v.recDirty {
		t.dirtyV = append(t.dirtyV, v)
	}
	v.recDirty = true
}

func (t *term) touchCell(c *cell) {
	if !c.dirty {
		t.dirtyC = append(t.dirtyC, c)
	}
	c.dirty = true
}

// status applies a message from kanal.status.{vehicle}: presence updates
// the twin's online state; replies and anything else are ignored.
func (t *term) status(m *nats.Msg) {
	id, ok := wire.SubjectToken(m.Subject, "kanal.status.")
	if !ok || batch.CheckVehicleID(id) != nil || len(m.Data) > wire.MaxMessageBytes {
		t.e.m.statuses.WithLabelValues("invalid").Inc()
		return
	}
	var p wire.Presence
	if err := json.Unmarshal(m.Data, &p); err != nil {
		t.e.m.statuses.WithLabelValues("invalid").Inc()
		return
	}
	if p.Type != "presence" {
		t.e.m.statuses.WithLabelValues("ignored").Inc()
		return
	}
	v := t.vehicle(id)
	if !v.twin.SetPresence(p) {
		t.e.m.statuses.WithLabelValues("ignored").Inc()
		return
	}
	v.twin.Updated = t.e.opts.Now().UTC()
	t.touchTwin(v)
	t.e.m.statuses.WithLabelValues("applied").Inc()
}

// emit decides an alert change: the traffic view when the alert has a cell,
// the fleet view when vehicle is set. The messages go into box, the outbox
// of the record that made the decision.
func (t *term) emit(box *[]outMsg, a Alert, vehicle string, trigger time.Time) {
	a.Published = t.e.opts.Now().UTC()
	var trig int64
	if !trigger.IsZero() {
		trig = trigger.UnixNano()
	}
	if a.Cell != "" {
		data, _ := json.Marshal(a.Anonymous()) // plain types: never fails
		*box = append(*box, outMsg{Seq: t.nextSeq(), Subject: a.Subject(), MsgID: a.MsgID(), Data: data, Trigger: trig})
	}
	if vehicle != "" {
		a.Vehicle = vehicle
		data, _ := json.Marshal(a)
		*box = append(*box, outMsg{Seq: t.nextSeq(), Subject: wire.FleetAlertSubject(a.Kind, vehicle), MsgID: a.FleetMsgID(), Data: data, Trigger: trig})
	}
	t.e.log.Info("alert", "kind", a.Kind, "state", a.State, "id", a.ID, "cell", a.Cell, "count", a.Count)
}

// nextSeq returns a number above every outMsg.Seq given before, by this
// term or an earlier one: the wall clock in nanoseconds, or one more than
// the last when the clock has not moved on (or went back).
func (t *term) nextSeq() int64 {
	t.seq = max(t.seq+1, time.Now().UnixNano())
	return t.seq
}

// sortOutbox returns every message waiting in boxes in the order they must
// be published: the order they were decided in (Seq).
func sortOutbox(boxes [][]outMsg) []*outMsg {
	var all []*outMsg
	for _, b := range boxes {
		for i := range b {
			all = append(all, &b[i])
		}
	}
	slices.SortFunc(all, func(a, b *outMsg) int { return cmp.Compare(a.Seq, b.Seq) })
	return all
}
