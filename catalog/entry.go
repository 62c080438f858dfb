package catalog

import (
	"math"
	"time"
)

// Entry is one normalized signal: what a value with this ID means.
type Entry struct {
	ID   uint32 // stable forever; see the package comment for the rule
	Path string // VSS-style dotted path, e.g. Vehicle.Speed
	Type Type
	Unit string // VSS unit name (km/h, degrees, celsius, percent, …); empty when unitless
	// Min and Max bound the value when HasMin / HasMax are set. They narrow
	// the type's own range (a percent in a uint8 has Max 100).
	Min, Max       float64
	HasMin, HasMax bool
	// Allowed lists the labels of an Enum; a value is an index into it.
	Allowed     []string
	Description string
	// File and Line locate the definition, for error messages.
	File string
	Line int
}

// Range returns the smallest and largest value the entry accepts: the type's
// range narrowed by Min, Max and, for an Enum, the allowed list.
func (e *Entry) Range() (lo, hi float64) {
	lo, hi = e.Type.Range()
	if e.Type == Enum {
		hi = float64(len(e.Allowed) - 1)
	}
	if e.HasMin && e.Min > lo {
		lo = e.Min
	}
	if e.HasMax && e.Max < hi {
		hi = e.Max
	}
	return lo, hi
}

// Fits reports whether v is a valid value of the entry: inside Range and a
// whole number for integer, boolean and enum types.
func (e *Entry) Fits(v float64) bool {
	if math.IsNaN(v) {
		return false
	}
	lo, hi := e.Range()
	if v < lo || v > hi {
		return false
	}
	return !e.Type.IsInteger() || v == math.Trunc(v)
}

// Label returns the enum label of v, or false when e is not an Enum or v is
// not one of its indexes.
func (e *Entry) Label(v float64) (string, bool) {
	if e.Type != Enum || v < 0 || v != math.Trunc(v) || v >= float64(len(e.Allowed)) {
		return "", false
	}
	return e.Allowed[int(v)], true
}

// Index returns the value that stands for the enum label s.
func (e *Entry) Index(s string) (float64, bool) {
	for i, a := range e.Allowed {
		if a == s {
			return float64(i), true
		}
	}
	return 0, false
}

// Value is one reading of a catalog signal, as a DBC mapping makes it from a
// decoded signal value (dbc.Mapping.Apply) and the uplink samples it. It is
// 24 bytes with no pointers, so slices of it are cheap to fill, copy and
// scan, and the garbage collector never looks inside.
//
// Time is Unix nanoseconds rather than time.Time (24 bytes with a pointer to
// the location): the hot path only compares and subtracts times.
// Booleans are 0 or 1 and enums the index into Entry.Allowed.
type Value struct {
	ID   uint32
	Time int64 // Unix nanoseconds
	Num  float64
}

// Timestamp returns v.Time as a time.Time in UTC.
func (v Value) Timestamp() time.Time { return time.Unix(0, v.Time).UTC() }
