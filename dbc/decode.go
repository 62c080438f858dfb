package dbc

import (
	"encoding/binary"
	"math"

	"github.com/kanal-dev/kanal/can"
)

// Decode decodes one frame, appending its values to out[:0] in DBC order.
// It never allocates when cap(out) ≥ MaxValues. f is only read, and not
// kept; it is a pointer because copying a 72-byte frame per call cost a
// quarter of the decode time. Frames that do not decode
// return no values and say why in Result.Status.
func (p *Plan) Decode(f *can.Frame, out []Value) ([]Value, Result) {
	out = out[:0]
	if f.Flags&(can.Remote|can.Error) != 0 {
		return out, Result{Status: NotData, Msg: -1}
	}
	idx := -1
	if f.Flags&can.Extended == 0 {
		if f.ID <= can.MaxStandardID {
			idx = int(p.std[f.ID]) - 1
		}
	} else {
		idx = p.findExt(f.ID)
	}
	if idx < 0 {
		return out, Result{Status: UnknownID, Msg: -1}
	}
	mp := &p.msgs[idx]
	res := Result{Msg: MsgRef(idx)}
	if int(f.Len) < mp.length {
		res.Status = TooShort
		return out, res
	}
	if len(mp.muxers) > 0 {
		return p.decodeMux(mp, &f.Data, out, res)
	}
	w := [2]uint64{binary.LittleEndian.Uint64(f.Data[:8]), binary.BigEndian.Uint64(f.Data[:8])}
	sigs := mp.sigs
	if cap(out) < len(sigs) {
		out = make([]Value, 0, p.maxValues)
	}
	out = out[:len(sigs)]
	if !mp.near {
		return p.decodeFar(mp, &f.Data, out, res)
	}
	var oor uint16
	for i := range sigs {
		sp := &sigs[i]
		// both shifts, then pick: no branch on signedness to mispredict;
		// &63: the counts are < 64 by construction, and saying so spares
		// the compiler's handling of larger shifts
		x := w[sp.word&1] << (sp.l & 63)
		u, s := x>>(sp.r&63), uint64(int64(x)>>(sp.r&63))
		raw := u ^ (u^s)&-uint64(sp.signed)
		num := float64(float64(int64(raw))*sp.factor) + sp.offset
		if num < sp.min || num > sp.max {
			oor++
		}
		out[i] = Value{Sig: sp.ref, Raw: raw, Num: num}
	}
	res.OutOfRange = oor
	return out, res
}

// decodeFar is Decode for a message with signals beyond the first 8 bytes
// or float or unsigned 64-bit signals; out has one slot per signal.
func (p *Plan) decodeFar(mp *msgPlan, d *[64]byte, out []Value, res Result) ([]Value, Result) {
	for i := range mp.sigs {
		sp := &mp.sigs[i]
		raw := mp.cold[i].ext.raw(d)
		num := sp.physical(raw)
		if num < sp.min || num > sp.max {
			res.OutOfRange++
		}
		out[i] = Value{Sig: sp.ref, Raw: raw, Num: num}
	}
	return out, res
}

// decodeMux is Decode for a message with multiplexers: it evaluates them
// parents first, then decodes the signals their values select.
func (p *Plan) decodeMux(mp *msgPlan, d *[64]byte, out []Value, res Result) ([]Value, Result) {
	var active uint32
	var muxVal [maxMuxers]int64
	for i := range mp.muxers {
		mx := &mp.muxers[i]
		if g := mx.sig.gate; g >= 0 && !(active&(1<<g) != 0 && mx.cold.ids.has(muxVal[g])) {
			continue
		}
		v, ok := mx.number(d)
		if mx.check && (!ok || !mx.defined.has(v)) {
			res.Status = UnknownMux
			return out, res
		}
		active |= 1 << i
		muxVal[i] = v
	}
	for i := range mp.sigs {
		sp, cold := &mp.sigs[i], &mp.cold[i]
		if g := sp.gate; g >= 0 && !(active&(1<<g) != 0 && cold.ids.has(muxVal[g])) {
			continue
		}
		raw := cold.ext.raw(d)
		num := sp.physical(raw)
		if num < sp.min || num > sp.max {
			res.OutOfRange++
		}
		out = append(out, Value{Sig: sp.ref, Raw: raw, Num: num})
	}
	return out, res
}

// find returns the index of the message with id, or -1. NewPlan uses it
// to see which ids a later file has already taken. Decode does the same
// lookup itself: find costs too much to inline, and a call per frame shows
// in the benchmark.
func (p *Plan) find(id uint32, extended bool) int {
	if !extended {
		if id > can.MaxStandardID {
			return -1
		}
		return int(p.std[id]) - 1
	}
	return p.findExt(id)
}

// findExt returns the index of the message with extended id, or -1: a
// binary search of the sorted p.ext, written out rather than with
// sort.Search so that it inlines into Decode and calls no closure per step.
func (p *Plan) findExt(id uint32) int {
	lo, hi := 0, len(p.ext)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if p.ext[m].id < id {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(p.ext) && p.ext[lo].id == id {
		return int(p.ext[lo].msg)
	}
	return -1
}

// physical converts raw bits to the physical value. The explicit float64
// conversions stop the compiler from fusing the multiply and add (FMA on
// arm64), so results match cantools' raw * scale + offset bit for bit.
func (sp *sigPlan) physical(raw uint64) float64 {
	var x float64
	switch sp.conv {
	case convInt:
		x = float64(int64(raw))
	case convUint64:
		x = float64(raw)
	case convF32:
		x = float64(math.Float32frombits(uint32(raw)))
	case convF64:
		x = math.Float64frombits(raw)
	default:
		x = half(uint16(raw))
	}
	if sp.factor == 1 && sp.offset == 0 {
		return x // cantools' IdentityConversion: the raw value untouched (a float -0 stays -0)
	}
	return float64(x*sp.factor) + sp.offset
}

// number returns the multiplexer value as cantools computes it
// (message.py, _get_mux_number) in decode(data, decode_choices=False):
// int() of the physical value, labels or not. (With decode_choices=True a
// labeled raw value decodes to its label, which _get_mux_number maps back
// through the inverse value table; the output carries numbers, so the
// numeric path is the one to follow.)
func (mx *muxPlan) number(d *[64]byte) (int64, bool) {
	raw := mx.cold.ext.raw(d)
	if mx.identity {
		return int64(raw), true
	}
	num := mx.sig.physical(raw)
	if math.IsNaN(num) || num >= math.MaxInt64 || num <= math.MinInt64 {
		return 0, false
	}
	return int64(num), true
}
