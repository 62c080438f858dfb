package alert

import "time"

// Warning: one of the configured lamps turning on raises a warning alert
// at once, with the vehicle id on the fleet subject and anonymous (lamp
// and cell) on the traffic subject; the lamp turning off clears it. The
// lamp's report must be timely (no older than max_lateness): a lamp that
// came on during an outage updates the twin and raises nothing, and its
// turning off later clears nothing. A vehicle silent for silent_after has
// its warnings cleared.
//
// The episode is named by cell, lamp and the report time of the lamp
// coming on (warning:{cell}:{lamp}:{ns}), not by the vehicle, so the
// traffic view's id and Nats-Msg-Id say nothing of who it was. Two vehicles
// would share an id only with the same lamp coming on in the same cell in
// the same nanosecond.

// lamp handles a lamp's reading changing to its twin's current value,
// reported at ts (Unix ns).
func (t *term) lamp(v *vehicle, lamp string, ts int64, now time.Time) {
	if !t.e.lamps[lamp] || v.decided(ts) {
		return
	}
	on := v.twin.Lamps[lamp].Value
	ep, raised := v.rec.Warnings[lamp]
	switch {
	case on && !raised:
		if now.UnixNano()-ts > int64(t.e.opts.Rules.MaxLateness) {
			return
		}
		start := time.Unix(0, ts).UTC()
		cell := ""
		if v.twin.Cell.Known() {
			cell = v.twin.Cell.Value
		}
		ep = episode{ID: episodeID(start, KindWarning, cell, lamp), Cell: cell, Lamp: lamp, Start: start}
		if v.rec.Warnings == nil {
			v.rec.Warnings = map[string]episode{}
		}
		v.rec.Warnings[lamp] = ep
		t.warned[v.id] = v
		t.emitWarning(v, ep, StateRaised, start, start)
	case !on && raised:
		t.clearWarning(v, ep, time.Unix(0, ts).UTC())
	}
}

// clearWarning clears a raised warning; last is the latest report it
// rests on.
func (t *term) clearWarning(v *vehicle, ep episode, last time.Time) {
	delete(v.rec.Warnings, ep.Lamp)
	if len(v.rec.Warnings) == 0 {
		delete(t.warned, v.id)
	}
	t.emitWarning(v, ep, StateCleared, last, time.Time{})
}

func (t *term) emitWarning(v *vehicle, ep episode, state string, last, trigger time.Time) {
	a := newAlert(KindWarning, ep.ID, ep.Cell) // no cell known: the fleet view only
	a.State, a.Count, a.Lamp, a.First, a.Last = state, 1, ep.Lamp, ep.Start, last
	t.emit(&v.rec.Outbox, a, v.id, trigger)
	t.touchRecord(v)
}

// silenceWarnings clears the warnings of a vehicle silent for silent_after.
func (t *term) silenceWarnings(v *vehicle, now time.Time) {
	last := v.lastReport()
	if now.Sub(last) <= t.e.opts.Rules.SilentAfter {
		return
	}
	for _, ep := range v.rec.Warnings {
		t.clearWarning(v, ep, last.UTC())
	}
}
