package batch

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/uplink/batch/internal/batchpb"
)

// A column's values are written in one of four kinds, the most compact
// whose decoder formula gives back every value bit for bit (batch.proto
// states the formulas). The encoder checks each value with the decoder's own
// function, so exactness never rests on an argument about floating point.
//
//   - decimal: value = float64(n) / 10^k for an int64 n and k in 0..9.
//     Booleans, enum indexes and integers are k = 0; a speed of 12.25 is
//     1225 with k = 2. The n go as steps (steps.go): small varints.
//   - decimal with ulps: the same plus, per value, the difference of the
//     bit patterns of the value and of n / 10^k. DBC values are raw ×
//     factor + offset in float64, so 0.01 × 1363 - 40 is
//     -26.369999999999997, not -26.37: two ulps away. The ulps make every
//     float64 exact, so this kind is chosen whenever it is the smaller.
//   - unsigned: value = float64(n) for a uint64 n: whole numbers of 2^63
//     and more, such as S2 cell ids (catalog type cell), which int64 lacks.
//   - float32: every value is a float32 widened (no NaN: how a NaN widens
//     differs between processors).
//   - float64: the bits as they are.
//
// -0, ±Inf and NaN payloads survive in every kind that can take them: an
// exact decimal never holds them (n / 10^k is finite and never -0), ulps
// carry any bits, float32 carries -0 and ±Inf.

// maxExponent is the largest decimal exponent k of a decimal column.
const maxExponent = 9

// pow10f[k] is 10^k as a float64 (exact: every power of ten up to 10^22 is).
var pow10f = [maxExponent + 1]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9}

const (
	twoTo63 = 1 << 63 // as a float64 constant: 9223372036854775808
	twoTo64 = 1 << 64
)

// maxULPs is how far (in ulps) a value may be from n / 10^k for k to count
// as its decimal exponent when the column needs ulps: 2^20 is 3 bytes of
// varint, and rounding noise of raw × factor + offset is far smaller.
const maxULPs = 1 << 20

// decimalValue is the decoder's formula of a decimal column. Float64
// division is correctly rounded IEEE 754 on every platform Go supports, so
// encoder and decoder compute the same bits.
func decimalValue(n int64, k uint32) float64 { return float64(n) / pow10f[k] }

// nearest returns the n for which decimalValue(n, k) is nearest to v, or
// false when v × 10^k is not finite or outside int64.
func nearest(v float64, k uint32) (int64, bool) {
	x := v * pow10f[k]
	if !(x > -twoTo63 && x < twoTo63) { // NaN and ±Inf too
		return 0, false
	}
	return int64(math.Round(x)), true
}

// ulpsOf returns the bit-pattern difference that turns decimalValue(n, k)
// into v (wrapping: any v, NaN and -0 included).
func ulpsOf(v float64, n int64, k uint32) int64 {
	return int64(math.Float64bits(v) - math.Float64bits(decimalValue(n, k)))
}

// decimalOf returns the n for which decimalValue(n, k) is v bit for bit,
// or false when there is none.
func decimalOf(v float64, k uint32) (int64, bool) {
	n, ok := nearest(v, k)
	return n, ok && ulpsOf(v, n, k) == 0
}

// decimalExp returns the smallest k for which every value of vs is
// decimalOf, or false. It raises k as values need it, then checks every
// value at the final k: an n beyond 2^53 exact at one k need not be at a
// larger one.
func decimalExp(vs []catalog.Value) (uint32, bool) {
	var k uint32
	for i := range vs {
		for {
			if _, ok := decimalOf(vs[i].Num, k); ok {
				break
			}
			if k++; k > maxExponent {
				return 0, false
			}
		}
	}
	for ; k <= maxExponent; k++ {
		if allDecimal(vs, k) {
			return k, true
		}
	}
	return 0, false
}

func allDecimal(vs []catalog.Value, k uint32) bool {
	for i := range vs {
		if _, ok := decimalOf(vs[i].Num, k); !ok {
			return false
		}
	}
	return true
}

