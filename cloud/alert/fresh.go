package alert

import "time"

// Most batches only repeat what a twin already says: the same cell, the
// same lights, the same speed band, newer report times. Writing the twin
// for each of them would cost a KANAL_TWINS write per batch, as many
// stored messages as KANAL_BATCHES itself; measured with the gateway
// benchmark, it was a quarter of the gateway's CPU per batch and tripled
// its PUBACK p99. So a twin whose values changed is written with its
// batch's group, as before, and one whose report times alone moved is
// written Options.TwinRefresh later (at a tick), with whatever came in
// meanwhile.
//
// The cost: KANAL_TWINS may show a Seen (and the At of repeated readings)
// up to TwinRefresh old, and a processor that dies loses at most that much
// of them: the batches were acknowledged, and the next term starts from
// the twins as written. Values are never lost that way. The rules read the
// processor's memory, which is always current, and the vehicles whose
// report times a rule follows are written with every batch (followed), as
// is every twin whose record is written: a record is never ahead of its
// twin by more than a replay catches up (asof.go).

// followed reports whether a rule follows v's report times: it is in a
// cell's fog count (which it leaves a window after its latest report), a
// breakdown candidate, or has warnings raised. Their twins are written with
// every batch, so a processor taking over counts them as the last one
// did; they are few (vehicles in fog, with lamps or hazards on).
func (t *term) followed(v *vehicle) bool {
	if v.fog != "" {
		return true
	}
	_, candidate := t.candidates[v.id]
	_, warned := t.warned[v.id]
	return candidate || warned
}

// touchFresh notes that v's report times moved at now while its values
// stayed: the twin is written TwinRefresh after the first such batch.
func (t *term) touchFresh(v *vehicle, now time.Time) {
	if v.twinDirty || !v.freshSince.IsZero() {
		return // written with this group, or already waiting
	}
	v.freshSince = now
	if !v.inFresh {
		v.inFresh = true
		t.fresh = append(t.fresh, v)
	}
}

// refreshTwins marks the twins that have waited TwinRefresh for the next
// flush, and forgets those written meanwhile.
func (t *term) refreshTwins(now time.Time) {
	keep := t.fresh[:0]
	for _, v := range t.fresh {
		switch {
		case v.freshSince.IsZero(): // written with a change meanwhile
			v.inFresh = false
		case now.Sub(v.freshSince) >= t.e.opts.TwinRefresh:
			t.touchTwin(v) // the flush after this tick writes it
			v.inFresh = false
		default:
			keep = append(keep, v)
		}
	}
	clear(t.fresh[len(keep):])
	t.fresh = keep
}
