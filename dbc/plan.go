package dbc

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"sort"
	"strconv"

	"github.com/kanal-dev/kanal/can"
)

// SigRef names a signal of a Plan: an index into Plan.Signals. Values carry
// it instead of a pointer so a []Value holds no pointers for the GC to scan.
type SigRef uint32

// MsgRef names a message of a Plan: an index into Plan.Messages; -1 is none.
type MsgRef int32

// NoTarget is the Target of a signal no mapping refers to.
const NoTarget int32 = -1

// Value is one decoded signal value.
type Value struct {
	Sig SigRef
	// Target is the mapping target set with Plan.SetTarget (a catalog
	// entry, say), or NoTarget; it lets a mapping be applied to the output
	// without looking anything up per value.
	Target int32
	// Raw is the signal's bits: sign-extended for a signed integer signal
	// (read it as int64), the IEEE bits for a float signal.
	Raw uint64
	// Num is the physical value, raw × factor + offset, never clamped.
	Num float64
}

// Status says whether a frame decoded, and if not, why.
type Status uint8

const (
	Decoded    Status = iota
	UnknownID         // no message with this id (and id kind) on the bus
	TooShort          // fewer data bytes than the message length
	UnknownMux        // a multiplexer value that selects nothing (cantools raises DecodeError)
	NotData           // remote or error frame
	numStatus
)

var statusNames = [numStatus]string{"decoded", "unknown_id", "too_short", "unknown_mux", "not_data"}

