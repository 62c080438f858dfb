package main

import (
	"math"
	"regexp"

	"github.com/kanal-dev/kanal/dbc"
)

// valueFilter narrows what decode prints: --signals keeps the signals whose
// name matches a regular expression (MESSAGE.SIGNAL, or the catalog path
// with --normalized), --changes keeps a value only when it differs from the
// last one printed for the same signal on the same bus. Counts are taken
// before the filter: it changes what is shown, not what was decoded.
type valueFilter struct {
	re         *regexp.Regexp // nil: every signal
	changes    bool
	normalized bool
	m          *dbc.Mapping

	keep map[*dbc.Plan][]bool // per plan, per SigRef: matches re
	last map[lastKey]uint64   // bits of the last value printed
}

// lastKey names one signal of one bus (a bus has one plan, so the SigRef
// is enough): --changes tracks buses apart even when they share a plan.
type lastKey struct {
	bus string
	sig dbc.SigRef
}

func newValueFilter(re *regexp.Regexp, changes, normalized bool, m *dbc.Mapping) *valueFilter {
	if re == nil && !changes {
		return nil
	}
	return &valueFilter{re: re, changes: changes, normalized: normalized, m: m,
		keep: map[*dbc.Plan][]bool{}, last: map[lastKey]uint64{}}
}

// apply compacts vals in place to the values to print.
func (f *valueFilter) apply(bus string, p *dbc.Plan, vals []dbc.Value) []dbc.Value {
	keep := f.selected(p)
	n := 0
	for _, v := range vals {
		if keep != nil {
			i := int(v.Sig)
			if f.normalized {
				i = int(v.Target) // the rule; NoTarget values are not printed anyway
			}
			if i < 0 || i >= len(keep) || !keep[i] {
				continue
			}
		}
		if f.changes {
			k := lastKey{bus, v.Sig}
			bits := math.Float64bits(v.Num)
			if old, seen := f.last[k]; seen && old == bits {
				continue
			}
			f.last[k] = bits
		}
		vals[n] = v
		n++
	}
	return vals[:n]
}

// selected says which values --signals keeps: indexed by SigRef of p, or
// with --normalized by mapping rule. It is nil when every value is kept.
func (f *valueFilter) selected(p *dbc.Plan) []bool {
	if f.re == nil {
		return nil
	}
	if f.normalized {
		p = nil // one list for the mapping's rules
	}
	if keep, ok := f.keep[p]; ok {
		return keep
	}
	var keep []bool
	if f.normalized {
		keep = make([]bool, len(f.m.Rules))
		for i := range f.m.Rules {
			keep[i] = f.re.MatchString(f.m.Rules[i].Path)
		}
	} else {
		sigs := p.Signals()
		keep = make([]bool, len(sigs))
		for ref, s := range sigs {
			keep[ref] = f.re.MatchString(s.Message.Name + "." + s.Name)
		}
	}
	f.keep[p] = keep
	return keep
}
