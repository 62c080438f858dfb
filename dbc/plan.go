package dbc

import "github.com/kanal-dev/kanal/can"

// Plan decodes the frames of one bus. It is built from one or more
// Databases (several DBC files per bus). When two messages have the same
// id, the last definition wins: the later file, and within one file the
// later message, as in cantools (database.py, _add_message overwrites the
// frame-id entry, and add_dbc_file adds files in order), so a file of
// overrides named after a vendor's file replaces its messages. A Plan is
// immutable after NewPlan, so one Plan can decode on many goroutines and
// serve many buses: which signal feeds which mapping rule is the
// Pipeline's business, kept beside the plan.
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

// sigPlan is everything Decode needs about one signal, in one flat struct,
// hot fields first.
//
// Most signals lie in the first 8 bytes. Decode loads those once per frame
// as a little-endian and a big-endian word; such a signal is then
// word << l >> r (arithmetic for signed), with l and r fixed at compile
// time. Signals further into an FD payload use ext.
type sigPlan struct {
	ref      SigRef
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

// maxMuxers bounds the multiplexers of one message, so Decode can keep their
// state on the stack.
const maxMuxers = 32

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
// order: what a bus decoded with the plan must receive, for its kernel
// filters (socketcan.FiltersFor). Pipeline.IDs narrows them to the
// messages a mapping uses.
func (p *Plan) IDs() []uint32 {
	ids := make([]uint32, 0, len(p.messages))
	for _, m := range p.messages {
		ids = append(ids, m.dbcID())
	}
	return ids
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
