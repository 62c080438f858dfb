package dbc

import "github.com/kanal-dev/kanal/can"

// Stats counts what a Decoder saw. Frames = Decoded + the sum of Skipped.
type Stats struct {
	Frames     uint64
	Decoded    uint64
	Skipped    [numStatus]uint64 // by Status; Skipped[Decoded] stays 0
	NoPlan     uint64            // frames of a bus without a plan (also counted as UnknownID)
	Values     uint64
	OutOfRange uint64
	// Normalized counts the catalog values the mapping produced (a value
	// map that does not list a raw value produces none); Pipeline only.
	Normalized uint64
}

// Decoder decodes frames of several buses, each with its own Plan, and
// counts them. It is not safe for concurrent use; give each goroutine its
// own Decoder (Plans are shared).
type Decoder struct {
	plans map[string]*Plan
	def   *Plan
	last  string
	lastP *Plan
	Stats Stats
}

// NewDecoder returns a Decoder that uses perBus[bus] for a bus listed there
// and def for any other bus; def may be nil.
func NewDecoder(def *Plan, perBus map[string]*Plan) *Decoder {
	return &Decoder{plans: perBus, def: def}
}

// Plan returns the plan used for bus, or nil.
func (d *Decoder) Plan(bus string) *Plan {
	if bus == d.last && d.lastP != nil {
		return d.lastP
	}
	p, ok := d.plans[bus]
	if !ok {
		p = d.def
	}
	d.last, d.lastP = bus, p
	return p
}

// MaxValues is the largest MaxValues of the decoder's plans.
func (d *Decoder) MaxValues() int {
	n := 0
	if d.def != nil {
		n = d.def.MaxValues()
	}
	for _, p := range d.plans {
		n = max(n, p.MaxValues())
	}
	return n
}

// Decode decodes one frame with the plan of its bus and counts the result.
// The returned plan names the values' signals; it is nil when the bus has
// no plan.
func (d *Decoder) Decode(t *can.Timed, out []Value) ([]Value, *Plan, Result) {
	d.Stats.Frames++
	p := d.Plan(t.Bus)
	if p == nil {
		d.Stats.NoPlan++
		d.Stats.Skipped[UnknownID]++
		return out[:0], nil, Result{Status: UnknownID, Msg: -1}
	}
	out, res := p.Decode(&t.Frame, out)
	if res.Status == Decoded {
		d.Stats.Decoded++
		d.Stats.Values += uint64(len(out))
		d.Stats.OutOfRange += uint64(res.OutOfRange)
	} else {
		d.Stats.Skipped[res.Status]++
	}
	return out, p, res
}
