package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/kanal-dev/kanal/cloud/twin"
	"github.com/kanal-dev/kanal/internal/wire"
)

// publishTimeout bounds the wait for JetStream's acks of one flush.
const publishTimeout = 10 * time.Second

// recordWrite is one write to StateBucket: a put, or a delete when data is
// nil.
type recordWrite struct {
	key    string
	data   []byte
	stored *bool
}

// flush makes what the processed batches changed durable, in an order that
// makes every alert published exactly once (see the package comment):
//
//  1. the changed records, with the alerts decided (their outboxes);
//  2. the alerts, in the order decided, waiting for JetStream's acks;
//  3. the records again, their outboxes emptied;
//  4. the twins;
//  5. the acknowledgements of the batches.
//
// A crash between any two steps leaves a state from which the next term
// neither repeats nor misses an alert.
func (t *term) flush(ctx context.Context) error {
	if len(t.dirtyV) == 0 && len(t.dirtyC) == 0 && len(t.acks) == 0 {
		return nil
	}
	if !t.lease.valid() {
		return fmt.Errorf("%w: not renewed for half its TTL", errLeaseLost)
	}
	start := time.Now()
	writes, boxes := t.recordWrites()
	published := len(boxes)
	if err := t.writeRecords(ctx, writes); err != nil {
		return err
	}
	if err := t.e.step("records", len(boxes)); err != nil {
		return err
	}
	if len(boxes) > 0 {
		if err := t.publish(ctx, sortOutbox(boxes)); err != nil {
			return err
		}
		if err := t.e.step("publish", len(boxes)); err != nil {
			return err
		}
		writes = t.emptyOutboxes()
		if err := t.writeRecords(ctx, writes); err != nil {
			return err
		}
		if err := t.e.step("outboxes", published); err != nil {
			return err
		}
	}
	var twins []*twin.Twin
	for _, v := range t.dirtyV {
		if v.twinDirty || v.recDirty { // a record is not written ahead of its twin (fresh.go)
			v.twinDirty = true
			twins = append(twins, &v.twin)
		}
	}
	if err := t.twins.PutAll(ctx, twins); err != nil {
		return err
	}
	t.e.m.twins.Add(float64(len(twins)))
	if err := t.e.step("twins", published); err != nil {
		return err
	}
	for i, m := range t.acks {
		if i < len(t.acks)-1 {
			_ = m.Ack() // a lost ack means a redelivery, which changes nothing
			continue
		}
		actx, cancel := context.WithTimeout(ctx, publishTimeout)
		if err := m.DoubleAck(actx); err != nil { // every ack before it was taken, in order
			t.e.log.Debug("batch ack not confirmed", "err", err)
		}
		cancel()
	}
	t.acks = t.acks[:0]
	for _, v := range t.dirtyV {
		if v.recDirty {
			t.tomb(v)
		}
		if v.twinDirty {
			v.freshSince = time.Time{} // what waited is written too
		}
		v.twinDirty, v.recDirty = false, false
	}
	t.dirtyV = t.dirtyV[:0]
	for _, c := range t.dirtyC {
		c.dirty = false
		if c.idle() {
			delete(t.cells, c.token)
		}
	}
	t.dirtyC = t.dirtyC[:0]
	t.e.m.flush.Observe(time.Since(start).Seconds())
	return nil
}

// recordWrites returns the writes of the changed records and their
// outboxes.
func (t *term) recordWrites() ([]recordWrite, [][]outMsg) {
	var writes []recordWrite
	var boxes [][]outMsg
	for _, c := range t.dirtyC {
		if w, ok := t.cellWrite(c); ok {
			writes = append(writes, w)
		}
		if len(c.rec.Outbox) > 0 {
			boxes = append(boxes, c.rec.Outbox)
		}
	}
	for _, v := range t.dirtyV {
		if !v.recDirty {
			continue
		}
		if w, ok := t.vehicleWrite(v); ok {
			writes = append(writes, w)
		}
		if len(v.rec.Outbox) > 0 {
			boxes = append(boxes, v.rec.Outbox)
		}
	}
	return writes, boxes
}

