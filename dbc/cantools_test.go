package dbc

import (
	"encoding/binary"
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/kanal-dev/kanal/can"
)

// Edge cases where cantools' behaviour was read from its source
// (github.com/cantools/cantools, src/cantools/database/...) and the
// expected values worked out by hand from it. Values are those of
// Message.decode(data, decode_choices=False): the physical numbers the
// JSON Lines output carries.

const cantoolsHeader = "VERSION \"\"\n\nNS_ :\n\nBS_:\n\nBU_: ECU X\n\n"

func parsePlan(t *testing.T, text string) (*Database, *Plan) {
	t.Helper()
	db, err := Parse("inline.dbc", []byte(cantoolsHeader+text))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(db)
	if err != nil {
		t.Fatal(err)
	}
	return db, p
}

// numbers decodes f and returns each value as AppendNumber prints it.
func numbers(t *testing.T, p *Plan, f can.Frame) (map[string]string, Result) {
	t.Helper()
	vals, res := p.Decode(addr(f), make([]Value, 0, p.MaxValues()))
	m := map[string]string{}
	for _, v := range vals {
		m[p.Signal(v.Sig).Name] = string(p.AppendNumber(nil, v))
	}
	return m, res
}

func wantNumbers(t *testing.T, got map[string]string, res Result, want map[string]string) {
	t.Helper()
	if res.Status != Decoded {
		t.Fatalf("status %v, want decoded", res.Status)
	}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %q, want %q (all: %v)", k, got[k], w, got)
		}
	}
}

// TestCantoolsFloatWidthFromLength: dbc.py get_is_float() makes a signal a
// float when its SIG_VALTYPE_ is 1 or 2, whichever; utils.py
// create_encode_decode_formats() then reads it with bitstruct format
// 'f<length>', so the signal length, not the SIG_VALTYPE_ number, picks
// binary32 or binary64. SIG_VALTYPE_ statements go into a dict
// (_load_signal_types), so the last one for a signal wins, 0 included.
func TestCantoolsFloatWidthFromLength(t *testing.T) {
	_, p := parsePlan(t, `BO_ 300 F: 16 ECU
 SG_ D32 : 0|32@1- (1,0) [0|0] "" X
 SG_ S64 : 32|64@1- (0.5,0) [0|0] "" X
 SG_ Back : 96|32@1+ (1,0) [0|0] "" X

SIG_VALTYPE_ 300 D32 : 2;
SIG_VALTYPE_ 300 S64 : 1;
SIG_VALTYPE_ 300 Back : 1;
SIG_VALTYPE_ 300 Back : 0;
`)
	var d [16]byte
	binary.LittleEndian.PutUint32(d[0:], math.Float32bits(1.5))
	binary.LittleEndian.PutUint64(d[4:], math.Float64bits(-2.25))
	binary.LittleEndian.PutUint32(d[12:], 0x00C0FFEE)
	got, res := numbers(t, p, frame(300, can.FD, d[:]...))
	wantNumbers(t, got, res, map[string]string{
		"D32":  "1.5",      // f32 although SIG_VALTYPE_ says double
		"S64":  "-1.125",   // f64 × 0.5 although SIG_VALTYPE_ says float
		"Back": "12648430", // integer again: the last SIG_VALTYPE_ is 0
	})
}

// TestCantoolsNegativeMuxLabel: message.py _create_codec() adds every key
// of a multiplexer's choices to the values it accepts, negative keys too,
// and a signed multiplexer decodes to a negative number
// (_get_mux_number: int(value)).
func TestCantoolsNegativeMuxLabel(t *testing.T) {
	_, p := parsePlan(t, `BO_ 301 NegMux: 2 ECU
 SG_ Mux M : 0|4@1- (1,0) [0|0] "" X
 SG_ A m0 : 8|8@1+ (1,0) [0|0] "" X

VAL_ 301 Mux -1 "neg" 0 "zero" ;
`)
	got, res := numbers(t, p, frame(301, 0, 0x0F, 7))
	wantNumbers(t, got, res, map[string]string{"Mux": "-1"})
	got, res = numbers(t, p, frame(301, 0, 0x00, 7))
	wantNumbers(t, got, res, map[string]string{"Mux": "0", "A": "7"})
	if _, res := p.Decode(addr(frame(301, 0, 0x01, 7)), nil); res.Status != UnknownMux {
		t.Errorf("mux 1: status %v, want unknown_mux", res.Status)
	}
}

