package dbc

import (
	"fmt"
	"math"
	"os"
	"strings"

	edbc "go.einride.tech/can/pkg/dbc"
)

// Load reads a DBC file and builds its Database.
func Load(path string) (*Database, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load dbc: %w", err)
	}
	return Parse(path, text)
}

// Parse builds a Database from DBC text; name is used in positions. It
// fails only when the text does not parse; everything else becomes a
// Problem. This is the first of the two stages; NewPlan is the second.
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
	b := builder{db: db, ps: ps}
	b.messages(defs)
	b.extras(defs)
	for _, m := range db.Messages {
		b.resolveMux(m)
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

// builder turns einride's definitions into a Database: the first of the
// two stages (NewPlan then compiles Databases into a Plan).
type builder struct {
	db *Database
	ps *prescan
}

func (b *builder) problem(pos Pos, sev Severity, format string, a ...any) {
	b.db.Problems = append(b.db.Problems, Problem{Pos: pos, Severity: sev, Msg: fmt.Sprintf(format, a...)})
}

func (b *builder) pos(line int) Pos { return Pos{File: b.db.File, Line: line} }

func (b *builder) messages(defs []edbc.Def) {
	for _, d := range defs {
		md, ok := d.(*edbc.MessageDef)
		if !ok || uint32(md.MessageID) == idIndependentSigs {
			continue
		}
		id := uint32(md.MessageID)
		m := &Message{
			Name: string(md.Name), Pos: b.pos(md.Pos.Line), DB: b.db, Index: len(b.db.Messages),
			ID: id &^ idExtendedFlag, Extended: id&idExtendedFlag != 0,
			Sender: string(md.Transmitter), byName: map[string]*Signal{},
		}
		m.Length = int(min(md.Size, math.MaxInt32))
		m.FD = m.Length > 8
		if md.Size > 64 {
			b.problem(m.Pos, Error, "message %s: length %d is over 64 bytes", m.Name, md.Size)
		}
		for i := range md.Signals {
			b.signal(m, &md.Signals[i])
		}
		b.db.Messages = append(b.db.Messages, m)
		if _, dup := b.db.byName[m.Name]; !dup {
			b.db.byName[m.Name] = m
		}
		b.db.byID[id] = m // the last one, as in cantools and Plan
	}
}

func (b *builder) signal(m *Message, sd *edbc.SignalDef) {
	s := &Signal{
		Name: string(sd.Name), Pos: b.pos(sd.Pos.Line), Message: m, Index: len(m.Signals),
		Start: int(min(sd.StartBit, 1<<20)), Length: int(min(sd.Size, 1<<20)),
		BigEndian: sd.IsBigEndian, Signed: sd.IsSigned,
		Factor: sd.Factor, Offset: sd.Offset, Min: sd.Minimum, Max: sd.Maximum, Unit: sd.Unit,
		MuxIndicator: b.ps.markers[sd.Pos.Line],
	}
	m.Signals = append(m.Signals, s)
	if _, dup := m.byName[s.Name]; !dup {
		m.byName[s.Name] = s
	}
	b.checkLayout(s)
}

// checkLayout marks signals that cannot be decoded: no bits, more than 64
// bits, or bits outside the message. cantools rejects the whole message in
// the last case; Kanal decodes the other signals and lint reports this one.
func (b *builder) checkLayout(s *Signal) {
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
	b.problem(s.Pos, Error, "signal %s.%s: %s", m.Name, s.Name, s.undecoded)
}

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
func (b *builder) extras(defs []edbc.Def) {
	var frameFormats []string
	defaultFormat := ""
	formatOf := map[uint32]string{}
	byID := map[uint32][]*Message{}
	for _, m := range b.db.Messages {
		byID[m.dbcID()] = append(byID[m.dbcID()], m)
	}
	valType := map[*Signal]edbc.SignalValueType{}
	var valTypeOrder []*Signal
	for _, d := range defs {
		switch d := d.(type) {
		case *edbc.SignalValueTypeDef:
			for _, s := range b.lookup(byID, uint32(d.MessageID), string(d.SignalName), d.Pos.Line, "SIG_VALTYPE_") {
				if _, seen := valType[s]; !seen {
					valTypeOrder = append(valTypeOrder, s)
				}
				valType[s] = d.SignalValueType
			}
		case *edbc.ValueDescriptionsDef:
			if d.ObjectType != edbc.ObjectTypeSignal || len(d.ValueDescriptions) == 0 {
				continue // cantools skips a VAL_ without entries
			}
			for _, s := range b.lookup(byID, uint32(d.MessageID), string(d.SignalName), d.Pos.Line, "VAL_") {
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
			b.checkLayout(s)
		}
	}
	if frameFormats == nil && defaultFormat == "" && len(formatOf) == 0 {
		return
	}
	for _, m := range b.db.Messages {
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
func (b *builder) lookup(byID map[uint32][]*Message, dbcID uint32, name string, line int, what string) []*Signal {
	ms := byID[dbcID]
	if len(ms) == 0 {
		b.problem(b.pos(line), Warning, "%s refers to unknown message id %d", what, dbcID)
		return nil
	}
	var out []*Signal
	for _, m := range ms {
		if s := m.byName[name]; s != nil {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		b.problem(b.pos(line), Warning, "%s refers to unknown signal %s in message %s", what, name, ms[0].Name)
	}
	return out
}
