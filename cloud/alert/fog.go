package alert

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/kanal-dev/kanal/cloud/twin"
	"github.com/kanal-dev/kanal/geo"
	"github.com/kanal-dev/kanal/internal/wire"
)

// Fog: in one cell, at least min_vehicles distinct vehicles have front or
// rear fog lights on, each with a report no older than window.
//
// A vehicle is in the fog set of its latest cell while its twin says fog
// lights on; it counts while its latest report of anything (Twin.Seen) is
// at most window old. Turning them off or leaving the cell takes it out of
// the set at once, falling silent takes it out of the count after window.
// The set is keyed by vehicle id, so a vehicle counts once whatever it
// sends.
//
// Only a batch that is itself timely (its latest value no older than
// max_lateness) raises: its report time starts the episode and names it.
// A raised alert clears once the count has stayed below min_vehicles for
// clear_after, by the processor's clock, so a count wavering around the
// threshold raises once and clears once.

// fogUpdate moves v between fog sets after a batch changed its twin, and
// evaluates the cells concerned; trigger is the batch's latest report time
// when the batch is timely, zero otherwise.
func (t *term) fogUpdate(v *vehicle, now, trigger time.Time) {
	want := ""
	if v.twin.FogOn() && v.twin.Cell.Known() {
		want = v.twin.Cell.Value
	}
	if old := v.fog; old != want {
		if old != "" {
			c := t.cell(old)
			delete(c.fog, v.id)
			t.evalFog(c, now, time.Time{})
		}
		if want != "" {
			t.cell(want).fog[v.id] = v
		}
		v.fog = want
	}
	if want != "" {
		t.evalFog(t.cells[want], now, trigger)
	}
}

// fogCount is what the counted vehicles of a cell say.
type fogCount struct {
	n, wipers, low int
	first, last    time.Time
}

func (t *term) countFog(c *cell, now time.Time) fogCount {
	var fc fogCount
	window := t.e.opts.Rules.Fog.Window
	for _, v := range c.fog {
		if now.Sub(v.twin.Seen) > window {
			continue
		}
		fc.n++
		if v.twin.WipersOn() {
			fc.wipers++
		}
		if v.twin.Speed.Known() && twin.LowSpeed(v.twin.Speed.Value) {
			fc.low++
		}
		if s := v.fogSince(); fc.first.IsZero() || s.Before(fc.first) {
			fc.first = s
		}
		if v.twin.Seen.After(fc.last) {
			fc.last = v.twin.Seen
		}
	}
	return fc
}

// evalFog applies the fog rule to c at now; a non-zero trigger allows it
// to raise.
func (t *term) evalFog(c *cell, now, trigger time.Time) {
	rule := t.e.opts.Rules.Fog
	fc := t.countFog(c, now)
	r := &c.rec
	switch {
	case !r.Raised && fc.n >= rule.MinVehicles && trigger.After(r.AsOf):
		t.raiseFog(c, fc, now, trigger) // a trigger no later than AsOf replays a decided one (asof.go)
	case r.Raised && fc.n >= rule.MinVehicles:
		r.Count = fc.n
		if fc.last.After(r.Last) {
			r.Last = fc.last
		}
		if !r.BelowSince.IsZero() {
			r.BelowSince = time.Time{}
			t.touchCell(c)
		}
	case r.Raised && r.BelowSince.IsZero():
		r.BelowSince = now.UTC()
		r.Count = fc.n
		t.touchCell(c)
	case r.Raised && now.Sub(r.BelowSince) >= rule.ClearAfter:
		t.clearFog(c, fc)
	}
}

func (t *term) raiseFog(c *cell, fc fogCount, now, trigger time.Time) {
	gc, err := geo.ParseToken(c.token)
	if err != nil {
		return // tokens come from geo.Cell.Token: cannot happen
	}
	id := episodeID(trigger, KindFog, c.token)
	a := newAlert(KindFog, id, c.token)
	a.State, a.Count, a.First, a.Last = StateRaised, fc.n, fc.first.UTC(), fc.last.UTC()
	a.Corroboration = &Corroboration{Wipers: share(fc.wipers, fc.n), LowSpeed: share(fc.low, fc.n)}
	c.rec = fogRecord{Raised: true, ID: id, Start: trigger.UTC(), First: a.First, Last: a.Last, Count: fc.n,
		AsOf: trigger.UTC(), Outbox: c.rec.Outbox}
	t.emit(&c.rec.Outbox, a, "", trigger)
	t.notice(c, gc, a, now)
	t.touchCell(c)
}

func (t *term) clearFog(c *cell, fc fogCount) {
	r := c.rec
	a := newAlert(KindFog, r.ID, c.token)
	a.State, a.Count, a.First, a.Last = StateCleared, fc.n, r.First, r.Last
	if fc.last.After(a.Last) {
		a.Last = fc.last.UTC()
	}
	a.Corroboration = &Corroboration{Wipers: share(fc.wipers, fc.n), LowSpeed: share(fc.low, fc.n)}
	c.rec = fogRecord{AsOf: a.Last, Outbox: r.Outbox}
	if r.AsOf.After(a.Last) {
		c.rec.AsOf = r.AsOf
	}
	t.emit(&c.rec.Outbox, a, "", time.Time{})
	t.touchCell(c)
}

// notice warns the vehicles of the fog cell and of the cells around it,
// so that those driving in hear of it before they reach it. It has the
// alert's id, so a vehicle that gets it on several cell topics shows it
// once, and it expires after the fog window.
func (t *term) notice(c *cell, gc geo.Cell, a Alert, now time.Time) {
	cells := append([]geo.Cell{gc}, gc.Neighbours()...)
	tokens := make([]string, len(cells))
	for i, x := range cells {
		tokens[i] = x.Token()
	}
	n := wire.Notice{ID: a.ID, Kind: KindFog, Cells: tokens, Issued: now.UTC(),
		Expires: now.Add(t.e.opts.Rules.Fog.Window).UTC(),
		Text:    fmt.Sprintf("Fog ahead: %d vehicles in this area have their fog lights on.", a.Count)}
	data, err := json.Marshal(n)
	if err != nil {
		return
	}
	for _, tok := range tokens {
		c.rec.Outbox = append(c.rec.Outbox, outMsg{Seq: t.nextSeq(), Subject: wire.NoticeSubject(tok),
			MsgID: "notice:" + a.ID + ":" + tok, Data: data})
	}
}

func share(k, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(k) / float64(n)
}
