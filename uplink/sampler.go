package uplink

import (
	"math"
	"sort"
	"time"

	"github.com/kanal-dev/kanal/catalog"
)

// DefaultHeartbeat is how long a signal may go unsent before the sampler
// sends its value anyway, changed or not: a consumer then knows the signal is
// alive and what it is, even if it joined late.
const DefaultHeartbeat = 60 * time.Second

// SamplingOptions configures a Sampler.
type SamplingOptions struct {
	// Heartbeat: a signal not sent for this long is sent at its next value,
	// whatever its policy says. 0 means DefaultHeartbeat; negative turns the
	// heartbeat off (then only keyframes resend unchanged signals).
	Heartbeat time.Duration `yaml:"heartbeat"`
}

// Decision is what the sampler decided about one value.
type Decision uint8

const (
	// Drop: the value is not sent (no change beyond the deadband, or too soon).
	Drop Decision = iota
	// Send: the value goes into the open batch.
	Send
	// SendNow: a critical signal changed; the batch goes out at once.
	SendNow
)

// Sampler decides which catalog values the uplink sends, per signal, from
// the mapping file's sampling attributes (catalog.Sampling): on-change with
// a deadband, a minimum interval, periodic, and a heartbeat. It also keeps
// the last value seen of every signal, which is what a keyframe sends.
//
// Every decision follows the values' own timestamps (the frames' times), not
// the wall clock, so a log replayed at any speed, or as fast as possible, is
// sampled exactly as the drive was. A Sampler is not safe for concurrent use.
type Sampler struct {
	heartbeat int64 // ns; ≤ 0: off
	index     map[uint32]int32
	sigs      []sigState
}

type sigState struct {
	policy   catalog.Sampling
	interval int64 // ns
	sent     bool
	lastSent catalog.Value
	seen     bool
	last     catalog.Value
}

// NewSampler returns a sampler for the signals in policies (catalog id →
// sampling). Values of other ids are dropped.
func NewSampler(policies map[uint32]catalog.Sampling, opts SamplingOptions) *Sampler {
	hb := opts.Heartbeat
	if hb == 0 {
		hb = DefaultHeartbeat
	}
	s := &Sampler{heartbeat: int64(hb), index: make(map[uint32]int32, len(policies))}
	ids := make([]uint32, 0, len(policies))
	for id := range policies {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		p := policies[id]
		s.index[id] = int32(len(s.sigs))
		s.sigs = append(s.sigs, sigState{policy: p, interval: int64(p.IntervalMS) * int64(time.Millisecond)})
	}
	return s
}

// Offer tells the sampler about a new value and returns whether to send it.
func (s *Sampler) Offer(v catalog.Value) Decision {
	i, ok := s.index[v.ID]
	if !ok {
		return Drop
	}
	st := &s.sigs[i]
	st.seen, st.last = true, v
	if !st.sent {
		return st.send(v)
	}
	elapsed := v.Time - st.lastSent.Time
	if elapsed < 0 {
		// the clock went back (logs joined from several recordings, a
		// looped replay): start the signal afresh rather than fall silent
		return st.send(v)
	}
	if s.heartbeat > 0 && elapsed >= s.heartbeat {
		return st.send(v)
	}
	if elapsed < st.interval {
		return Drop
	}
	if !st.policy.OnChange || st.changed(v.Num) {
		return st.send(v)
	}
	return Drop
}

func (st *sigState) send(v catalog.Value) Decision {
	changed := !st.sent || st.changed(v.Num)
	st.sent, st.lastSent = true, v
	if changed && st.policy.Priority == catalog.PriorityCritical {
		return SendNow
	}
	return Send
}

// changed reports whether num differs from the last value sent by more than
// the deadband. Without a deadband any difference in the bits counts, so a
// NaN or a -0 is a change once and not again.
func (st *sigState) changed(num float64) bool {
	last := st.lastSent.Num
	if st.policy.Deadband > 0 && !math.IsNaN(num) && !math.IsNaN(last) {
		return math.Abs(num-last) > st.policy.Deadband
	}
	return math.Float64bits(num) != math.Float64bits(last)
}

// Latest appends the last value seen of every signal, in id order: the
// content of a keyframe, from which a consumer rebuilds the vehicle's whole
// state after any gap.
func (s *Sampler) Latest(dst []catalog.Value) []catalog.Value {
	for i := range s.sigs {
		if s.sigs[i].seen {
			dst = append(dst, s.sigs[i].last)
		}
	}
	return dst
}

// Forget drops what the sampler knows of signal id: it is not in keyframes
// until a new value arrives, and that value is sent as new. The privacy stage
// uses it when the vehicle enters a zone, so no keyframe repeats the cell it
// had before.
func (s *Sampler) Forget(id uint32) {
	if i, ok := s.index[id]; ok {
		st := &s.sigs[i]
		st.seen, st.sent = false, false
	}
}

// Policy returns the sampling of signal id.
func (s *Sampler) Policy(id uint32) (catalog.Sampling, bool) {
	i, ok := s.index[id]
	if !ok {
		return catalog.Sampling{}, false
	}
	return s.sigs[i].policy, true
}
