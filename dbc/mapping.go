package dbc

import (
	"math"

	"github.com/kanal-dev/kanal/catalog"
)

// Mapping ties DBC signals to catalog entries, in the spirit of Eclipse
// Kuksa's dbc2vss mapping: each Rule names a catalog path, the DBC message
// and signal that feed it, an optional transform and the sampling the uplink
// applies. LoadMapping builds one and checks it against the DBC files and the
// catalog; a Pipeline binds it to each bus's plan and turns decoded Values
// into catalog.Values with Rule.Convert.
type Mapping struct {
	File  string
	Rules []Rule // in file order; FrameValues.Rules index it
}

// Rule maps one DBC signal to one catalog entry.
type Rule struct {
	Line int // of the rule in the mapping file

	Path  string         // catalog path
	ID    uint32         // catalog id
	Type  catalog.Type   // catalog type
	Entry *catalog.Entry // the catalog entry itself (unit, labels)

	Bus     string // "" for every bus that carries Message
	Message string
	Signal  string

	// Transform: catalog value = physical × Scale + Offset, rounded to the
	// nearest integer when Round is set. Without a transform Scale is 1.
	// The loader sets Round for every integer catalog type, once it has
	// checked that the values are whole numbers up to float noise (or the
	// file asked for round: true).
	Scale, Offset float64
	Round         bool
	// ValueMap, when not nil, replaces the linear transform: it maps the
	// signal's raw value to the catalog value. A raw value not in the map
	// yields no reading (Convert returns false), as in dbc2vss.
	ValueMap map[int64]float64

	Sampling Sampling
}

// Sampling is the uplink's sampling of a mapped signal. It is defined in
// catalog, so the uplink reads it without importing dbc.
type Sampling = catalog.Sampling

// Priority orders signals in the uplink; see catalog.Priority.
type Priority = catalog.Priority

// Priorities, lowest first.
const (
	PriorityLow      = catalog.PriorityLow
	PriorityNormal   = catalog.PriorityNormal
	PriorityHigh     = catalog.PriorityHigh
	PriorityCritical = catalog.PriorityCritical
)

// Convert applies the rule's transform to one signal value: raw is the
// signal's bits as in Value.Raw, phys its physical value.
func (r *Rule) Convert(raw uint64, phys float64) (float64, bool) {
	if r.ValueMap != nil {
		v, ok := r.ValueMap[int64(raw)]
		return v, ok
	}
	v := phys*r.Scale + r.Offset
	if r.Round {
		v = math.Round(v) + 0 // + 0: math.Round(-0.4) is -0, which an integer type has no use for
	}
	return v, true
}
