package dbc

import (
	"encoding/binary"
	"math"
)

// extractor reads one signal's raw bits with at most two loads: an 8-byte
// word and, when the signal straddles it, a 9th byte. Everything that
// depends only on the DBC is computed once here.
//
// Intel (little-endian) signals are bit ranges of the payload read as one
// little-endian integer, bit 0 being the LSB of byte 0. Motorola
// (big-endian) signals are bit ranges of the payload read as one big-endian
// integer, counted MSB-first; the DBC start bit names the signal's MSB in
// sawtooth numbering (bit 7 of byte 0 first), which beStart converts, as
// cantools' start_bit() does before handing the layout to bitstruct.
type extractor struct {
	off    uint8 // first byte of the 8-byte load, at most 56
	shift  uint8 // Intel: right shift of the load; Motorola: bits from off*8 to the signal's end (1–72)
	nine   bool  // the signal reaches into byte off+8
	be     bool
	signed bool
	length uint8
	mask   uint64
}

func newExtractor(s *Signal) extractor {
	e := extractor{be: s.BigEndian, signed: s.Signed && s.Type == Integer, length: uint8(s.Length)}
	e.mask = math.MaxUint64 >> (64 - uint(s.Length))
	if s.BigEndian {
		sb := beStart(s.Start)
		end := sb + s.Length
		off := min(sb/8, 56)
		e.off = uint8(off)
		e.shift = uint8(end - 8*off)
		e.nine = end-8*off > 64
	} else {
		off := min(s.Start/8, 56)
		e.off = uint8(off)
		e.shift = uint8(s.Start - 8*off)
		e.nine = int(e.shift)+s.Length > 64
	}
	return e
}

// raw returns the signal's bits, sign-extended to 64 bits for a signed
// integer signal.
func (e *extractor) raw(d *[64]byte) uint64 {
	var v uint64
	if e.be {
		w := binary.BigEndian.Uint64(d[e.off : e.off+8])
		if e.nine {
			v = w<<(e.shift-64) | uint64(d[e.off+8])>>(72-e.shift)
		} else {
			v = w >> (64 - e.shift)
		}
	} else {
		v = binary.LittleEndian.Uint64(d[e.off:e.off+8]) >> e.shift
		if e.nine {
			v |= uint64(d[e.off+8]) << (64 - e.shift)
		}
	}
	v &= e.mask
	if e.signed {
		n := 64 - e.length
		v = uint64(int64(v<<n) >> n)
	}
	return v
}

// lastBit returns the end of a signal in its byte order's sequential
// numbering (Intel: LSB-first from bit 0, Motorola: MSB-first from bit 0),
// exclusive; a message of n bytes holds signals that end at or before 8n.
func lastBit(s *Signal) int {
	if s.BigEndian {
		return beStart(s.Start) + s.Length
	}
	return s.Start + s.Length
}

// beStart converts a Motorola start bit (MSB, sawtooth numbering) to its
// position counted MSB-first from the first bit of the payload, as cantools'
// start_bit() does.
func beStart(start int) int { return 8*(start/8) + 7 - start%8 }

// bitPos returns the payload byte and bit (0 = LSB) of the signal's bit i,
// counted from its LSB. It is the slow, obvious definition of the layout:
// tests check the extractor against it and Encode writes with it.
func bitPos(s *Signal, i int) (byteIdx, bit int) {
	if s.BigEndian {
		n := beStart(s.Start) + s.Length - 1 - i // MSB-first sequential position
		return n / 8, 7 - n%8
	}
	n := s.Start + i
	return n / 8, n % 8
}

// putRaw writes the low s.Length bits of raw into data.
func putRaw(s *Signal, data []byte, raw uint64) {
	for i := 0; i < s.Length; i++ {
		b, bit := bitPos(s, i)
		if raw>>uint(i)&1 != 0 {
			data[b] |= 1 << bit
		} else {
			data[b] &^= 1 << bit
		}
	}
}

// half converts an IEEE 754 binary16 value to float64.
func half(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1F
	frac := float64(h & 0x3FF)
	switch exp {
	case 0:
		return sign * math.Ldexp(frac, -24)
	case 0x1F:
		if frac == 0 {
			return math.Inf(int(sign))
		}
		return math.NaN()
	}
	return sign * math.Ldexp(1+frac/1024, exp-15)
}

// toHalf converts f to the nearest binary16 bits (for Encode).
func toHalf(f float64) uint16 {
	bits := math.Float32bits(float32(f))
	sign := uint16(bits>>16) & 0x8000
	exp := int(bits>>23&0xFF) - 127 + 15
	mant := bits & 0x7FFFFF
	switch {
	case bits&0x7FFFFFFF > 0x7F800000:
		return sign | 0x7E00
	case exp >= 0x1F:
		return sign | 0x7C00
	case exp <= 0:
		if exp < -10 {
			return sign
		}
		mant |= 0x800000
		return sign | uint16((mant+(1<<(13-exp)))>>(14-exp))
	}
	h := sign | uint16(exp)<<10 | uint16(mant>>13)
	if mant&0x1000 != 0 {
		h++ // round half up; good enough for test data
	}
	return h
}
