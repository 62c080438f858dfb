package dbc

import "sort"

// MuxRange is an inclusive range of multiplexer values.
type MuxRange struct{ Lo, Hi uint64 }

// idSet is a set of multiplexer values: a bit mask for 0–63, where nearly
// all real values fall, and ranges for the rest, so a huge SG_MUL_VAL_ range
// costs nothing (cantools expands ranges into lists). Negative values come
// only from VAL_ labels of a multiplexer.
type idSet struct {
	bits   uint64
	ranges []muxRange // only values ≥ 64
	negs   []int64    // values < 0
}

func (s *idSet) addNeg(v int64) {
	if !s.has(v) {
		s.negs = append(s.negs, v)
	}
}

func (s *idSet) add(lo, hi uint64) {
	for v := lo; v <= hi && v < 64; v++ {
		s.bits |= 1 << v
	}
	if hi >= 64 {
		s.ranges = append(s.ranges, muxRange{max(lo, 64), hi})
	}
}

func (s *idSet) union(o *idSet) {
	s.bits |= o.bits
	s.ranges = append(s.ranges, o.ranges...)
	for _, v := range o.negs {
		s.addNeg(v)
	}
}

func (s *idSet) empty() bool { return s.bits == 0 && len(s.ranges) == 0 && len(s.negs) == 0 }

func (s *idSet) has(v int64) bool {
	if uint64(v) < 64 {
		return s.bits&(1<<uint64(v)) != 0
	}
	if v < 0 {
		for _, n := range s.negs {
			if n == v {
				return true
			}
		}
		return false
	}
	for _, r := range s.ranges {
		if uint64(v) >= r.lo && uint64(v) <= r.hi {
			return true
		}
	}
	return false
}

// list returns the non-negative part of the set as sorted, merged ranges.
func (s *idSet) list() []MuxRange {
	var out []MuxRange
	for v := uint64(0); v < 64; v++ {
		if s.bits&(1<<v) == 0 {
			continue
		}
		if n := len(out); n > 0 && out[n-1].Hi+1 == v {
			out[n-1].Hi = v
		} else {
			out = append(out, MuxRange{v, v})
		}
	}
	rs := append([]muxRange(nil), s.ranges...)
	sort.Slice(rs, func(i, j int) bool { return rs[i].lo < rs[j].lo })
	for _, r := range rs {
		if n := len(out); n > 0 && out[n-1].Hi+1 >= r.lo {
			out[n-1].Hi = max(out[n-1].Hi, r.hi)
		} else {
			out = append(out, MuxRange{r.lo, r.hi})
		}
	}
	return out
}
