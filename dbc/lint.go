package dbc

import (
	"fmt"
	"sort"
)

// Lint returns every Problem of db, sorted by line: those Parse found
// (signals that cannot be decoded, broken multiplexer trees) and the checks
// below, none of which changes what is decoded:
//
//   - duplicate message ids and names, duplicate signal names in a message;
//   - signals that share bits with another signal that can be present in the
//     same frame (same multiplexer branch, or one of them unmultiplexed);
//   - multiplexed signals (mN) in a message with no multiplexer (M).
func Lint(db *Database) []Problem {
	ps := append([]Problem(nil), db.Problems...)
	add := func(pos Pos, format string, a ...any) {
		ps = append(ps, Problem{Pos: pos, Severity: Error, Msg: fmt.Sprintf(format, a...)})
	}
	byID := map[uint32]*Message{}
	byName := map[string]*Message{}
	for _, m := range db.Messages {
		if prev := byID[m.dbcID()]; prev != nil {
			add(m.Pos, "message %s: id %#x already used by %s at line %d", m.Name, m.ID, prev.Name, prev.Pos.Line)
		} else {
			byID[m.dbcID()] = m
		}
		if prev := byName[m.Name]; prev != nil {
			add(m.Pos, "message name %s already used at line %d", m.Name, prev.Pos.Line)
		} else {
			byName[m.Name] = m
		}
		seen := map[string]*Signal{}
		for _, s := range m.Signals {
			if prev := seen[s.Name]; prev != nil {
				add(s.Pos, "signal %s.%s already defined at line %d", m.Name, s.Name, prev.Pos.Line)
			} else {
				seen[s.Name] = s
			}
		}
		lintOverlaps(m, add)
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Pos.Line < ps[j].Pos.Line })
	return ps
}

// lintOverlaps reports pairs of decoded signals that share a bit and can
// both be present in one frame.
func lintOverlaps(m *Message, add func(Pos, string, ...any)) {
	if m.Length > 64 {
		return
	}
	type span struct {
		s    *Signal
		bits [8]uint64 // payload bits, 512 max
	}
	var spans []span
	for _, s := range m.Signals {
		if s.undecoded != "" {
			continue
		}
		var sp span
		sp.s = s
		for i := 0; i < s.Length; i++ {
			b, bit := bitPos(s, i)
			n := 8*b + bit
			sp.bits[n/64] |= 1 << (n % 64)
		}
		spans = append(spans, sp)
	}
	for i := range spans {
		for j := i + 1; j < len(spans); j++ {
			a, b := spans[i], spans[j]
			shared := false
			for k := range a.bits {
				shared = shared || a.bits[k]&b.bits[k] != 0
			}
			if shared && coexist(a.s, b.s) {
				add(b.s.Pos, "signal %s.%s overlaps %s (line %d)", m.Name, b.s.Name, a.s.Name, a.s.Pos.Line)
			}
		}
	}
}

// coexist reports whether a and b can be decoded from the same frame: they
// can unless, where their multiplexer chains meet, they need different
// values of the same multiplexer.
func coexist(a, b *Signal) bool {
	// the value each ancestor must have for a to be present
	need := map[*Signal]*idSet{}
	for c := a; c.MuxParent != nil; c = c.MuxParent {
		need[c.MuxParent] = &c.muxIDs
	}
	for c := b; c.MuxParent != nil; c = c.MuxParent {
		if ids, ok := need[c.MuxParent]; ok {
			return intersects(ids, &c.muxIDs)
		}
	}
	return true
}

func intersects(a, b *idSet) bool {
	if a.bits&b.bits != 0 {
		return true
	}
	for _, x := range a.ranges {
		for _, y := range b.ranges {
			if x.lo <= y.hi && y.lo <= x.hi {
				return true
			}
		}
	}
	return false
}

// HasErrors reports whether ps holds a Problem of severity Error.
func HasErrors(ps []Problem) bool {
	for _, p := range ps {
		if p.Severity == Error {
			return true
		}
	}
	return false
}
