package dbc

import (
	"strconv"
	"strings"
)

// resolveMux builds the multiplexer tree of m exactly as cantools' DBC
// loader does (database/can/formats/dbc.py, _load_messages/_load_signals),
// so that the same signals decode for the same frames:
//
//   - if exactly one signal has an indicator ending in 'M', it is the
//     multiplexer of every signal with an indicator (simple multiplexing);
//     mN gives the value N, SG_MUL_VAL_ lines for that multiplexer add more;
//   - otherwise (no or several 'M') each signal with an indicator hangs off
//     the multiplexer its SG_MUL_VAL_ line names, with those values; with no
//     SG_MUL_VAL_ line it is a root signal, decoded in every frame;
//   - a signal is decoded when every multiplexer up its chain is decoded, is
//     a multiplexer, and holds one of the values that select the next link;
//   - a multiplexer whose value selects nothing (no child, no VAL_ label)
//     makes the whole frame undecodable;
//   - the multiplexer's value is int() of its physical value, as in
//     cantools' decode(data, decode_choices=False), whose values the
//     output carries: a VAL_ label adds a value the multiplexer accepts but
//     does not change which branch a value selects.
func (b *builder) resolveMux(m *Message) {
	simple := ""
	nM := 0
	for _, s := range m.Signals {
		if strings.HasSuffix(s.MuxIndicator, "M") {
			nM++
			simple = s.Name
		}
		s.Multiplexer = strings.HasSuffix(s.MuxIndicator, "M")
	}
	if nM != 1 {
		simple = ""
	}
	muxVals := map[string]map[string]*mulVal{} // multiplexer → signal → statement
	ofSignal := map[string]string{}            // signal → multiplexer, last mux wins as in cantools
	var muxOrder []string
	for i := range b.db.mulVals {
		mv := &b.db.mulVals[i]
		if mv.msgID != m.dbcID() {
			continue
		}
		if m.byName[mv.signal] == nil || m.byName[mv.mux] == nil {
			b.problem(b.pos(mv.line), Error, "SG_MUL_VAL_ names unknown signal %s or %s in message %s", mv.signal, mv.mux, m.Name)
			continue
		}
		if muxVals[mv.mux] == nil {
			muxVals[mv.mux] = map[string]*mulVal{}
			muxOrder = append(muxOrder, mv.mux)
		}
		muxVals[mv.mux][mv.signal] = mv
	}
	for _, mux := range muxOrder {
		for sig := range muxVals[mux] {
			ofSignal[sig] = mux
		}
	}
	for _, s := range m.Signals {
		if s.MuxIndicator == "" {
			continue
		}
		parent := ""
		if simple != "" {
			if s.Name != simple {
				parent = simple
			}
			if parent != "" && !s.Multiplexer {
				n, err := strconv.ParseUint(s.MuxIndicator[1:], 10, 64)
				if s.MuxIndicator[0] != 'm' || err != nil {
					// cantools fails to load such a file
					b.problem(s.Pos, Error, "signal %s.%s: bad multiplexer indicator %q", m.Name, s.Name, s.MuxIndicator)
					s.undecoded = "bad multiplexer indicator"
					continue
				}
				s.muxIDs.add(n, n)
			}
		} else {
			parent = ofSignal[s.Name]
			if parent == "" && !s.Multiplexer {
				b.problem(s.Pos, Error, "signal %s.%s: indicator %s without a multiplexer (M) or SG_MUL_VAL_; decoded in every frame",
					m.Name, s.Name, s.MuxIndicator)
			}
		}
		if parent == "" {
			continue
		}
		s.MuxParent = m.byName[parent]
		if mv := muxVals[parent][s.Name]; mv != nil {
			for _, r := range mv.ranges {
				s.muxIDs.add(r.lo, r.hi)
			}
		}
		if s.muxIDs.empty() {
			b.problem(s.Pos, Error, "signal %s.%s: no multiplexer value selects it", m.Name, s.Name)
		}
	}
	b.muxReach(m)
}

// muxReach marks the signals no frame can select and collects, for each
// multiplexer, the values that select something.
func (b *builder) muxReach(m *Message) {
	for _, s := range m.Signals {
		if p := s.MuxParent; p != nil {
			p.childIDs.union(&s.muxIDs)
		}
	}
	for _, s := range m.Signals {
		// cantools adds the labels of a multiplexer to the values it
		// accepts, children or not, negative ones too (message.py,
		// _create_codec)
		if s.Multiplexer {
			for _, l := range s.Labels {
				if l.Value >= 0 {
					s.childIDs.add(uint64(l.Value), uint64(l.Value))
				} else {
					s.childIDs.addNeg(l.Value)
				}
			}
		}
	}
	// cycles first, each signal on its own, so every member is reported
	for _, s := range m.Signals {
		seen := map[*Signal]bool{s: true}
		for p := s.MuxParent; p != nil && s.undecoded == ""; p = p.MuxParent {
			if p == s {
				s.undecoded = "multiplexer cycle"
				b.problem(s.Pos, Error, "signal %s.%s: its multiplexer chain is a cycle", m.Name, s.Name)
			} else if seen[p] {
				break // a cycle above s, reported by its members
			}
			seen[p] = true
		}
	}
	for _, s := range m.Signals {
		if s.undecoded != "" || s.MuxParent == nil {
			continue
		}
		seen := map[*Signal]bool{s: true}
		for p := s.MuxParent; p != nil; p = p.MuxParent {
			switch {
			case seen[p]:
				s.undecoded = "multiplexer cycle"
			case !p.Multiplexer:
				s.undecoded = "parent is not a multiplexer"
				b.problem(s.Pos, Error, "signal %s.%s: multiplexed by %s, which is not a multiplexer (M or mNM)", m.Name, s.Name, p.Name)
			case p.undecoded != "":
				s.undecoded = "multiplexer is not decoded"
			}
			if s.undecoded != "" {
				break
			}
			seen[p] = true
		}
		if s.undecoded == "" && s.muxIDs.empty() {
			s.undecoded = "no multiplexer value selects it"
		}
	}
}
