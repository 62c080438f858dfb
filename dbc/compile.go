package dbc

import (
	"fmt"
	"math"
	"sort"

	"github.com/kanal-dev/kanal/can"
)

// NewPlan compiles databases into a Plan. It is the second of the two
// stages: Load and Parse build a Database (the model of a DBC file, with
// positions and problems) from DBC text; NewPlan compiles Databases into the
// flat per-message tables that Decode reads.
func NewPlan(dbs ...*Database) (*Plan, error) {
	p := &Plan{}
	// Later files first: what they define is taken, and the same id in an
	// earlier file is then shadowed.
	for i := len(dbs) - 1; i >= 0; i-- {
		db := dbs[i]
		last := make(map[uint32]*Message, len(db.Messages))
		for _, m := range db.Messages {
			last[m.dbcID()] = m
		}
		for _, m := range db.Messages {
			if l := last[m.dbcID()]; l != m {
				p.Shadowed = append(p.Shadowed, Problem{Pos: m.Pos, Severity: Warning,
					Msg: fmt.Sprintf("message %s (id %#x) ignored: %s redefines the id at %s, and the last definition in a file wins (as in cantools)", m.Name, m.ID, l.Name, l.Pos)})
				continue
			}
			if prev := p.find(m.ID, m.Extended); prev >= 0 {
				pm := p.messages[prev]
				p.Shadowed = append(p.Shadowed, Problem{Pos: m.Pos, Severity: Warning,
					Msg: fmt.Sprintf("message %s (id %#x) ignored: %s redefines the id at %s in a later file, and the last definition wins", m.Name, m.ID, pm.Name, pm.Pos)})
				continue
			}
			mp, err := p.compile(m)
			if err != nil {
				return nil, err
			}
			idx := int32(len(p.msgs))
			p.msgs = append(p.msgs, mp)
			p.messages = append(p.messages, m)
			if m.Extended {
				p.ext = append(p.ext, extEntry{m.ID, idx})
				sort.Slice(p.ext, func(i, j int) bool { return p.ext[i].id < p.ext[j].id })
			} else if m.ID <= can.MaxStandardID {
				p.std[m.ID] = idx + 1
			}
		}
	}
	return p, nil
}

func (p *Plan) compile(m *Message) (msgPlan, error) {
	mp := msgPlan{length: m.Length}
	muxIdx := map[*Signal]int{}
	// multiplexers, parents first
	var addMux func(s *Signal) int
	addMux = func(s *Signal) int {
		if i, ok := muxIdx[s]; ok {
			return i
		}
		gate := -1
		if s.MuxParent != nil {
			gate = addMux(s.MuxParent)
		}
		mx := muxPlan{sig: newSigPlan(s, gate, 0), cold: sigCold{ext: s.ext, ids: s.muxIDs}, identity: s.Type == Integer && s.Factor == 1 && s.Offset == 0,
			check: !s.childIDs.empty(), defined: s.childIDs}
		mp.muxers = append(mp.muxers, mx)
		muxIdx[s] = len(mp.muxers) - 1
		return len(mp.muxers) - 1
	}
	for _, s := range m.Signals {
		if s.undecoded == "" && s.Multiplexer {
			addMux(s)
		}
	}
	if len(mp.muxers) > maxMuxers {
		return mp, fmt.Errorf("compile %s: message %s has %d multiplexers, at most %d are supported", m.Pos, m.Name, len(mp.muxers), maxMuxers)
	}
	for _, s := range m.Signals {
		if s.undecoded != "" {
			continue
		}
		gate := -1
		if s.MuxParent != nil {
			gate = muxIdx[s.MuxParent]
		}
		mp.sigs = append(mp.sigs, newSigPlan(s, gate, SigRef(len(p.signals))))
		mp.cold = append(mp.cold, sigCold{ext: s.ext, ids: s.muxIDs})
		p.signals = append(p.signals, s)
	}
	mp.near = true
	for _, sp := range mp.sigs {
		mp.near = mp.near && sp.word != wordFar && sp.conv == convInt
	}
	p.maxValues = max(p.maxValues, len(mp.sigs))
	return mp, nil
}

func newSigPlan(s *Signal, gate int, ref SigRef) sigPlan {
	sp := sigPlan{gate: int16(gate), factor: s.Factor, offset: s.Offset,
		min: math.Inf(-1), max: math.Inf(1), ref: ref}
	if s.ext.signed {
		sp.signed = 1
	}
	if s.HasRange() {
		sp.min, sp.max = s.Min, s.Max
	}
	switch {
	case s.Type == Float32:
		sp.conv = convF32
	case s.Type == Float64:
		sp.conv = convF64
	case s.Type == Float16:
		sp.conv = convF16
	case !s.Signed && s.Length == 64:
		sp.conv = convUint64
	}
	// first-8-byte words: bit k of the LE word is payload bit k (Intel
	// numbering); bit 63-k of the BE word is sequential bit k (Motorola)
	sp.word = wordFar
	sp.r = uint8(64 - s.Length)
	if end := lastBit(s); end <= 64 && s.Length >= 1 && s.Length <= 64 {
		if s.BigEndian {
			sp.word, sp.l = wordBE, uint8(beStart(s.Start))
		} else {
			sp.word, sp.l = wordLE, uint8(64-end)
		}
	}
	return sp
}
