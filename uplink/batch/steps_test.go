package batch

import (
	"math"
	"testing"
)

func TestDelta(t *testing.T) {
	for _, tc := range []struct {
		desc     string
		a, b     int64
		unsigned bool
		d        int64
		ok       bool
	}{
		{"small", 5, 3, false, 2, true},
		{"negative", -5, 3, false, -8, true},
		{"max minus min overflows", math.MaxInt64, math.MinInt64, false, -1, false},
		{"min minus one overflows", math.MinInt64, 1, false, math.MaxInt64, false},
		{"min minus zero", math.MinInt64, 0, false, math.MinInt64, true},
		{"zero minus min overflows", 0, math.MinInt64, false, math.MinInt64, false},
		{"unsigned up too far", u(math.MaxUint64), 1 << 62, true, 0, false},
		{"unsigned up fits", u(1<<63 + 5), 1 << 62, true, 1<<62 + 5, true},
		{"unsigned down by 2^63", 0, math.MinInt64 /* 2^63 */, true, math.MinInt64, true},
		{"unsigned down by more", 0, -1 /* 2^64-1 */, true, 1, false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			d, ok := delta(tc.a, tc.b, tc.unsigned)
			if ok != tc.ok || (ok && d != tc.d) {
				t.Fatalf("delta(%d, %d, %v) = %d, %v; want %d, %v", tc.a, tc.b, tc.unsigned, d, ok, tc.d, tc.ok)
			}
		})
	}
}

func TestStepOf(t *testing.T) {
	for _, tc := range []struct {
		desc     string
		ns       []int64
		unsigned bool
		step     uint64
	}{
		{"none", nil, false, 1},
		{"one", []int64{7}, false, 1},
		{"equal", []int64{7, 7, 7}, false, 1},
		{"multiples of 5 either way", []int64{10, 25, 5, 20}, false, 5},
		{"first value not a multiple", []int64{3, 13, 33}, false, 10},
		{"overflowing difference", []int64{math.MinInt64, math.MaxInt64}, false, 1},
		{"2^63 apart unsigned: over int64", []int64{0, math.MinInt64, 0}, true, 1},
		{"cell ids", []int64{u(0xb49b7b3000000000), u(0xb49b7b5000000000)}, true, 0x2000000000},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if got := stepOf(tc.ns, tc.unsigned); got != tc.step {
				t.Fatalf("stepOf(%v) = %d, want %d", tc.ns, got, tc.step)
			}
			step, ints := appendSteps(nil, tc.ns, tc.unsigned)
			var sum uint64 // the reader's arithmetic
			for i, d := range ints {
				if i == 0 {
					sum = uint64(d)
				} else {
					sum += uint64(d) * step
				}
				if int64(sum) != tc.ns[i] {
					t.Fatalf("element %d reads back as %d, want %d", i, int64(sum), tc.ns[i])
				}
			}
			if _, size := stepSize(tc.ns, tc.unsigned); size != zigzagSizes(ints) {
				t.Fatalf("stepSize = %d, the ints take %d", size, zigzagSizes(ints))
			}
		})
	}
}

// u returns the bits of a uint64 as the int64 that steps.go works on.
func u(v uint64) int64 { return int64(v) }

func zigzagSizes(ints []int64) int {
	n := 0
	for _, d := range ints {
		n += zigzagSize(d)
	}
	return n
}

func TestZigzagSize(t *testing.T) {
	for _, tc := range []struct {
		v    int64
		size int
	}{{0, 1}, {-1, 1}, {63, 1}, {-64, 1}, {64, 2}, {-65, 2}, {math.MaxInt64, 10}, {math.MinInt64, 10}} {
		if got := zigzagSize(tc.v); got != tc.size {
			t.Errorf("zigzagSize(%d) = %d, want %d", tc.v, got, tc.size)
		}
	}
}