// emptyOutboxes empties the outboxes of the changed records, once their
// messages are published, and returns the writes that record it.
func (t *term) emptyOutboxes() []recordWrite {
	var writes []recordWrite
	for _, c := range t.dirtyC {
		if len(c.rec.Outbox) > 0 {
			c.rec.Outbox = nil
			if w, ok := t.cellWrite(c); ok {
				writes = append(writes, w)
			}
		}
	}
	for _, v := range t.dirtyV {
		if v.recDirty && len(v.rec.Outbox) > 0 {
			v.rec.Outbox = nil
			if w, ok := t.vehicleWrite(v); ok {
				writes = append(writes, w)
			}
		}
	}
	return writes
}

// cellWrite returns the write of c's record: a put, a tombstone's put, or
// the delete of an expired tombstone (false when there is nothing to do).
func (t *term) cellWrite(c *cell) (recordWrite, bool) {
	w := recordWrite{key: cellKeyPrefix + c.token, stored: &c.recStored}
	if c.rec.Last.After(c.rec.AsOf) {
		c.rec.AsOf = c.rec.Last
	}
	if c.rec.empty() && t.expired(c.rec.AsOf) {
		return w, c.recStored
	}
	w.data, _ = json.Marshal(&c.rec)
	return w, true
}

// vehicleWrite is cellWrite for a vehicle's record.
func (t *term) vehicleWrite(v *vehicle) (recordWrite, bool) {
	w := recordWrite{key: vehicleKeyPrefix + v.id, stored: &v.recStored}
	if v.twin.Seen.After(v.rec.AsOf) {
		v.rec.AsOf = v.twin.Seen
	}
	if v.rec.empty() && t.expired(v.rec.AsOf) {
		return w, v.recStored
	}
	w.data, _ = json.Marshal(&v.rec)
	return w, true
}

