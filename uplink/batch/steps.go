package batch

import "math"

// A column's integers (times in their unit, decimal or unsigned values)
// are written as the first one, then the differences divided by their
// greatest common divisor, the step. Readings of a jittery bus differ by
// anything; a synthetic 100 ms signal by a step of 100,000 µs; S2 cell ids
// of one level by multiples of 2^(61-2·level); a signal with factor 0.05
// written with two decimals by multiples of 5.

// delta returns a - b and whether it fits in int64. With unsigned, a and b
// are the bits of uint64 values.
func delta(a, b int64, unsigned bool) (int64, bool) {
	if unsigned {
		ua, ub := uint64(a), uint64(b)
		if ua >= ub {
			d := ua - ub
			return int64(d), d <= math.MaxInt64
		}
		d := ub - ua
		return -int64(d), d <= 1<<63
	}
	d := a - b
	return d, (a^b)&(a^d) >= 0 // overflow iff a, b differ in sign and d differs from a
}

// stepOf returns the greatest common divisor of the differences of ns, or 1
// when there are none, one does not fit in int64, or the divisor does not.
func stepOf(ns []int64, unsigned bool) uint64 {
	var g uint64
	for i := 1; i < len(ns); i++ {
		d, ok := delta(ns[i], ns[i-1], unsigned)
		if !ok {
			return 1
		}
		a := uint64(d)
		if d < 0 {
			a = uint64(-d) // -MinInt64 wraps to itself: 2^63 as uint64, right
		}
		g = gcd(g, a)
	}
	if g == 0 || g > math.MaxInt64 {
		return 1
	}
	return g
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// appendSteps appends ns to dst as n[0] and then (n[i] - n[i-1]) / step,
// and returns the step. When stepOf gave 1 because a difference overflows,
// the wrapped difference is written: the reader's wrapping sum restores it.
func appendSteps(dst, ns []int64, unsigned bool) (uint64, []int64) {
	if len(ns) == 0 {
		return 1, dst
	}
	step := stepOf(ns, unsigned)
	dst = append(dst, ns[0])
	for i := 1; i < len(ns); i++ {
		d := ns[i] - ns[i-1] // wrapping; exact when it fits
		if step > 1 {
			d /= int64(step)
		}
		dst = append(dst, d)
	}
	return step, dst
}

// stepSize returns the bytes appendSteps would write as varints.
func stepSize(ns []int64, unsigned bool) (uint64, int) {
	if len(ns) == 0 {
		return 1, 0
	}
	step := stepOf(ns, unsigned)
	size := zigzagSize(ns[0])
	for i := 1; i < len(ns); i++ {
		d := ns[i] - ns[i-1]
		if step > 1 {
			d /= int64(step)
		}
		size += zigzagSize(d)
	}
	return step, size
}

// zigzagSize is the length of v as a protobuf sint64.
func zigzagSize(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}
