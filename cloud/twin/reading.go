package twin

import "time"

// Reading is the latest reported value of one signal: the value, when the
// vehicle first reported it (Since: the value has held from then on) and
// when it last reported it (At), both in the vehicle's time. The zero
// Reading is "never reported".
type Reading[T comparable] struct {
	Value T         `json:"value"`
	Since time.Time `json:"since"`
	At    time.Time `json:"at"`
}

// Known reports whether the signal was ever reported.
func (r Reading[T]) Known() bool { return !r.At.IsZero() }

// Set records v, reported at t, and reports whether the value changed. A
// report no newer than the latest one (At) is ignored: reports can arrive out
// of order, and the newest wins. Ignoring equal times too makes a batch
// applied twice change nothing.
func (r *Reading[T]) Set(v T, t time.Time) (changed bool) {
	if r.Known() && !t.After(r.At) {
		return false
	}
	changed = !r.Known() || r.Value != v
	if changed {
		r.Value, r.Since = v, t
	}
	r.At = t
	return changed
}