// nearExp returns the exponent of a decimal column with ulps: the largest
// of the values' own exponents, the smallest k at which a value is within
// maxULPs of n / 10^k. Values with none (noise around 0, random bits) do
// not count; false when most values have none.
func nearExp(vs []catalog.Value) (uint32, bool) {
	var k uint32
	misses := 0
	for i := range vs {
		v := vs[i].Num
		found := false
		for kk := k; kk <= maxExponent; kk++ {
			if n, ok := nearest(v, kk); ok {
				if u := ulpsOf(v, n, kk); u >= -maxULPs && u <= maxULPs {
					k, found = kk, true
					break
				}
			}
		}
		if !found {
			if misses++; misses > len(vs)/2 {
				return 0, false
			}
		}
	}
	return k, true
}

// unsignedOf returns v as a uint64 when v is a whole number in [0, 2^64)
// other than -0.
func unsignedOf(v float64) (uint64, bool) {
	if !(v >= 0 && v < twoTo64) || v != math.Trunc(v) || math.Signbit(v) {
		return 0, false
	}
	return uint64(v), true
}

// isFloat32 reports whether v is a float32 widened, and not a NaN.
func isFloat32(v float64) bool {
	return !math.IsNaN(v) && math.Float64bits(float64(float32(v))) == math.Float64bits(v)
}

// columnWriter writes the values of columns, reusing its scratch space.
type columnWriter struct {
	ns, us, q []int64
}

// writeValues sets the kind and value fields of c for the values vs.
func (w *columnWriter) writeValues(c *batchpb.Column, vs []catalog.Value) {
	c.Exponent, c.Step = 0, 0
	c.Ints, c.Ulps, c.Float32S, c.Float64S = c.Ints[:0], c.Ulps[:0], c.Float32S[:0], c.Float64S[:0]
	if k, ok := decimalExp(vs); ok {
		w.ns = w.ns[:0]
		for i := range vs {
			n, _ := decimalOf(vs[i].Num, k)
			w.ns = append(w.ns, n)
		}
		c.Kind, c.Exponent = batchpb.Kind_KIND_DECIMAL, k
		c.Step, c.Ints = appendSteps(c.Ints, w.ns, false)
		c.Step = omitOne(c.Step)
		return
	}
	if allUnsigned(vs) {
		w.ns = w.ns[:0]
		for i := range vs {
			n, _ := unsignedOf(vs[i].Num)
			w.ns = append(w.ns, int64(n)) // the bits; steps.go treats them as uint64
		}
		c.Kind = batchpb.Kind_KIND_UNSIGNED
		c.Step, c.Ints = appendSteps(c.Ints, w.ns, true)
		c.Step = omitOne(c.Step)
		return
	}
	f32 := allFloat32(vs)
	best := 8 * len(vs)
	if f32 {
		best = 4 * len(vs)
	}
	if k, ok := nearExp(vs); ok && w.nearDecimal(vs, k) < best {
		c.Kind, c.Exponent = batchpb.Kind_KIND_DECIMAL, k
		c.Step, c.Ints = appendSteps(c.Ints, w.ns, false)
		c.Step = omitOne(c.Step)
		c.Ulps = append(c.Ulps, w.us...)
		return
	}
	if f32 {
		c.Kind = batchpb.Kind_KIND_FLOAT32
		for i := range vs {
			c.Float32S = append(c.Float32S, math.Float32bits(float32(vs[i].Num)))
		}
		return
	}
	c.Kind = batchpb.Kind_KIND_FLOAT64
	for i := range vs {
		c.Float64S = append(c.Float64S, math.Float64bits(vs[i].Num))
	}
}

// nearDecimal fills w.ns and w.us with the n and ulps of vs at exponent k
// and returns how many bytes they take. A value with no n at k (not
// finite, too large) takes the previous n and carries its bits in ulps.
func (w *columnWriter) nearDecimal(vs []catalog.Value, k uint32) int {
	w.ns, w.us = w.ns[:0], w.us[:0]
	var prev int64
	size := 0
	for i := range vs {
		v := vs[i].Num
		n, ok := nearest(v, k)
		if !ok {
			n = prev
		}
		u := ulpsOf(v, n, k)
		w.ns, w.us = append(w.ns, n), append(w.us, u)
		size += zigzagSize(u)
		prev = n
	}
	_, s := stepSize(w.ns, false)
	return size + s
}