// TestCantoolsScaledLabeledMux: with decode_choices=False, decode_data()
// returns the scaled value of a labeled multiplexer like any other, and
// message.py _get_mux_number() takes int() of it: the label plays no part
// in choosing the branch, only in which values are accepted.
func TestCantoolsScaledLabeledMux(t *testing.T) {
	_, p := parsePlan(t, `BO_ 302 ScaledMux: 2 ECU
 SG_ Mux M : 0|8@1+ (2,0) [0|0] "" X
 SG_ A m1 : 8|8@1+ (1,0) [0|0] "" X
 SG_ B m2 : 8|8@1+ (1,0) [0|0] "" X

VAL_ 302 Mux 1 "one" ;
`)
	// raw 1 is labeled; its value is 2, which selects B
	got, res := numbers(t, p, frame(302, 0, 0x01, 5))
	wantNumbers(t, got, res, map[string]string{"Mux": "2", "B": "5"})
	for _, raw := range []byte{0, 2} { // values 0 and 4: no branch
		if _, res := p.Decode(addr(frame(302, 0, raw, 5)), nil); res.Status != UnknownMux {
			t.Errorf("raw %d: status %v, want unknown_mux", raw, res.Status)
		}
	}
}

// TestCantoolsEmptyValKeepsLabels: dbc.py _load_choices() skips a VAL_
// statement with no entries, so an earlier one for the signal still holds
// (and still adds to the values a multiplexer accepts).
func TestCantoolsEmptyValKeepsLabels(t *testing.T) {
	_, p := parsePlan(t, `BO_ 305 M: 2 ECU
 SG_ Mux M : 0|8@1+ (1,0) [0|0] "" X
 SG_ A m0 : 8|8@1+ (1,0) [0|0] "" X

VAL_ 305 Mux 3 "three" ;
VAL_ 305 Mux ;
`)
	got, res := numbers(t, p, frame(305, 0, 3, 9))
	wantNumbers(t, got, res, map[string]string{"Mux": "3"})
}

// TestCantoolsDuplicateIDLastWins: database.py _add_message() puts each
// message in the frame-id dict in file order, so of two messages with one
// id the last one decodes.
func TestCantoolsDuplicateIDLastWins(t *testing.T) {
	_, p := parsePlan(t, `BO_ 303 First: 1 ECU
 SG_ X : 0|8@1+ (1,0) [0|0] "" X

BO_ 303 Second: 1 ECU
 SG_ Y : 0|8@1+ (2,0) [0|0] "" X
`)
	vals, res := p.Decode(addr(frame(303, 0, 5)), nil)
	if res.Status != Decoded || p.Message(res.Msg).Name != "Second" || len(vals) != 1 || vals[0].Num != 10 {
		t.Fatalf("status %v msg %v vals %+v, want Second with Y=10", res.Status, res.Msg, vals)
	}
	if len(p.Shadowed) != 1 || p.Shadowed[0].Pos.Line != 9 {
		t.Errorf("shadowed %v, want First (line 9)", p.Shadowed)
	}
}