// writeRecords applies writes to StateBucket, several at a time.
func (t *term) writeRecords(ctx context.Context, writes []recordWrite) error {
	if len(writes) == 0 {
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxParallelWrites)
	for _, w := range writes {
		g.Go(func() error {
			var err error
			if w.data == nil {
				err = t.stateKV.Delete(gctx, w.key)
			} else {
				_, err = t.stateKV.Put(gctx, w.key, w.data)
			}
			if err != nil {
				return fmt.Errorf("write %s %s: %w", StateBucket, w.key, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, w := range writes { // after Wait: the goroutines are done with them
		*w.stored = w.data != nil
	}
	return nil
}

// publish sends msgs in order, each with its Nats-Msg-Id, and waits for
// every ack. Messages from one connection are stored in the order sent.
func (t *term) publish(ctx context.Context, msgs []*outMsg) error {
	futures := make([]jetstream.PubAckFuture, len(msgs))
	for i, m := range msgs {
		nm := &nats.Msg{Subject: m.Subject, Data: m.Data, Header: nats.Header{}}
		nm.Header.Set(jetstream.MsgIDHeader, m.MsgID)
		f, err := t.js.PublishMsgAsync(nm)
		if err != nil {
			return fmt.Errorf("publish %s: %w", m.Subject, err)
		}
		futures[i] = f
	}
	timeout := time.NewTimer(publishTimeout)
	defer timeout.Stop()
	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("publish %s: %w", msgs[i].Subject, err)
		case <-timeout.C:
			return fmt.Errorf("publish %s: no ack within %v", msgs[i].Subject, publishTimeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	now := time.Now()
	for _, m := range msgs {
		t.count(m, now)
	}
	return nil
}

// count records a published alert in the metrics: once per alert change,
// by its fleet view for warnings and breakdowns (which always have one) and
// its traffic view for fog (which has no other).
func (t *term) count(m *outMsg, now time.Time) {
	kind, state, ok := alertOf(m)
	if !ok {
		return
	}
	fleet := strings.HasPrefix(m.Subject, "kanal.fleet.")
	if fleet != (kind != KindFog) {
		return
	}
	t.e.m.alerts.WithLabelValues(kind, state).Inc()
	if m.Trigger != 0 {
		t.e.m.latency.Observe(now.Sub(time.Unix(0, m.Trigger)).Seconds())
	}
}

// alertOf returns the kind and state of an alert message, false for a
// notice.
func alertOf(m *outMsg) (kind, state string, ok bool) {
	rest, ok := strings.CutPrefix(m.Subject, "kanal.fleet.alerts.")
	if !ok {
		if rest, ok = strings.CutPrefix(m.Subject, "kanal.alerts."); !ok {
			return "", "", false
		}
	}
	kind, _, _ = strings.Cut(rest, ".")
	state = m.MsgID[strings.LastIndexByte(m.MsgID, ':')+1:]
	return kind, state, true
}

// recover publishes what the previous term decided and may not have
// published: the outboxes left in the records it wrote (step 1 of flush
// done, step 3 not, or not for every record). It reads back the Nats-Msg-Ids
// on the outboxes' subjects since the earliest of those records was
// written (published reads them) and publishes, in decision order, what
// is not there. The messages of an outbox are published after its record
// is written, so nothing of theirs is older. Comparing ids, not positions,
// holds when step 3 was cut short: the records it emptied are gone from the
// outboxes, but their messages may follow the remaining ones on a shared
// subject (every warning of a cell goes to the cell's subject), and the
// notices share their subjects with operators' notices. JetStream's
// duplicate window would catch most repeats anyway; this catches them
// after any outage.
func (t *term) recover(ctx context.Context) error {
	var boxes [][]outMsg
	var recs int
	for _, c := range t.cells {
		if len(c.rec.Outbox) > 0 {
			boxes, recs = append(boxes, c.rec.Outbox), recs+1
			t.touchCell(c)
		}
	}
	for _, v := range t.vehicles {
		if len(v.rec.Outbox) > 0 {
			boxes, recs = append(boxes, v.rec.Outbox), recs+1
			t.touchRecord(v)
		}
	}
	if len(boxes) == 0 {
		return nil
	}
	all := sortOutbox(boxes)
	out, err := t.published(ctx, all, t.boxesSince.Add(-recoverSlack))
	if err != nil {
		return err
	}
	var todo []*outMsg
	for _, m := range all {
		if !out[m.Subject+" "+m.MsgID] {
			todo = append(todo, m)
		}
	}
	t.e.log.Info("alert processor publishes what the previous term decided", "records", recs,
		"messages", len(all), "unpublished", len(todo))
	if err := t.publish(ctx, todo); err != nil {
		return err
	}
	for _, c := range t.cells {
		c.rec.Outbox = nil
	}
	for _, v := range t.vehicles {
		v.rec.Outbox = nil
	}
	return nil // the loop's first flush writes the emptied records
}

// recoverSlack is how much earlier than the records' write time recover
// reads back: the records and the streams may be on different servers of
// a cluster, whose clocks differ a little.
const recoverSlack = time.Minute

// maxFilterSubjects bounds the filter subjects of the read-back consumer;
// with more, it reads all of the streams' subjects since then.
const maxFilterSubjects = 256

// published returns "subject msgid" of every message on the subjects of
// msgs that their stream holds from since on.
func (t *term) published(ctx context.Context, msgs []*outMsg, since time.Time) (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	perStream := map[string][]string{}
	seen := map[string]bool{}
	for _, m := range msgs {
		if seen[m.Subject] {
			continue
		}
		seen[m.Subject] = true
		name := wire.AlertsStream
		if strings.HasPrefix(m.Subject, "kanal.notices.") {
			name = wire.NoticesStream
		}
		perStream[name] = append(perStream[name], m.Subject)
	}
	out := map[string]bool{}
	for name, subjects := range perStream {
		cfg := jetstream.OrderedConsumerConfig{FilterSubjects: subjects, DeliverPolicy: jetstream.DeliverAllPolicy,
			MaxResetAttempts: 3} // nats.go retries forever by default
		if len(subjects) > maxFilterSubjects {
			cfg.FilterSubjects = nil
		}
		if !since.IsZero() {
			cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
		}
		c, err := t.js.OrderedConsumer(ctx, name, cfg)
		if err != nil {
			return nil, fmt.Errorf("read back %s: %w", name, err)
		}
		for done := false; !done; {
			b, err := c.FetchNoWait(500)
			if err != nil {
				return nil, fmt.Errorf("read back %s: %w", name, err)
			}
			n := 0
			for m := range b.Messages() {
				n++
				out[m.Subject()+" "+m.Headers().Get(jetstream.MsgIDHeader)] = true
				if md, err := m.Metadata(); err == nil && md.NumPending == 0 {
					done = true
				}
			}
			if err := b.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
				return nil, fmt.Errorf("read back %s: %w", name, err)
			}
			if n == 0 {
				done = true
			}
			if ctx.Err() != nil {
				return nil, fmt.Errorf("read back %s: %w", name, ctx.Err())
			}
		}
	}
	return out, nil
}
