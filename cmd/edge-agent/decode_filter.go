package main

import (
	"math"
	"regexp"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/dbc"
)

// valueFilter narrows what decode prints: --signals keeps the signals whose
// name matches a regular expression (MESSAGE.SIGNAL, or the catalog path
// with --normalized), --changes keeps a value only when it differs from the
// last one printed for the same signal on the same bus. Counts are taken
// before the filter: it changes what is shown, not what was decoded.
type valueFilter struct {
	re      *regexp.Regexp // nil: every signal
	changes bool
	cat     *catalog.Catalog

	keep     map[*dbc.Plan][]bool // per plan, per SigRef: matches re
	keepPath map[uint32]bool      // per catalog id: its path matches re
	last     map[lastKey]uint64   // bits of the last value printed
}

// lastKey names one signal of one bus: a DBC signal by SigRef (a bus has
// one plan), or a catalog id with --normalized. --changes tracks buses
// apart even when they share a plan.
type lastKey struct {
	bus string
	sig dbc.SigRef
	id  uint32
}

func newValueFilter(re *regexp.Regexp, changes bool, cat *catalog.Catalog) *valueFilter {
	if re == nil && !changes {
		return nil
	}
	return &valueFilter{re: re, changes: changes, cat: cat,
		keep: map[*dbc.Plan][]bool{}, keepPath: map[uint32]bool{}, last: map[lastKey]uint64{}}
}

// apply compacts vals (DBC values) and cvals (catalog values) in place to
// the values to print.
func (f *valueFilter) apply(bus string, p *dbc.Plan, vals []dbc.Value, cvals []catalog.Value) ([]dbc.Value, []catalog.Value) {
	keep := f.selected(p)
	n := 0
	for _, v := range vals {
		if keep != nil && !keep[v.Sig] {
			continue
		}
		if f.changed(lastKey{bus: bus, sig: v.Sig}, v.Num) {
			vals[n] = v
			n++
		}
	}
	vals = vals[:n]
	n = 0
	for _, v := range cvals {
		if f.re != nil && !f.pathMatches(v.ID) {
			continue
		}
		if f.changed(lastKey{bus: bus, id: v.ID}, v.Num) {
			cvals[n] = v
			n++
		}
	}
	return vals, cvals[:n]
}

// changed reports whether num is worth printing under --changes, and
// remembers it.
func (f *valueFilter) changed(k lastKey, num float64) bool {
	if !f.changes {
		return true
	}
	bits := math.Float64bits(num)
	if old, seen := f.last[k]; seen && old == bits {
		return false
	}
	f.last[k] = bits
	return true
}

func (f *valueFilter) pathMatches(id uint32) bool {
	ok, seen := f.keepPath[id]
	if !seen {
		if e, found := f.cat.ByID(id); found {
			ok = f.re.MatchString(e.Path)
		}
		f.keepPath[id] = ok
	}
	return ok
}

// selected says which DBC values --signals keeps, indexed by SigRef of p;
// nil when every value is kept.
func (f *valueFilter) selected(p *dbc.Plan) []bool {
	if f.re == nil || p == nil {
		return nil
	}
	if keep, ok := f.keep[p]; ok {
		return keep
	}
	sigs := p.Signals()
	keep := make([]bool, len(sigs))
	for ref, s := range sigs {
		keep[ref] = f.re.MatchString(s.Message.Name + "." + s.Name)
	}
	f.keep[p] = keep
	return keep
}