func omitOne(step uint64) uint64 {
	if step == 1 {
		return 0 // the default: not written
	}
	return step
}

func allUnsigned(vs []catalog.Value) bool {
	for i := range vs {
		if _, ok := unsignedOf(vs[i].Num); !ok {
			return false
		}
	}
	return true
}

func allFloat32(vs []catalog.Value) bool {
	for i := range vs {
		if !isFloat32(vs[i].Num) {
			return false
		}
	}
	return true
}

// readValues sets out[i].Num from the value fields of the column message
// msg, after checking that they are consistent with its kind and hold
// len(out) values.
func readValues(out []catalog.Value, msg []byte, c *column) error {
	n := len(out)
	switch c.kind {
	case batchpb.Kind_KIND_DECIMAL:
		switch {
		case c.ints != n || (c.ulps != 0 && c.ulps != n) || c.float32s != 0 || c.float64s != 0:
			return fieldsError(c, n)
		case c.exponent > maxExponent:
			return fmt.Errorf("exponent %d (at most %d)", c.exponent, maxExponent)
		}
		step, k := max(c.step, 1), c.exponent
		var sum uint64
		forEach(msg, colInts, elemVarint, func(i int, v uint64) {
			sum = addStep(sum, v, step, i)
			out[i].Num = decimalValue(int64(sum), k)
		})
		if c.ulps != 0 {
			forEach(msg, colULPs, elemVarint, func(i int, v uint64) {
				out[i].Num = math.Float64frombits(math.Float64bits(out[i].Num) + uint64(protowire.DecodeZigZag(v)))
			})
		}
	case batchpb.Kind_KIND_UNSIGNED:
		if c.ints != n || c.ulps != 0 || c.float32s != 0 || c.float64s != 0 || c.exponent != 0 {
			return fieldsError(c, n)
		}
		step := max(c.step, 1)
		var sum uint64
		forEach(msg, colInts, elemVarint, func(i int, v uint64) {
			sum = addStep(sum, v, step, i)
			out[i].Num = float64(sum)
		})
	case batchpb.Kind_KIND_FLOAT32:
		if c.float32s != n || c.ints != 0 || c.ulps != 0 || c.float64s != 0 || c.exponent != 0 || c.step != 0 {
			return fieldsError(c, n)
		}
		bad := -1
		forEach(msg, colFloat32s, elemFixed32, func(i int, v uint64) {
			f := math.Float32frombits(uint32(v))
			if f != f && bad < 0 {
				bad = i
			}
			out[i].Num = float64(f)
		})
		if bad >= 0 {
			return fmt.Errorf("value %d: NaN in a float32 column", bad)
		}
	case batchpb.Kind_KIND_FLOAT64:
		if c.float64s != n || c.ints != 0 || c.ulps != 0 || c.float32s != 0 || c.exponent != 0 || c.step != 0 {
			return fieldsError(c, n)
		}
		forEach(msg, colFloat64s, elemFixed64, func(i int, v uint64) {
			out[i].Num = math.Float64frombits(v)
		})
	default:
		return fmt.Errorf("unknown kind %d", int32(c.kind))
	}
	return nil
}

// addStep adds the zigzag element v of a steps sequence (steps.go) to sum:
// the first is the value itself, the others differences in steps.
func addStep(sum, v, step uint64, i int) uint64 {
	d := uint64(protowire.DecodeZigZag(v))
	if i == 0 {
		return d
	}
	return sum + d*step
}

func fieldsError(c *column, n int) error {
	return fmt.Errorf("%s for %d times has %d ints, %d ulps, %d float32s, %d float64s, exponent %d, step %d: fields do not match the kind",
		c.kind, n, c.ints, c.ulps, c.float32s, c.float64s, c.exponent, c.step)
}
