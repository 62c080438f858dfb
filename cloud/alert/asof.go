package alert

import "time"

// Records ahead of twins
//
// A flush writes the rules' records before the twins (outbox.go), so a
// crash between the two leaves a record that knows more than the twins it
// was decided from. The next term loads both and processes the batches
// after the ack floor again: from the older twins, those batches show
// the changes once more, a lamp coming on that the record already raised,
// or an earlier lamp going off that would clear the episode the record
// holds. Each record therefore keeps AsOf, the latest report it was
// decided with (the vehicle's Twin.Seen, or for a cell its latest report),
// and a change no later than AsOf is taken as decided: a lamp change at
// or before it is not acted on, a fog trigger at or before it raises
// nothing, and a vehicle whose twin is older than its record's AsOf is
// left alone until the replay has brought the twin up to it.
//
// A record with nothing else left (its alerts cleared) stays as a
// tombstone with AsOf until max_lateness has passed: after that a replayed
// change is too late to raise anything anyway, and the tombstone goes.

// expired reports whether a tombstone decided as of asOf may go.
func (t *term) expired(asOf time.Time) bool {
	return t.e.opts.Now().Sub(asOf) > t.e.opts.Rules.MaxLateness
}

// decided reports whether a vehicle's change reported at ts (Unix ns) is
// covered by its record.
func (v *vehicle) decided(ts int64) bool {
	return !v.rec.AsOf.IsZero() && ts <= v.rec.AsOf.UnixNano()
}

// stale reports whether v's twin is older than its record: the replay
// after a takeover has not caught up with it yet.
func (v *vehicle) stale() bool { return v.twin.Seen.Before(v.rec.AsOf) }

// lastReport is the later of the twin's latest report and the record's.
func (v *vehicle) lastReport() time.Time {
	if v.rec.AsOf.After(v.twin.Seen) {
		return v.rec.AsOf
	}
	return v.twin.Seen
}

// tomb keeps track of v after its record was written: a tombstone waits
// for expireTombs.
func (t *term) tomb(v *vehicle) {
	if v.rec.empty() && v.recStored {
		t.tombs[v.id] = v
	} else {
		delete(t.tombs, v.id)
	}
}

// expireTombs marks expired tombstones for deletion by the next flush.
func (t *term) expireTombs() {
	for _, v := range t.tombs {
		if v.rec.empty() && t.expired(v.rec.AsOf) {
			t.touchRecord(v)
		}
	}
	for _, c := range t.cells {
		if c.rec.empty() && c.recStored && t.expired(c.rec.AsOf) {
			t.touchCell(c)
		}
	}
}
