package dbc

import (
	"math"
	"math/bits"
	"strconv"
)

// AppendNumber appends v's physical value as a JSON number that reads as
// cantools' value does:
//
//   - a signal cantools returns as a Python int (an integer signal with
//     integer factor and offset: conversion.py, IdentityConversion and
//     LinearIntegerConversion) prints as the exact integer, at any size
//     raw × factor + offset reaches (128-bit arithmetic, no allocation);
//   - any other value prints as the shortest decimal that parses back to
//     the same float64, as Python's repr does (the notation may differ:
//     Go writes 1.234567e+06 where Python writes 1234567.0);
//   - NaN and ±Inf, which only float signals can produce and JSON cannot
//     carry, print as null: Python's json would write the non-standard
//     NaN/Infinity, which strict JSON parsers reject;
//   - -0 prints as -0 (valid JSON, equal to 0).
func (p *Plan) AppendNumber(b []byte, v Value) []byte {
	s := p.signals[v.Sig]
	if s.IsInteger() {
		if out, ok := appendExactInt(b, v.Raw, s); ok {
			return out
		}
	}
	if math.IsNaN(v.Num) || math.IsInf(v.Num, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, v.Num, 'g', -1, 64)
}

// appendExactInt appends raw × factor + offset, computed exactly in
// sign-magnitude 128-bit arithmetic; factor and offset are integers. It
// fails only when they do not fit an int64 (then the float is printed).
func appendExactInt(b []byte, raw uint64, s *Signal) ([]byte, bool) {
	const lim = 1 << 63
	if !(math.Abs(s.Factor) < lim && math.Abs(s.Offset) < lim) {
		return b, false
	}
	f, o := int64(s.Factor), int64(s.Offset)
	rm, rneg := raw, false
	if s.Signed && int64(raw) < 0 {
		rm, rneg = -raw, true // the magnitude, 1<<63 for MinInt64
	}
	fm, fneg := uint64(f), f < 0
	if fneg {
		fm = -fm
	}
	om, oneg := uint64(o), o < 0
	if oneg {
		om = -om
	}
	// |product| < 2^64 · 2^63, so hi < 2^63 and stays below 10^19 after
	// the offset's carry: one Div64 by 10^19 splits it for printing
	hi, lo := bits.Mul64(rm, fm)
	neg := rneg != fneg && hi|lo != 0
	switch {
	case neg == oneg:
		var c uint64
		lo, c = bits.Add64(lo, om, 0)
		hi += c
	case hi > 0 || lo >= om:
		var br uint64
		lo, br = bits.Sub64(lo, om, 0)
		hi -= br
	default:
		lo, neg = om-lo, oneg
	}
	if neg && hi|lo != 0 {
		b = append(b, '-')
	}
	if hi == 0 {
		return strconv.AppendUint(b, lo, 10), true
	}
	const e19 = 10_000_000_000_000_000_000
	q, r := bits.Div64(hi, lo, e19)
	b = strconv.AppendUint(b, q, 10)
	var digits [19]byte
	for i := len(digits) - 1; i >= 0; i-- {
		digits[i] = byte('0' + r%10)
		r /= 10
	}
	return append(b, digits[:]...), true
}