// TestLaterFileWins: cantools' add_dbc_file adds files in order through the
// same _add_message, so across files too the last definition of an id wins.
func TestLaterFileWins(t *testing.T) {
	vendor, err := Parse("vendor.dbc", []byte(cantoolsHeader+`BO_ 305 Vendor: 1 ECU
 SG_ A : 0|8@1+ (1,0) [0|0] "" X

BO_ 306 Kept: 1 ECU
 SG_ K : 0|8@1+ (1,0) [0|0] "" X
`))
	if err != nil {
		t.Fatal(err)
	}
	override, err := Parse("override.dbc", []byte(cantoolsHeader+`BO_ 305 Override: 1 ECU
 SG_ B : 0|8@1+ (3,0) [0|0] "" X
`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(vendor, override)
	if err != nil {
		t.Fatal(err)
	}
	vals, res := p.Decode(addr(frame(305, 0, 2)), nil)
	if res.Status != Decoded || p.Message(res.Msg).Name != "Override" || len(vals) != 1 || vals[0].Num != 6 {
		t.Fatalf("status %v vals %+v, want Override with B=6", res.Status, vals)
	}
	if _, res := p.Decode(addr(frame(306, 0, 2)), nil); res.Status != Decoded || p.Message(res.Msg).Name != "Kept" {
		t.Errorf("the vendor file's other message: %v", res.Status)
	}
	if len(p.Shadowed) != 1 || p.Shadowed[0].Pos.File != "vendor.dbc" || !strings.Contains(p.Shadowed[0].Msg, "later file") {
		t.Errorf("shadowed %v, want vendor.dbc's Vendor", p.Shadowed)
	}
}

// TestCantoolsExactIntegers: conversion.py LinearIntegerConversion and
// IdentityConversion compute raw × scale + offset in Python ints when scale
// and offset are integers, so the result is exact at any size: JSON must
// carry every digit, and the sign, even where int64 would overflow.
func TestCantoolsExactIntegers(t *testing.T) {
	_, p := parsePlan(t, `BO_ 304 Big: 8 ECU
 SG_ Neg : 0|64@1- (-1,0) [0|0] "" X

BO_ 306 Big2: 8 ECU
 SG_ Ident : 0|64@1- (1,0) [0|0] "" X

BO_ 307 Big3: 8 ECU
 SG_ Wide : 0|64@1+ (2,1) [0|0] "" X

BO_ 308 Big4: 8 ECU
 SG_ Off : 0|64@1- (3,-5) [0|0] "" X
`)
	le := func(id uint32, v uint64) can.Frame {
		var d [8]byte
		binary.LittleEndian.PutUint64(d[:], v)
		return frame(id, 0, d[:]...)
	}
	cases := []struct {
		f    can.Frame
		want map[string]string
	}{
		{le(304, 1<<63), map[string]string{"Neg": "9223372036854775808"}},
		{le(304, 1), map[string]string{"Neg": "-1"}},
		{le(306, 1<<63+1), map[string]string{"Ident": "-9223372036854775807"}},
		{le(306, 1<<62), map[string]string{"Ident": "4611686018427387904"}},
		{le(307, math.MaxUint64), map[string]string{"Wide": "36893488147419103231"}},
		{le(307, 0), map[string]string{"Wide": "1"}},
		{le(308, 1<<63), map[string]string{"Off": "-27670116110564327429"}},
		{le(308, 1), map[string]string{"Off": "-2"}},
	}
	for _, c := range cases {
		got, res := numbers(t, p, c.f)
		wantNumbers(t, got, res, c.want)
	}
}

// TestCantoolsFloatSpecials: cantools returns float('nan'), ±inf and -0.0
// as they are (IdentityConversion returns the raw float untouched). JSON
// has no NaN or infinity: Kanal writes null for them (documented on
// AppendNumber); -0.0 keeps its sign.
func TestCantoolsFloatSpecials(t *testing.T) {
	_, p := parsePlan(t, `BO_ 309 F: 8 ECU
 SG_ A : 0|32@1- (1,0) [0|0] "" X
 SG_ B : 32|32@1- (1,0) [0|0] "" X

SIG_VALTYPE_ 309 A : 1;
SIG_VALTYPE_ 309 B : 1;
`)
	f := func(a, b float32) can.Frame {
		var d [8]byte
		binary.LittleEndian.PutUint32(d[0:], math.Float32bits(a))
		binary.LittleEndian.PutUint32(d[4:], math.Float32bits(b))
		return frame(309, 0, d[:]...)
	}
	got, res := numbers(t, p, f(float32(math.NaN()), float32(math.Inf(-1))))
	wantNumbers(t, got, res, map[string]string{"A": "null", "B": "null"})
	got, res = numbers(t, p, f(float32(math.Copysign(0, -1)), 3.4028235e38))
	wantNumbers(t, got, res, map[string]string{"A": "-0", "B": "3.4028234663852886e+38"})
}

// TestCantoolsLayoutEdges: hand-computed values for layouts cantools
// handles with utils.py start_bit() (Motorola MSB in sawtooth numbering)
// and bitstruct 's'/'u' formats.
func TestCantoolsLayoutEdges(t *testing.T) {
	_, p := parsePlan(t, `BO_ 310 L: 8 ECU
 SG_ MotoCross : 5|10@0+ (1,0) [0|0] "" X
 SG_ SBit : 16|1@1- (2,10) [0|0] "" X
 SG_ UBit : 17|1@1+ (0.5,0) [0|0] "" X
 SG_ IntelCross : 20|12@1- (1,0) [0|0] "" X
 SG_ MotoSigned : 39|16@0- (0.1,0) [0|0] "" X

BO_ 311 Empty: 0 ECU
`)
	// MotoCross: MSB is bit 5 of byte 0, then bits 4..0, then bits 7..4 of
	// byte 1: 0x2A = 0b00101010 → bits 5..0 = 101010; 0xF0 → 1111:
	// 1010101111 = 0x2AF.
	// SBit: bit 16 set → s1 = -1 → -1×2+10 = 8. UBit: bit 17 set → 0.5.
	// IntelCross: bits 20..31: byte 2 high nibble 0x8, byte 3 0xFF →
	// 0xFF8 = -8 as s12.
	// MotoSigned: bytes 4,5 big-endian 0xFF38 = -200 → -20.
	got, res := numbers(t, p, frame(310, 0, 0x2A, 0xF0, 0x83, 0xFF, 0xFF, 0x38, 0, 0))
	wantNumbers(t, got, res, map[string]string{
		"MotoCross": "687", "SBit": "8", "UBit": "0.5", "IntelCross": "-8", "MotoSigned": "-20",
	})
	// a 0-byte message decodes from any frame, to no values (decode_data
	// trims the payload to the message length: allow_excess=True)
	vals, res := p.Decode(addr(frame(311, 0, 1, 2, 3)), nil)
	if res.Status != Decoded || len(vals) != 0 {
		t.Errorf("empty message: %v with %d values, want decoded with none", res.Status, len(vals))
	}
}

// TestAppendExactIntAgainstBig checks the 128-bit integer printing against
// math/big, Python's int arithmetic in Go.
func TestAppendExactIntAgainstBig(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	edges := []int64{0, 1, -1, 2, -3, 1000, math.MaxInt64, math.MinInt64 + 1, 1 << 62, -(1 << 62)}
	pick := func() int64 {
		if r.IntN(3) == 0 {
			return edges[r.IntN(len(edges))]
		}
		return r.Int64N(1<<uint(r.IntN(62)+1)) * int64(1-2*r.IntN(2))
	}
	for i := 0; i < 200000; i++ {
		s := &Signal{Signed: r.IntN(2) == 0, Factor: float64(pick()), Offset: float64(pick())}
		if math.Abs(s.Factor) >= 1<<63 || math.Abs(s.Offset) >= 1<<63 {
			continue // float64(MaxInt64) rounds to 2^63: not an int64
		}
		raw := []uint64{r.Uint64(), 0, 1, 1 << 63, math.MaxUint64, uint64(r.IntN(100))}[r.IntN(6)]
		want := new(big.Int)
		if s.Signed {
			want.SetInt64(int64(raw))
		} else {
			want.SetUint64(raw)
		}
		want.Mul(want, big.NewInt(int64(s.Factor)))
		want.Add(want, big.NewInt(int64(s.Offset)))
		got, ok := appendExactInt(nil, raw, s)
		if !ok || string(got) != want.String() {
			t.Fatalf("raw %#x signed %v factor %v offset %v: %s (%v), want %s", raw, s.Signed, s.Factor, s.Offset, got, ok, want)
		}
	}
}

func TestAppendNumberAllocs(t *testing.T) {
	_, p := parsePlan(t, `BO_ 307 Big3: 8 ECU
 SG_ Wide : 0|64@1+ (2,1) [0|0] "" X
 SG_ Small : 0|8@1+ (0.1,0) [0|0] "" X
`)
	vals, _ := p.Decode(addr(frame(307, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF)), nil)
	buf := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(100, func() {
		b := buf[:0]
		for _, v := range vals {
			b = p.AppendNumber(b, v)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per run, want 0", allocs)
	}
}
