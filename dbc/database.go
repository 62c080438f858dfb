package dbc

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strings"

	edbc "go.einride.tech/can/pkg/dbc"
)

// Pos is a line in a DBC file. Every message, signal and problem carries one,
// so a mapping or a lint finding can point the user at the exact line.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d", p.File, p.Line) }

// Severity grades a Problem: an Error makes `dbc lint` fail, a Warning does not.
type Severity uint8

const (
	Warning Severity = iota
	Error
)

// Problem is a mistake in a DBC file that still parses: a signal outside its
// message, a broken multiplexer tree, a duplicate name. Parse collects the
// ones that change what is decoded; Lint adds the rest.
type Problem struct {
	Pos      Pos
	Severity Severity
	Msg      string
}

func (p Problem) String() string {
	if p.Severity == Warning {
		return fmt.Sprintf("%s: warning: %s", p.Pos, p.Msg)
	}
	return fmt.Sprintf("%s: %s", p.Pos, p.Msg)
}

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

// Database is one compiled DBC file: its messages and signals in file order,
// with positions. It is read-only once Parse returns and may be shared by
// several Plans.
type Database struct {
	File     string
	Messages []*Message
	// Problems found while compiling: signals that cannot be decoded, broken
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

// Load reads and compiles a DBC file.
func Load(path string) (*Database, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load dbc: %w", err)
	}
	return Parse(path, text)
}

// Parse compiles DBC text; name is used in positions. It fails only when
// the text does not parse; everything else becomes a Problem.
func Parse(name string, text []byte) (db *Database, err error) {
	ps, patched := prescanText(name, text)
	defs, err := einrideParse(name, patched)
	if err != nil {
		return nil, err
	}
	db = &Database{File: name, byName: map[string]*Message{}, byID: map[uint32]*Message{},
		mulVals: ps.mulVals, Problems: ps.problems}
	if err := checkAllRead(name, ps, defs); err != nil {
		return nil, err
	}
	c := compiler{db: db, ps: ps}
	c.messages(defs)
	c.extras(defs)
	for _, m := range db.Messages {
		c.resolveMux(m)
	}
	for _, m := range db.Messages {
		for _, s := range m.Signals {
			if s.undecoded == "" {
				s.ext = newExtractor(s)
			}
		}
	}
	return db, nil
}

// einrideParse runs einride's parser. It recovers from its own panics only,
// so a panic of any other kind is turned into an error here: bad input must
// never take the agent down.
func einrideParse(name string, text []byte) (defs []edbc.Def, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("parse dbc %s: parser failed: %v", name, r)
		}
	}()
	p := edbc.NewParser(name, text)
	if perr := p.Parse(); perr != nil {
		pos := perr.Position()
		return nil, fmt.Errorf("parse dbc: %s:%d:%d: %s", name, pos.Line, pos.Column, perr.Reason())
	}
	return p.Defs(), nil
}

// checkAllRead proves that einride read every BO_ and SG_ the pre-scan saw:
// a definition it skipped silently would otherwise vanish from the decode.
func checkAllRead(name string, ps *prescan, defs []edbc.Def) error {
	seen := map[int]bool{}
	for _, d := range defs {
		if m, ok := d.(*edbc.MessageDef); ok {
			seen[m.Pos.Line] = true
			for i := range m.Signals {
				seen[m.Signals[i].Pos.Line] = true
			}
		}
	}
	for _, lines := range [][]int{ps.boLines, ps.sgLines} {
		for _, l := range lines {
			if !seen[l] {
				return fmt.Errorf("parse dbc: %s:%d: definition not read (misplaced or malformed)", name, l)
			}
		}
	}
	return nil
}

type compiler struct {
	db *Database
	ps *prescan
}

func (c *compiler) problem(pos Pos, sev Severity, format string, a ...any) {
	c.db.Problems = append(c.db.Problems, Problem{Pos: pos, Severity: sev, Msg: fmt.Sprintf(format, a...)})
}