func (s Status) String() string {
	if s < numStatus {
		return statusNames[s]
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

// Result describes one Decode call.
type Result struct {
	Status Status
	Msg    MsgRef // the message matched by id, -1 for UnknownID and NotData
	// OutOfRange counts values outside the signal's [min, max]; they are
	// decoded and returned all the same, as cantools does.
	OutOfRange uint16
}

// sigPlan is everything Decode needs about one signal, in one flat struct,
// hot fields first.
//
// Most signals lie in the first 8 bytes. Decode loads those once per frame
// as a little-endian and a big-endian word; such a signal is then
// word << l >> r (arithmetic for signed), with l and r fixed at compile
// time. Signals further into an FD payload use ext.
type sigPlan struct {
	ref      SigRef
	target   int32
	l, r     uint8
	word     uint8 // wordLE, wordBE or wordFar
	conv     uint8 // convInt, convUint64, convF32, convF64, convF16
	signed   uint8 // 1 for a signed integer: r shifts arithmetically
	gate     int16 // index into msgPlan.muxers of the multiplexer this signal depends on, -1 for none
	factor   float64
	offset   float64
	min, max float64 // ±Inf without a range, so the check needs no branch of its own
}

// sigCold holds what only far (FD) and multiplexed signals need, apart
// from sigPlan so that the common loop touches 48 bytes per signal.
type sigCold struct {
	ext extractor
	ids idSet // values of the gating multiplexer that select this signal
}

const (
	wordLE = iota
	wordBE
	wordFar
)

const (
	convInt    = iota // integer that fits int64: float64(int64(raw)) is exact and fast
	convUint64        // unsigned 64-bit
	convF32
	convF64
	convF16
)

// muxPlan evaluates one multiplexer. muxers are ordered parents first.
type muxPlan struct {
	sig      sigPlan
	cold     sigCold
	identity bool // factor 1, offset 0, integer: the mux number is the raw value
	check    bool // defined is not empty: other values make the frame undecodable
	defined  idSet
}

type msgPlan struct {
	length int
	muxers []muxPlan
	sigs   []sigPlan
	cold   []sigCold // parallel to sigs
	near   bool      // every signal is an integer within the first 8 bytes (the fast loop)
}

type extEntry struct {
	id  uint32
	msg int32
}

// Plan decodes the frames of one bus. It is built from one or more
// Databases (several DBC files per bus). When two messages have the same
// id, the last definition wins: the later file, and within one file the
// later message, as in cantools (database.py, _add_message overwrites the
// frame-id entry, and add_dbc_file adds files in order), so a file of
// overrides named after a vendor's file replaces its messages. A Plan is
// immutable after NewPlan except for SetTarget, so one Plan can decode on
// many goroutines.
type Plan struct {
	std       [can.MaxStandardID + 1]int32 // message index + 1 by 11-bit id
	ext       []extEntry                   // by 29-bit id, sorted
	msgs      []msgPlan
	messages  []*Message
	signals   []*Signal
	maxValues int
	// Shadowed lists messages left out because a later file or a later
	// message of the same file defines their id.
	Shadowed []Problem
}

// maxMuxers bounds the multiplexers of one message, so Decode can keep their
// state on the stack.
const maxMuxers = 32

// NewPlan compiles databases into a Plan.
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

func (p *Plan) find(id uint32, extended bool) int {
	if !extended {
		if id > can.MaxStandardID {
			return -1
		}
		return int(p.std[id]) - 1
	}
	i := sort.Search(len(p.ext), func(i int) bool { return p.ext[i].id >= id })
	if i < len(p.ext) && p.ext[i].id == id {
		return int(p.ext[i].msg)
	}
	return -1
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
		min: math.Inf(-1), max: math.Inf(1), ref: ref, target: NoTarget}
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

// MaxValues is the most values one frame can decode to: with an out slice
// of this capacity, Decode never allocates.
func (p *Plan) MaxValues() int { return p.maxValues }

// Signal returns the signal a Value refers to.
func (p *Plan) Signal(ref SigRef) *Signal { return p.signals[ref] }

// Message returns a message of the plan.
func (p *Plan) Message(ref MsgRef) *Message { return p.messages[ref] }

// Messages returns the plan's messages, indexed by MsgRef.
func (p *Plan) Messages() []*Message { return p.messages }

// Signals returns the plan's decoded signals, indexed by SigRef.
func (p *Plan) Signals() []*Signal { return p.signals }

// IDs returns the ids of the plan's messages in DBC form (a 29-bit id
// carries the 0x80000000 flag, as the kernel's CAN_EFF_FLAG does), in plan
// order. With mapped set, only messages with a signal that a mapping
// targets (SetTarget) are listed: the frames an agent must receive, from
// which it builds its kernel filters (socketcan.FiltersFor).
func (p *Plan) IDs(mapped bool) []uint32 {
	ids := make([]uint32, 0, len(p.messages))
	for i, m := range p.messages {
		if mapped && !p.msgs[i].targeted() {
			continue
		}
		ids = append(ids, m.dbcID())
	}
	return ids
}

func (mp *msgPlan) targeted() bool {
	for i := range mp.sigs {
		if mp.sigs[i].target != NoTarget {
			return true
		}
	}
	return false
}

// Lookup returns the SigRef of a signal by message and signal name.
func (p *Plan) Lookup(msg, signal string) (SigRef, bool) {
	for ref, s := range p.signals {
		if s.Name == signal && s.Message.Name == msg {
			return SigRef(ref), true
		}
	}
	return 0, false
}

// SetTarget sets the Target that Values of signal ref carry. It is meant for
// setup, before the Plan decodes: it is not synchronized with Decode.
func (p *Plan) SetTarget(ref SigRef, target int32) {
	for i := range p.msgs {
		for j := range p.msgs[i].sigs {
			if p.msgs[i].sigs[j].ref == ref {
				p.msgs[i].sigs[j].target = target
			}
		}
	}
}

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
		out[i] = Value{Sig: sp.ref, Target: sp.target, Raw: raw, Num: num}
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
		out[i] = Value{Sig: sp.ref, Target: sp.target, Raw: raw, Num: num}
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
		out = append(out, Value{Sig: sp.ref, Target: sp.target, Raw: raw, Num: num})
	}
	return out, res
}

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
