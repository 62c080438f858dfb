package alert

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kanal-dev/kanal/cloud/twin"
	"github.com/kanal-dev/kanal/internal/wire"
)

// process applies one batch from KANAL_BATCHES. Whatever happens, the batch
// is acknowledged with its group: a batch that does not decode never will,
// and blocking the stream for it would stop every alert.
func (t *term) process(m jetstream.Msg) {
	t.acks = append(t.acks, m)
	id, ok := wire.SubjectToken(m.Subject(), "kanal.batches.")
	if !ok {
		t.e.m.batches.WithLabelValues("mismatch").Inc()
		return
	}
	if err := t.e.opts.Decoder.DecodeInto(m.Data(), &t.batch); err != nil {
		t.e.m.batches.WithLabelValues("undecodable").Inc()
		t.undecodable++
		if bits.OnesCount64(t.undecodable) == 1 { // the 1st, 2nd, 4th, 8th, ...
			t.e.log.Warn("batch does not decode; skipped", "vehicle", id, "count", t.undecodable, "err", err)
		}
		return
	}
	if t.batch.Header.Vehicle != id {
		t.e.m.batches.WithLabelValues("mismatch").Inc()
		return
	}
	t.e.m.batches.WithLabelValues("processed").Inc()
	t.apply(t.vehicle(id), t.e.opts.Now())
}

// apply applies t.batch to v at now. Each value counts at its own time,
// clamped to now when it is more than max_clock_skew ahead.
func (t *term) apply(v *vehicle, now time.Time) {
	rules := t.e.opts.Rules
	nowNs := now.UnixNano()
	var latest int64
	var late, skewed, invalid int
	// changed: a value of the twin changed, not only report times. A twin
	// the cloud never wrote is new, whatever the batch holds: the vehicle
	// exists from its first batch on, in KANAL_TWINS too.
	changed := v.twin.Updated.IsZero()
	for _, val := range t.batch.Values {
		if val.Time > nowNs+int64(rules.MaxClockSkew) {
			val.Time = nowNs
			skewed++
		}
		if nowNs-val.Time > int64(rules.MaxLateness) {
			late++
		}
		latest = max(latest, val.Time)
		ch := t.e.sig.Apply(&v.twin, val)
		changed = changed || ch.Changed
		switch ch.Field {
		case twin.FieldInvalid:
			invalid++
		case twin.FieldLamp:
			if ch.Changed {
				t.lamp(v, ch.Lamp, val.Time, now)
			}
		}
	}
	t.e.m.values.Add(float64(len(t.batch.Values)))
	t.e.m.late.Add(float64(late))
	t.e.m.skewed.Add(float64(skewed))
	t.e.m.invalid.Add(float64(invalid))
	var trigger time.Time
	if len(t.batch.Values) > 0 && nowNs-latest <= int64(rules.MaxLateness) {
		trigger = time.Unix(0, latest).UTC()
		changed = changed || v.twin.Boot != t.batch.Header.Boot
		v.twin.Boot = t.batch.Header.Boot
	}
	v.twin.Updated = now.UTC()
	t.fogUpdate(v, now, trigger)
	t.evalBreakdown(v, now)
	if changed || t.followed(v) {
		t.touchTwin(v)
	} else {
		t.touchFresh(v, now)
	}
}

// tick runs the time-driven part of the rules: vehicles falling silent,
// hysteresis, stopped_for.
func (t *term) tick(now time.Time) {
	raised := 0
	for _, c := range t.cells {
		t.evalFog(c, now, time.Time{})
		if c.rec.Raised {
			raised++
		}
	}
	t.e.m.fogCells.Set(float64(raised))
	for _, v := range t.candidates {
		t.evalBreakdown(v, now)
	}
	for _, v := range t.warned {
		t.silenceWarnings(v, now)
	}
	t.expireTombs()
	t.refreshTwins(now)
}

// load reads the twins and the rules' state the previous term left, and
// rebuilds the indexes from them.
func (t *term) load(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := t.twins.Load(ctx, func(tw *twin.Twin) { t.vehicle(tw.Vehicle).twin = *tw }); err != nil {
		return err
	}
	w, err := t.stateKV.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("load %s: %w", StateBucket, err)
	}
	defer w.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			return fmt.Errorf("load %s: %w", StateBucket, ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("load %s: %w", StateBucket, errors.New("watcher closed"))
			}
			if e == nil {
				done = true
				break
			}
			t.loadRecord(e.Key(), e.Value(), e.Created())
		}
	}
	for _, v := range t.vehicles {
		if v.twin.FogOn() && v.twin.Cell.Known() {
			v.fog = v.twin.Cell.Value
			t.cell(v.fog).fog[v.id] = v
		}
		if v.rec.Breakdown != nil || v.twin.Hazard.Value {
			t.candidates[v.id] = v
		}
		if len(v.rec.Warnings) > 0 {
			t.warned[v.id] = v
		}
		t.tomb(v)
	}
	t.e.log.Info("alert processor state loaded", "vehicles", len(t.vehicles), "cells", len(t.cells))
	return nil
}

func (t *term) loadRecord(key string, data []byte, written time.Time) {
	id, fog, veh, ok := decodeRecord(key, data)
	switch {
	case !ok:
		t.e.log.Warn("ignoring a state entry that does not parse", "bucket", StateBucket, "key", key)
	case fog != nil:
		c := t.cell(id)
		c.rec, c.recStored = *fog, true
	default:
		v := t.vehicle(id)
		v.rec, v.recStored = *veh, true
	}
	for _, box := range [][]outMsg{fogOutbox(fog), vehOutbox(veh)} {
		for _, m := range box {
			t.seq = max(t.seq, m.Seq)
		}
		if len(box) > 0 && (t.boxesSince.IsZero() || written.Before(t.boxesSince)) {
			t.boxesSince = written
		}
	}
}

func fogOutbox(r *fogRecord) []outMsg {
	if r == nil {
		return nil
	}
	return r.Outbox
}

func vehOutbox(r *vehicleRecord) []outMsg {
	if r == nil {
		return nil
	}
	return r.Outbox
}