func (c *compiler) pos(line int) Pos { return Pos{File: c.db.File, Line: line} }

func (c *compiler) messages(defs []edbc.Def) {
	for _, d := range defs {
		md, ok := d.(*edbc.MessageDef)
		if !ok || uint32(md.MessageID) == idIndependentSigs {
			continue
		}
		id := uint32(md.MessageID)
		m := &Message{
			Name: string(md.Name), Pos: c.pos(md.Pos.Line), DB: c.db, Index: len(c.db.Messages),
			ID: id &^ idExtendedFlag, Extended: id&idExtendedFlag != 0,
			Sender: string(md.Transmitter), byName: map[string]*Signal{},
		}
		m.Length = int(min(md.Size, math.MaxInt32))
		m.FD = m.Length > 8
		if md.Size > 64 {
			c.problem(m.Pos, Error, "message %s: length %d is over 64 bytes", m.Name, md.Size)
		}
		for i := range md.Signals {
			c.signal(m, &md.Signals[i])
		}
		c.db.Messages = append(c.db.Messages, m)
		if _, dup := c.db.byName[m.Name]; !dup {
			c.db.byName[m.Name] = m
		}
		c.db.byID[id] = m // the last one, as in cantools and Plan
	}
}

func (c *compiler) signal(m *Message, sd *edbc.SignalDef) {
	s := &Signal{
		Name: string(sd.Name), Pos: c.pos(sd.Pos.Line), Message: m, Index: len(m.Signals),
		Start: int(min(sd.StartBit, 1<<20)), Length: int(min(sd.Size, 1<<20)),
		BigEndian: sd.IsBigEndian, Signed: sd.IsSigned,
		Factor: sd.Factor, Offset: sd.Offset, Min: sd.Minimum, Max: sd.Maximum, Unit: sd.Unit,
		MuxIndicator: c.ps.markers[sd.Pos.Line],
	}
	m.Signals = append(m.Signals, s)
	if _, dup := m.byName[s.Name]; !dup {
		m.byName[s.Name] = s
	}
	c.checkLayout(s)
}

