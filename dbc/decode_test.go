package dbc

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"

	"github.com/kanal-dev/kanal/can"
)

func loadLayout(t testing.TB) (*Database, *Plan) {
	t.Helper()
	db, err := Load("testdata/layout.dbc")
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(db)
	if err != nil {
		t.Fatal(err)
	}
	return db, p
}

func frame(id uint32, flags can.Flags, data ...byte) can.Frame {
	f := can.Frame{ID: id, Flags: flags, Len: uint8(len(data))}
	copy(f.Data[:], data)
	return f
}

// decodeMap decodes f and returns values by signal name.
func decodeMap(t testing.TB, p *Plan, f can.Frame) (map[string]Value, Result) {
	t.Helper()
	vals, res := p.Decode(addr(f), make([]Value, 0, p.MaxValues()))
	m := map[string]Value{}
	for _, v := range vals {
		m[p.Signal(v.Sig).Name] = v
	}
	return m, res
}

// TestDecodeHandComputed checks values worked out by hand from the DBC text,
// following cantools' layout rules (start_bit() and bitstruct formats).
func TestDecodeHandComputed(t *testing.T) {
	db, p := loadLayout(t)
	f64 := make([]byte, 8)
	binary.BigEndian.PutUint64(f64, math.Float64bits(-2.25))
	floats := append([]byte{0x00, 0x00, 0xC0, 0x3F}, f64...) // F32 = 1.5 (LE), F64 at bytes 4..11 (BE)
	floats = append(floats, 0, 0x01, 0, 0)                   // Bit = byte 13 bit 0
	var fd [64]byte
	fd[62], fd[63] = 0xA5, 0xBC
	for i := 7; i <= 15; i++ {
		fd[i] = byte(0x10 * i)
	}
	tests := []struct {
		desc string
		f    can.Frame
		want map[string]float64
		oor  uint16
	}{
		{"intel and motorola", frame(256, 0, 1, 2, 3, 4, 5, 6, 7, 0xFE),
			map[string]float64{"Intel16": 0x0201, "Moto16": 0x0304, "Moto12": 0x607, "Signed8": -2}, 0},
		{"signed out of range is not clamped", frame(256, 0, 0, 0, 0, 0, 0, 0, 0, 0x80),
			map[string]float64{"Intel16": 0, "Moto16": 0, "Moto12": 0, "Signed8": -128*0.5 - 1}, 1},
		{"floats and a scaled 1-bit signal", frame(257, can.FD, floats...),
			map[string]float64{"F32": 1.5, "F64": -2.25*2 + 1, "Bit": 1*0.01 + 5}, 0},
		{"29-bit id, 64-bit counter", frame(0x0CF004FE, can.Extended, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF),
			map[string]float64{"Counter": math.MaxUint64}, 0},
		{"64-byte FD, signals at the end and over 9 bytes", frame(258, can.FD, fd[:]...),
			map[string]float64{"Tail": 0xBCA, "TailMoto": float64(int8(-0x5B)), "Wide": float64(wideExpect(fd[:]))}, 0},
		{"simple mux 0", frame(259, 0, 0, 7, 0x10, 0x27, 0, 0, 0, 0),
			map[string]float64{"Mux": 0, "Always": 7, "A0": 0x2710 * 0.1}, 1},
		{"simple mux 1", frame(259, 0, 1, 7, 0x10, 0x27, 0, 0, 0, 0),
			map[string]float64{"Mux": 1, "Always": 7, "B1": 0x10, "C1": 0x27}, 0},
		{"simple mux 2: a label, no signals", frame(259, 0, 2, 7, 0, 0, 0, 0, 0, 0),
			map[string]float64{"Mux": 2, "Always": 7}, 0},
		{"extended mux top 0", frame(260, 0, 0, 2, 9, 8, 0, 0, 0, 0),
			map[string]float64{"Top": 0, "Other": 8}, 0},
		{"extended mux 1/2", frame(260, 0, 1, 2, 9, 8, 0, 0, 0, 0),
			map[string]float64{"Top": 1, "Sub": 2, "Leaf2": 9}, 0},
		{"extended mux 1/4 (range 3-5)", frame(260, 0, 1, 4, 9, 8, 0, 0, 0, 0),
			map[string]float64{"Top": 1, "Sub": 4, "Leaf3": 9}, 0},
		{"extended mux 1/7", frame(260, 0, 1, 7, 9, 8, 0, 0, 0, 0),
			map[string]float64{"Top": 1, "Sub": 7, "Leaf3": 9}, 0},
		{"longer frame decodes", frame(256, can.FD, 1, 2, 3, 4, 5, 6, 7, 0xFE, 9, 9, 9, 9),
			map[string]float64{"Intel16": 0x0201, "Moto16": 0x0304, "Moto12": 0x607, "Signed8": -2}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, res := decodeMap(t, p, tc.f)
			if res.Status != Decoded {
				t.Fatalf("status %v, want decoded", res.Status)
			}
			if len(got) != len(tc.want) {
				t.Errorf("got %d values %v, want %d", len(got), got, len(tc.want))
			}
			for name, w := range tc.want {
				v, ok := got[name]
				if !ok {
					t.Errorf("%s missing", name)
				} else if v.Num != w {
					t.Errorf("%s = %v (raw %#x), want %v", name, v.Num, v.Raw, w)
				}
			}
			if res.OutOfRange != tc.oor {
				t.Errorf("out of range %d, want %d", res.OutOfRange, tc.oor)
			}
		})
	}
	if m := db.Message("FD64"); !m.FD || db.Message("Layout").FD || !db.Message("Ext29").Extended {
		t.Errorf("FD/extended flags wrong: FD64.FD=%v Layout.FD=%v Ext29.Extended=%v", m.FD, db.Message("Layout").FD, db.Message("Ext29").Extended)
	}
}

