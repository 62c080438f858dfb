package sim

import (
	"fmt"
	"math/bits"

	"github.com/kanal-dev/kanal/can"
	"github.com/kanal-dev/kanal/dbc"
)

// Encoder turns physical signal values into payloads of a DBC's messages.
// It is built once per DBC and shared, read-only, by every Transmitter.
//
// dbc.Message.Encode builds two maps and a slice per frame; a fleet of
// thousands of vehicles at 87 frames a second each would spend more in the
// simulator than the agents spend decoding. So the Encoder asks Encode once,
// at construction, where each bit of each signal's raw value lands in the
// payload, and afterwards only sets those bits. The layout (Intel or
// Motorola order, FD payloads, multiplexing) and the rounding of physical to
// raw values (dbc.Signal.RawFromPhysical) are the dbc package's own; a test
// checks the result against Encode on random values of every message.
type Encoder struct {
	db   *dbc.Database
	msgs []encMessage
}

// encMessage is one message's layout.
type encMessage struct {
	m     *dbc.Message
	sigs  []encSignal
	frame can.Frame // ID, Len and Flags; Data zero
}

// encSignal is one signal's layout: the payload bit of each raw bit, and the
// multiplexer value that selects it.
type encSignal struct {
	s      *dbc.Signal
	bits   []uint16 // payload bit index (byte*8 + bit) of raw bit k
	parent int      // index of the multiplexer in the message's signals, or -1
	mux    []dbc.MuxRange
}

// NewEncoder learns the layout of every message of db.
func NewEncoder(db *dbc.Database) (*Encoder, error) {
	e := &Encoder{db: db, msgs: make([]encMessage, len(db.Messages))}
	for i, m := range db.Messages {
		em := &e.msgs[i]
		em.m = m
		em.frame = can.Frame{ID: m.ID, Len: uint8(m.Length)}
		if m.Length > can.MaxFDLen {
			return nil, fmt.Errorf("sim: encoder: message %s is %d bytes, over %d", m.Name, m.Length, can.MaxFDLen)
		}
		if m.Extended {
			em.frame.Flags |= can.Extended
		}
		if m.FD {
			em.frame.Flags |= can.FD | can.BRS
		}
		em.sigs = make([]encSignal, len(m.Signals))
		for j, s := range m.Signals {
			es, err := learn(m, s)
			if err != nil {
				return nil, fmt.Errorf("sim: encoder: %s.%s: %w", m.Name, s.Name, err)
			}
			em.sigs[j] = es
		}
	}
	return e, nil
}

// learn finds where each raw bit of s lands, by encoding one bit at a time
// with the multiplexers that select s, and comparing with the multiplexers
// alone.
func learn(m *dbc.Message, s *dbc.Signal) (encSignal, error) {
	es := encSignal{s: s, parent: -1}
	if s.Length < 1 || s.Length > 64 {
		return es, fmt.Errorf("length %d: want 1 to 64 bits", s.Length)
	}
	base := map[string]uint64{}
	for c := s; c.MuxParent != nil; c = c.MuxParent {
		vals := c.MuxValues()
		if len(vals) == 0 {
			return es, fmt.Errorf("no multiplexer value of %s selects it", c.MuxParent.Name)
		}
		p := c.MuxParent
		if p.Type != dbc.Integer || p.Factor != 1 || p.Offset != 0 {
			return es, fmt.Errorf("multiplexer %s is scaled or not an integer: not supported", p.Name)
		}
		base[p.Name] = vals[0].Lo
	}
	if p := s.MuxParent; p != nil {
		es.parent = p.Index
		es.mux = s.MuxValues()
	}
	zero, err := m.EncodeRaw(base)
	if err != nil {
		return es, err
	}
	es.bits = make([]uint16, s.Length)
	for k := range s.Length {
		raw := map[string]uint64{s.Name: 1 << k}
		for n, v := range base {
			raw[n] = v
		}
		data, err := m.EncodeRaw(raw)
		if err != nil {
			return es, err
		}
		at := -1
		for i := range data {
			d := data[i] ^ zero[i]
			if d == 0 {
				continue
			}
			if at >= 0 || bits.OnesCount8(d) != 1 {
				return es, fmt.Errorf("raw bit %d sets more than one payload bit", k)
			}
			at = i*8 + bits.TrailingZeros8(d)
		}
		if at < 0 {
			return es, fmt.Errorf("raw bit %d sets no payload bit", k)
		}
		es.bits[k] = uint16(at)
	}
	return es, nil
}

// Database returns the DBC the encoder was built from.
func (e *Encoder) Database() *dbc.Database { return e.db }

// values are the physical values of one message's signals for the next
// frame, set by name. They keep their capacity, so a Transmitter encodes
// without allocating.
type values struct {
	em   *encMessage
	v    []float64
	set  []bool
	hint int // the signal after the last one set: names are set in DBC order
	err  error
}

func newValues(em *encMessage) values {
	return values{em: em, v: make([]float64, len(em.sigs)), set: make([]bool, len(em.sigs))}
}

func (vs *values) reset() {
	clear(vs.set)
	vs.hint = 0
}

// put sets a signal's physical value. An unknown name is kept as the
// message's error and reported by encode.
func (vs *values) put(name string, x float64) {
	n := len(vs.em.sigs)
	for i := range n {
		j := (vs.hint + i) % n
		if vs.em.sigs[j].s.Name == name {
			vs.v[j], vs.set[j] = x, true
			vs.hint = j + 1
			return
		}
	}
	if vs.err == nil {
		vs.err = fmt.Errorf("sim: encode %s: no signal %s", vs.em.m.Name, name)
	}
}

// get returns the value last put for signal index i of the message.
func (vs *values) get(i int) float64 { return vs.v[i] }

// encode builds the frame from the values set, as dbc.Message.Encode would
// from a map of the same values: a multiplexed signal is written only when
// its multiplexer is set to a value that selects it, unset bits are 0.
func (vs *values) encode() (can.Frame, error) {
	if vs.err != nil {
		return can.Frame{}, vs.err
	}
	f := vs.em.frame
	for i := range vs.em.sigs {
		if vs.set[i] && vs.selected(i) {
			es := &vs.em.sigs[i]
			for raw := es.s.RawFromPhysical(vs.v[i]); raw != 0; raw &= raw - 1 {
				at := es.bits[bits.TrailingZeros64(raw)]
				f.Data[at>>3] |= 1 << (at & 7)
			}
		}
	}
	return f, nil
}

// selected reports whether signal i's multiplexers are set to values that
// select it.
func (vs *values) selected(i int) bool {
	for es := &vs.em.sigs[i]; es.parent >= 0; es = &vs.em.sigs[es.parent] {
		if !vs.set[es.parent] {
			return false
		}
		raw := vs.em.sigs[es.parent].s.RawFromPhysical(vs.v[es.parent])
		in := false
		for _, r := range es.mux {
			if raw >= r.Lo && raw <= r.Hi {
				in = true
				break
			}
		}
		if !in {
			return false
		}
	}
	return true
}
