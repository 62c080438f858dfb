package dbc

import (
	"errors"
	"fmt"
	"math"
)

// errNotDecoded is what Encode reports for a signal no Plan decodes.
var errNotDecoded = errors.New("signal is not decoded")

// RawFromPhysical converts a physical value to the signal's raw bits (the
// inverse of decoding, rounded to the nearest raw integer as cantools'
// encoder does), truncated to the signal's length.
func (s *Signal) RawFromPhysical(phys float64) uint64 {
	x := phys - s.Offset
	if s.Factor != 0 {
		x /= s.Factor
	}
	var raw uint64
	switch s.Type {
	case Float32:
		raw = uint64(math.Float32bits(float32(x)))
	case Float64:
		raw = math.Float64bits(x)
	case Float16:
		raw = uint64(toHalf(x))
	default:
		r := math.Round(x)
		switch {
		case math.IsNaN(r):
			raw = 0
		case r < 0:
			raw = uint64(int64(max(r, math.MinInt64)))
		default:
			raw = uint64(min(r, math.MaxUint64))
		}
	}
	if s.Length > 0 && s.Length < 64 {
		raw &= 1<<uint(s.Length) - 1
	}
	return raw
}

// Encode builds a payload of m.Length bytes from physical values by signal
// name, for tests and for synthesizing candump logs. A signal is written
// when it is in values and the multiplexer values in values select it;
// multiplexers are written last so that overlapping signals cannot change
// which branch decodes. Unnamed bits are 0.
func (m *Message) Encode(values map[string]float64) ([]byte, error) {
	raw := make(map[string]uint64, len(values))
	for name, v := range values {
		s := m.byName[name]
		if s == nil {
			return nil, fmt.Errorf("encode %s: no signal %s", m.Name, name)
		}
		raw[name] = s.RawFromPhysical(v)
	}
	return m.EncodeRaw(raw)
}

// EncodeRaw is Encode with raw values.
func (m *Message) EncodeRaw(raw map[string]uint64) ([]byte, error) {
	if m.Length > 64 {
		return nil, fmt.Errorf("encode %s: length %d is over 64 bytes", m.Name, m.Length)
	}
	data := make([]byte, m.Length)
	selected := func(s *Signal) bool {
		for c := s; c.MuxParent != nil; c = c.MuxParent {
			p := c.MuxParent
			v, ok := raw[p.Name]
			if !ok || !c.muxIDs.has(muxNumberOfRaw(p, v)) {
				return false
			}
		}
		return true
	}
	for pass := 0; pass < 2; pass++ { // plain signals, then multiplexers
		for _, s := range m.Signals {
			v, ok := raw[s.Name]
			if !ok || s.Multiplexer != (pass == 1) {
				continue
			}
			if s.undecoded != "" {
				return nil, fmt.Errorf("encode %s.%s: %w: %s", m.Name, s.Name, errNotDecoded, s.undecoded)
			}
			if selected(s) {
				putRaw(s, data, v)
			}
		}
	}
	return data, nil
}

// muxNumberOfRaw is muxPlan.number for one raw value, off the hot path.
func muxNumberOfRaw(s *Signal, raw uint64) int64 {
	if s.Length <= 0 || s.Length > 64 {
		return -1
	}
	var d [64]byte
	tmp := *s
	tmp.Start, tmp.BigEndian = 0, false
	putRaw(&tmp, d[:], raw)
	e := newExtractor(&tmp)
	e.signed = s.Signed && s.Type == Integer
	mx := muxPlan{sig: newSigPlan(&tmp, -1, 0), identity: s.Type == Integer && s.Factor == 1 && s.Offset == 0}
	mx.cold.ext = e
	n, ok := mx.number(&d)
	if !ok {
		return -1
	}
	return n
}