// wideExpect reads bits 60..123 of d as a little-endian integer, the slow way.
func wideExpect(d []byte) uint64 {
	var v uint64
	for i := 0; i < 64; i++ {
		n := 60 + i
		if d[n/8]>>(n%8)&1 != 0 {
			v |= 1 << i
		}
	}
	return v
}

func TestDecodeSkips(t *testing.T) {
	_, p := loadLayout(t)
	tests := []struct {
		desc string
		f    can.Frame
		want Status
	}{
		{"unknown id", frame(0x7FF, 0, 1, 2), UnknownID},
		{"standard id with extended flag", frame(256, can.Extended, 1, 2, 3, 4, 5, 6, 7, 8), UnknownID},
		{"extended id without flag", frame(0x0CF004FE&0x7FF, 0, 1, 2, 3, 4, 5, 6, 7, 8), UnknownID},
		{"too short", frame(256, 0, 1, 2, 3, 4, 5, 6, 7), TooShort},
		{"8-byte frame of a 64-byte FD message", frame(258, can.FD, 1, 2, 3, 4, 5, 6, 7, 8), TooShort},
		{"remote", frame(256, can.Remote), NotData},
		{"error frame", frame(256, can.Error, 1, 2, 3, 4, 5, 6, 7, 8), NotData},
		{"simple mux value with no branch", frame(259, 0, 3, 0, 0, 0, 0, 0, 0, 0), UnknownMux},
		{"extended top value with no branch", frame(260, 0, 2, 0, 0, 0, 0, 0, 0, 0), UnknownMux},
		{"extended nested value with no branch", frame(260, 0, 1, 6, 0, 0, 0, 0, 0, 0), UnknownMux},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			vals, res := p.Decode(addr(tc.f), nil)
			if res.Status != tc.want || len(vals) != 0 {
				t.Errorf("status %v with %d values, want %v and none", res.Status, len(vals), tc.want)
			}
		})
	}
}

