package dbc

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kanal-dev/kanal/can"
)

var inlineDBCs = []string{
	"BO_ 1 M: 8 X\n SG_ A : 0|8@1+ (1,0) [0|0] \"\" X\n",
	"BO_ 2 M: 8 X\n SG_ S M : 0|4@1+ (1,0) [0|0] \"\" X\n SG_ T m1M : 4|4@1+ (1,0) [0|0] \"\" X\n SG_ U m2 : 8|56@0- (0.5,1) [0|0] \"\" X\nSG_MUL_VAL_ 2 T S 1-1;\nSG_MUL_VAL_ 2 U T 2-3;\n",
	"BO_ 2147483905 E: 64 X\n SG_ F : 7|64@0- (1,0) [0|0] \"\" X\nSIG_VALTYPE_ 2147483905 F : 2;\nVAL_ 2147483905 F 1 \"one\" ;\n",
	"BO_ 3 M: 1 X\n SG_ A m : 0|9@1+ (1,0) [0|0] \"\" X\n",
}

// FuzzCompile feeds DBC text to Parse, NewPlan and Lint, and a frame built
// from the fuzzer's bytes to Decode: none may panic, and a decode must stay
// within MaxValues.
func FuzzCompile(f *testing.F) {
	for _, s := range inlineDBCs {
		f.Add([]byte(s), []byte{1, 2, 3, 4, 5, 6, 7, 8})
	}
	for _, dir := range []string{"testdata", filepath.Join("..", "..", "shared", "dbc")} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.dbc"))
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil && len(b) < 200<<10 {
				f.Add(b, []byte{0xFF, 0, 0xFF, 0, 1, 2, 3, 4})
			}
		}
	}
	f.Fuzz(func(t *testing.T, text, payload []byte) {
		db, err := Parse("fuzz.dbc", text)
		if err != nil {
			return
		}
		Lint(db)
		p, err := NewPlan(db)
		if err != nil {
			return
		}
		out := make([]Value, 0, p.MaxValues())
		for _, m := range db.Messages {
			fr := can.Frame{ID: m.ID, Len: uint8(min(len(payload), 64))}
			if m.Extended {
				fr.Flags = can.Extended
			}
			copy(fr.Data[:], payload)
			vals, _ := p.Decode(addr(fr), out)
			if len(vals) > p.MaxValues() {
				t.Fatalf("%d values, MaxValues %d", len(vals), p.MaxValues())
			}
			raw := map[string]uint64{}
			for _, s := range m.Signals {
				raw[s.Name] = uint64(len(s.Name))
			}
			_, _ = m.EncodeRaw(raw)
		}
	})
}

// FuzzDecode runs random frames through the plan of testdata/layout.dbc.
func FuzzDecode(f *testing.F) {
	_, p := loadLayout(f)
	f.Add(uint32(256), uint16(0), []byte{1, 2, 3, 4, 5, 6, 7, 8})
	f.Add(uint32(260), uint16(0), []byte{1, 4, 9, 8, 0, 0, 0, 0})
	f.Add(uint32(0x0CF004FE), uint16(can.Extended), make([]byte, 8))
	f.Add(uint32(258), uint16(can.FD), make([]byte, 64))
	f.Fuzz(func(t *testing.T, id uint32, flags uint16, data []byte) {
		fr := can.Frame{ID: id, Flags: can.Flags(flags), Len: uint8(min(len(data), 64))}
		copy(fr.Data[:], data)
		vals, res := p.Decode(addr(fr), nil)
		if res.Status != Decoded && len(vals) != 0 {
			t.Fatalf("status %v with %d values", res.Status, len(vals))
		}
		if res.Status == Decoded {
			m := p.Message(res.Msg)
			want, st := refDecode(m, fr.Data[:fr.Len])
			if st != Decoded || len(want) != len(vals) {
				t.Fatalf("%s: reference %v with %d values, plan %d", m.Name, st, len(want), len(vals))
			}
			for _, v := range vals {
				if w := want[p.Signal(v.Sig).Name]; !sameFloat(w, v.Num) {
					t.Fatalf("%s.%s: plan %v, reference %v", m.Name, p.Signal(v.Sig).Name, v.Num, w)
				}
			}
		}
	})
}
