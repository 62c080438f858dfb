package dbc

import "math"

// ValueType is how a signal's raw bits are read: as an integer or as an IEEE
// float (SIG_VALTYPE_ 1 and 2).
type ValueType uint8

const (
	Integer ValueType = iota
	Float32
	Float64
	Float16 // not in the DBC spec; cantools reads a 16-bit float signal as half precision
)

// Label is one entry of a signal's value table (VAL_). Labels are for display:
// decoded values stay numeric, as in the JSON Lines contract.
type Label struct {
	Value int64
	Text  string
}

// Database is one loaded DBC file (the model; see Parse): its messages and signals in file order,
// with positions. It is read-only once Parse returns and may be shared by
// several Plans.
type Database struct {
	File     string
	Messages []*Message
	// Problems found while building it: signals that cannot be decoded, broken
	// multiplexer trees. The file still loads; `dbc lint` reports them.
	Problems []Problem

	byName  map[string]*Message
	byID    map[uint32]*Message // DBC id, with the extended flag
	mulVals []mulVal
}

// Message is a BO_ definition.
type Message struct {
	Name     string
	Pos      Pos
	DB       *Database
	Index    int    // in DB.Messages
	ID       uint32 // CAN id without the extended flag
	Extended bool   // the DBC id had 0x80000000 set: a 29-bit id
	// FD is true when the VFrameFormat attribute names a CAN FD format or,
	// without it, when the message is longer than 8 bytes.
	FD      bool
	Length  int // bytes, as declared
	Sender  string
	Signals []*Signal

	byName map[string]*Signal
}

// Signal is an SG_ definition and what the rest of the file says about it.
type Signal struct {
	Name    string
	Pos     Pos
	Message *Message
	Index   int // in Message.Signals

	Start     int // start bit as in the DBC (Motorola: MSB in sawtooth numbering)
	Length    int // bits
	BigEndian bool
	Signed    bool
	Type      ValueType
	Factor    float64
	Offset    float64
	Min, Max  float64
	Unit      string
	Labels    []Label

	// MuxIndicator is the multiplexer indicator as written ("", "M", "m3", "m3M").
	MuxIndicator string
	// Multiplexer is true when this signal selects others (M, mNM).
	Multiplexer bool
	// MuxParent is the multiplexer this signal depends on, resolved as
	// cantools does (simple M/mN or SG_MUL_VAL_); nil for a root signal.
	MuxParent *Signal

	muxIDs    idSet  // values of MuxParent that select this signal
	undecoded string // why this signal is never decoded, "" if it is
	ext       extractor
	childIDs  idSet // for a multiplexer: the values a child or a label defines; empty means any
}

// HasRange reports whether the DBC gives a range; cantools reads [0|0] as none.
func (s *Signal) HasRange() bool { return s.Min != 0 || s.Max != 0 }

// Decoded reports whether a Plan decodes this signal at all, and if not, why.
func (s *Signal) Decoded() (bool, string) { return s.undecoded == "", s.undecoded }

// MuxValues returns the values of MuxParent that select this signal.
func (s *Signal) MuxValues() []MuxRange { return s.muxIDs.list() }

// IsInteger reports whether the physical value is always an integer (an
// integer signal with integer factor and offset), as cantools returns an int
// for it.
func (s *Signal) IsInteger() bool {
	return s.Type == Integer && s.Factor == math.Trunc(s.Factor) && s.Offset == math.Trunc(s.Offset)
}

// Label returns the value-table text for a raw value.
func (s *Signal) Label(raw int64) (string, bool) {
	for _, l := range s.Labels {
		if l.Value == raw {
			return l.Text, true
		}
	}
	return "", false
}

// Message returns the message named name, or nil.
func (db *Database) Message(name string) *Message { return db.byName[name] }

// MessageByID returns the message with a CAN id, or nil; of several with
// one id, the last, which is the one a Plan decodes.
func (db *Database) MessageByID(id uint32, extended bool) *Message {
	if extended {
		id |= idExtendedFlag
	}
	return db.byID[id]
}

// Signal returns the signal named name, or nil.
func (m *Message) Signal(name string) *Signal { return m.byName[name] }

// dbcID is the id as written in the DBC file.
func (m *Message) dbcID() uint32 {
	if m.Extended {
		return m.ID | idExtendedFlag
	}
	return m.ID
}

const (
	idExtendedFlag    = 0x80000000
	idIndependentSigs = 0xC0000000 // VECTOR__INDEPENDENT_SIG_MSG
)
