package alert

import "time"

// Breakdown: a vehicle with hazard lights on that has been stopped
// (twin.BandStopped) for stopped_for raises a breakdown alert for traffic
// services (its cell, anonymous) and operators (the fleet view). It clears
// when the hazard lights go off, the vehicle moves again, or it has been
// silent for silent_after.
//
// The stop starts at the later of the hazard lights coming on and the
// speed falling into the stopped band, in the vehicle's time. Raising needs
// a latest report no older than max_lateness, so a backlog that shows a
// stop long ago raises nothing. The episode is named by cell and the
// stop's start (breakdown:{cell}:{ns}).

// evalBreakdown applies the breakdown rule to v at now.
func (t *term) evalBreakdown(v *vehicle, now time.Time) {
	rules := t.e.opts.Rules
	tw := &v.twin
	silent := now.Sub(v.lastReport()) > rules.SilentAfter
	if v.stale() && !silent {
		return // the twin is older than the record: wait for the replay (asof.go)
	}
	stopped := tw.Hazard.Value && tw.Stopped() && tw.Cell.Known() && !silent
	ep := v.rec.Breakdown
	switch {
	case ep == nil && !stopped:
		delete(t.candidates, v.id)
	case ep == nil:
		t.candidates[v.id] = v
		start := tw.Hazard.Since
		if tw.Speed.Since.After(start) {
			start = tw.Speed.Since
		}
		if now.Sub(start) < rules.Breakdown.StoppedFor || now.Sub(tw.Seen) > rules.MaxLateness {
			return
		}
		ep = &episode{ID: episodeID(start, KindBreakdown, tw.Cell.Value), Cell: tw.Cell.Value, Start: start.UTC()}
		v.rec.Breakdown = ep
		t.emitBreakdown(v, ep, StateRaised, start.Add(rules.Breakdown.StoppedFor))
	case !stopped:
		v.rec.Breakdown = nil
		delete(t.candidates, v.id)
		t.emitBreakdown(v, ep, StateCleared, time.Time{})
	}
}

// emitBreakdown decides a breakdown alert change. The latency of a
// breakdown is counted from the moment it met stopped_for.
func (t *term) emitBreakdown(v *vehicle, ep *episode, state string, trigger time.Time) {
	a := newAlert(KindBreakdown, ep.ID, ep.Cell)
	a.State, a.Count, a.First, a.Last = state, 1, ep.Start, v.twin.Seen.UTC()
	t.emit(&v.rec.Outbox, a, v.id, trigger)
	t.touchRecord(v)
}
