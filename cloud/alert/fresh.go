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
// processor's memory, which is always current.

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