func TestDecodeAllocs(t *testing.T) {
	_, p := loadLayout(t)
	frames := []can.Frame{
		frame(256, 0, 1, 2, 3, 4, 5, 6, 7, 0xFE),
		frame(260, 0, 1, 4, 9, 8, 0, 0, 0, 0),
		frame(0x0CF004FE, can.Extended, 1, 2, 3, 4, 5, 6, 7, 8),
		frame(999, 0, 1),
	}
	out := make([]Value, 0, p.MaxValues())
	allocs := testing.AllocsPerRun(100, func() {
		for _, f := range frames {
			out, _ = p.Decode(addr(f), out)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per run, want 0", allocs)
	}
}

// TestExtractorAllLayouts checks the shift-and-mask extraction against the
// bit-by-bit definition for every start bit and length of a 64-byte
// payload, both byte orders, signed and unsigned.
func TestExtractorAllLayouts(t *testing.T) {
	var d [64]byte
	for i := range d {
		d[i] = byte(i*37 + 11)
	}
	m := &Message{Length: 64}
	n := 0
	for _, be := range []bool{false, true} {
		for length := 1; length <= 64; length++ {
			for start := 0; start < 512; start++ {
				s := &Signal{Message: m, Start: start, Length: length, BigEndian: be, Signed: length%2 == 0}
				if lastBit(s) > 512 {
					continue
				}
				e := newExtractor(s)
				want := getRawSlow(s, d[:])
				if s.Signed && length < 64 && want>>(length-1)&1 != 0 {
					want |= math.MaxUint64 << length
				}
				if got := e.raw(&d); got != want {
					t.Fatalf("be=%v start=%d len=%d: got %#x, want %#x", be, start, length, got, want)
				}
				n++
			}
		}
	}
	t.Logf("%d layouts", n)
}

func TestAppendNumber(t *testing.T) {
	_, p := loadLayout(t)
	cases := []struct {
		f    can.Frame
		sig  string
		want string
	}{
		{frame(0x0CF004FE, can.Extended, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF), "Counter", "18446744073709551615"},
		{frame(256, 0, 1, 2, 3, 4, 5, 6, 7, 0xFE), "Intel16", "513"},
		{frame(256, 0, 1, 2, 3, 4, 5, 6, 7, 0xFF), "Signed8", "-1.5"},
		{frame(259, 0, 0, 7, 0x11, 0x27, 0, 0, 0, 0), "A0", "1000.1"},
	}
	for _, c := range cases {
		vals, _ := p.Decode(addr(c.f), nil)
		found := false
		for _, v := range vals {
			if p.Signal(v.Sig).Name == c.sig {
				found = true
				if got := string(p.AppendNumber(nil, v)); got != c.want {
					t.Errorf("%s: %s, want %s", c.sig, got, c.want)
				}
			}
		}
		if !found {
			t.Errorf("%s not decoded", c.sig)
		}
	}
}

func TestParseErrorsNameTheLine(t *testing.T) {
	text := "VERSION \"\"\n\nBO_ 1 M: 8 X\n SG_ A : 0|8@1+ (1,0) [0|0] \"\" X\n SG_ B : oops\n"
	_, err := Parse("bad.dbc", []byte(text))
	if err == nil || !strings.Contains(err.Error(), "bad.dbc:5:") {
		t.Fatalf("error %v, want one naming bad.dbc:5", err)
	}
}

func TestPrescanKeepsLines(t *testing.T) {
	text := []byte("NS_ :\n\tSG_MUL_VAL_\n\nBO_ 9 M: 8 X\n SG_ A m1M : 0|8@1+ (1,0) [0|0] \"\" X\n SG_ B m2 : 8|8@1+ (1,0) [0|0] \"\" X\n" +
		"SG_MUL_VAL_ 9 B A 1-3, 5-5;\nSIG_GROUP_ 9 G 1 : A B;\nVAL_ 9 A 1 \"x;y\" ;\n")
	ps, out := prescanText("t.dbc", text)
	if strings.Count(string(out), "\n") != strings.Count(string(text), "\n") || len(out) != len(text) {
		t.Fatalf("prescan moved text:\n%s", out)
	}
	if ps.markers[5] != "m1M" || ps.markers[6] != "m2" {
		t.Errorf("markers %v", ps.markers)
	}
	if len(ps.mulVals) != 1 || ps.mulVals[0].line != 7 || len(ps.mulVals[0].ranges) != 2 || ps.mulVals[0].ranges[1] != (muxRange{5, 5}) {
		t.Errorf("mulVals %+v", ps.mulVals)
	}
	db, err := Parse("t.dbc", text)
	if err != nil {
		t.Fatal(err)
	}
	b := db.Message("M").Signal("B")
	if b.MuxParent == nil || b.MuxParent.Name != "A" || b.Pos.Line != 6 {
		t.Errorf("B: parent %v line %d", b.MuxParent, b.Pos.Line)
	}
	if got := b.MuxValues(); len(got) != 2 || got[0] != (MuxRange{1, 3}) {
		t.Errorf("B mux values %v", got)
	}
}

// addr returns a pointer to a copy of f, for Decode.
func addr(f can.Frame) *can.Frame { return &f }