// checkLayout marks signals that cannot be decoded: no bits, more than 64
// bits, or bits outside the message. cantools rejects the whole message in
// the last case; Kanal decodes the other signals and lint reports this one.
func (c *compiler) checkLayout(s *Signal) {
	m := s.Message
	switch {
	case s.Length == 0:
		s.undecoded = "length 0"
	case s.Length > 64:
		s.undecoded = fmt.Sprintf("length %d is over 64 bits", s.Length)
	case m.Length > 64:
		s.undecoded = "message over 64 bytes"
	case lastBit(s) > 8*m.Length:
		s.undecoded = fmt.Sprintf("bits %s are outside the %d-byte message", bitSpan(s), m.Length)
	case s.Type != Integer && s.Length != floatLen(s.Type):
		s.undecoded = fmt.Sprintf("float signal of %d bits (want 16, 32 or 64)", s.Length)
	default:
		return
	}
	c.problem(s.Pos, Error, "signal %s.%s: %s", m.Name, s.Name, s.undecoded)
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

func bitSpan(s *Signal) string {
	if s.BigEndian {
		return fmt.Sprintf("%d..%d (Motorola, MSB first)", beStart(s.Start), lastBit(s)-1)
	}
	return fmt.Sprintf("%d..%d", s.Start, lastBit(s)-1)
}

func floatLen(t ValueType) int {
	switch t {
	case Float16:
		return 16
	case Float32:
		return 32
	case Float64:
		return 64
	}
	return 0
}

// extras applies the statements that refer back to messages and signals:
// SIG_VALTYPE_, VAL_ and the VFrameFormat attribute. Like cantools (dbc.py,
// _load_signal_types, _load_choices), a statement names a message by id and
// applies to every message with that id, and of two statements for one
// signal the last one wins.
func (c *compiler) extras(defs []edbc.Def) {
	var frameFormats []string
	defaultFormat := ""
	formatOf := map[uint32]string{}
	byID := map[uint32][]*Message{}
	for _, m := range c.db.Messages {
		byID[m.dbcID()] = append(byID[m.dbcID()], m)
	}
	valType := map[*Signal]edbc.SignalValueType{}
	var valTypeOrder []*Signal
	for _, d := range defs {
		switch d := d.(type) {
		case *edbc.SignalValueTypeDef:
			for _, s := range c.lookup(byID, uint32(d.MessageID), string(d.SignalName), d.Pos.Line, "SIG_VALTYPE_") {
				if _, seen := valType[s]; !seen {
					valTypeOrder = append(valTypeOrder, s)
				}
				valType[s] = d.SignalValueType
			}
		case *edbc.ValueDescriptionsDef:
			if d.ObjectType != edbc.ObjectTypeSignal || len(d.ValueDescriptions) == 0 {
				continue // cantools skips a VAL_ without entries
			}
			for _, s := range c.lookup(byID, uint32(d.MessageID), string(d.SignalName), d.Pos.Line, "VAL_") {
				s.Labels = s.Labels[:0]
				for _, vd := range d.ValueDescriptions {
					s.Labels = append(s.Labels, Label{Value: int64(vd.Value), Text: vd.Description})
				}
			}
		case *edbc.AttributeDef:
			if d.Name == "VFrameFormat" {
				frameFormats = d.EnumValues
			}
		case *edbc.AttributeDefaultValueDef:
			if d.AttributeName == "VFrameFormat" {
				defaultFormat = d.DefaultStringValue
				if defaultFormat == "" {
					defaultFormat = enumName(frameFormats, d.DefaultIntValue)
				}
			}
		case *edbc.AttributeValueForObjectDef:
			if d.AttributeName == "VFrameFormat" && d.ObjectType == edbc.ObjectTypeMessage {
				f := d.StringValue
				if f == "" {
					f = enumName(frameFormats, d.IntValue)
				}
				formatOf[uint32(d.MessageID)] = f
			}
		}
	}
	// cantools (dbc.py get_is_float) makes a signal a float for
	// SIG_VALTYPE_ 1 and 2 alike; bitstruct then reads 'f<length>', so the
	// length picks half, single or double precision.
	for _, s := range valTypeOrder {
		switch {
		case valType[s] == edbc.SignalValueTypeInt:
			s.Type = Integer
		case s.Length == 16:
			s.Type = Float16
		case s.Length == 64:
			s.Type = Float64
		default:
			s.Type = Float32 // 32 bits, or a length checkLayout rejects
		}
		if s.undecoded == "" {
			c.checkLayout(s)
		}
	}
	if frameFormats == nil && defaultFormat == "" && len(formatOf) == 0 {
		return
	}
	for _, m := range c.db.Messages {
		f, ok := formatOf[m.dbcID()]
		if !ok {
			f = defaultFormat
		}
		if f != "" {
			m.FD = strings.HasSuffix(f, "CAN_FD")
		}
	}
}

func enumName(values []string, i int64) string {
	if i >= 0 && i < int64(len(values)) {
		return values[i]
	}
	return ""
}

// lookup finds the signals a statement names: the signal of that name in
// every message with the id. A dangling reference is a Problem, not an
// error, as in cantools.
func (c *compiler) lookup(byID map[uint32][]*Message, dbcID uint32, name string, line int, what string) []*Signal {
	ms := byID[dbcID]
	if len(ms) == 0 {
		c.problem(c.pos(line), Warning, "%s refers to unknown message id %d", what, dbcID)
		return nil
	}
	var out []*Signal
	for _, m := range ms {
		if s := m.byName[name]; s != nil {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		c.problem(c.pos(line), Warning, "%s refers to unknown signal %s in message %s", what, name, ms[0].Name)
	}
	return out
}

// errNotDecoded etc. are returned by the Encode helpers.
var errNotDecoded = errors.New("signal is not decoded")
