package dbc

import "strconv"

// SigRef names a signal of a Plan: an index into Plan.Signals. Values carry
// it instead of a pointer so a []Value holds no pointers for the GC to scan.
type SigRef uint32

// MsgRef names a message of a Plan: an index into Plan.Messages; -1 is none.
type MsgRef int32

// NoTarget is the rule of a signal no mapping rule refers to
// (FrameValues.Rules).
const NoTarget int32 = -1

// Value is one decoded signal value.
type Value struct {
	Sig SigRef
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

// String returns the name of s, as the decode summary prints it.
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
