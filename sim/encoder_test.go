package sim

import (
	"bytes"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kanal-dev/kanal/dbc"
)

// layouts is a DBC of layouts the demo vehicle lacks: a 64-bit Motorola
// signal, a float64, a signed scaled Motorola signal under a multiplexer,
// an odd Intel signal crossing bytes.
const layouts = `VERSION ""
BO_ 100 Wide: 16 X
 SG_ Big : 7|64@0+ (1,0) [0|0] "" X
 SG_ F64 : 64|64@1- (1,0) [0|0] "" X
BO_ 101 Mux: 8 X
 SG_ Sel M : 0|4@1+ (1,0) [0|0] "" X
 SG_ A m0 : 15|12@0- (0.5,-10) [-1000|1000] "" X
 SG_ B m1 : 4|19@1+ (0.25,0) [0|0] "" X
 SG_ C : 40|11@1- (1,0) [0|0] "" X
SIG_VALTYPE_ 100 F64 : 2;
`

// TestEncoderMatchesEncode encodes random values of every message of the
// demo vehicle and of layouts, with every multiplexer page, through the
// Encoder and through dbc.Message.Encode, and wants the same bytes.
func TestEncoderMatchesEncode(t *testing.T) {
	extra, err := dbc.Parse("layouts.dbc", []byte(layouts))
	if err != nil {
		t.Fatal(err)
	}
	for _, db := range []*dbc.Database{demoDB(t), extra} {
		t.Run(filepath.Base(db.File), func(t *testing.T) { matchesEncode(t, db) })
	}
}

func matchesEncode(t *testing.T, db *dbc.Database) {
	enc, err := NewEncoder(db)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i, m := range db.Messages {
		t.Run(m.Name, func(t *testing.T) {
			vs := newValues(&enc.msgs[i])
			for range 500 {
				vs.reset()
				want := map[string]float64{}
				for _, s := range m.Signals {
					if rng.IntN(5) == 0 && !s.Multiplexer {
						continue // some signals unset: their bits stay 0
					}
					x := randomPhysical(rng, s)
					vs.put(s.Name, x)
					want[s.Name] = x
				}
				f, err := vs.encode()
				if err != nil {
					t.Fatal(err)
				}
				data, err := m.Encode(want)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(f.Payload(), data) {
					t.Fatalf("values %v:\nencoder % x\nEncode  % x", want, f.Payload(), data)
				}
				if f.ID != m.ID || f.IsExtended() != m.Extended || f.IsFD() != m.FD {
					t.Fatalf("frame %v: id or flags differ from the message", f)
				}
			}
		})
	}
}

// randomPhysical returns a value in the signal's range, or around it when
// the DBC gives none (both encoders round and truncate alike, so any value
// will do); multiplexers get one of their pages, sometimes one that selects
// nothing.
func randomPhysical(rng *rand.Rand, s *dbc.Signal) float64 {
	if s.Multiplexer {
		return float64(rng.IntN(4))
	}
	lo, hi := s.Min, s.Max
	if !s.HasRange() {
		lo, hi = -100, 100
	}
	x := lo + (hi-lo)*rng.Float64()
	if s.Length == 64 && s.Type == dbc.Integer && rng.IntN(2) == 0 {
		x = float64(rng.Uint64() >> 12) // the high bits too
	}
	return x
}

func TestEncoderUnknownSignal(t *testing.T) {
	enc, err := NewEncoder(demoDB(t))
	if err != nil {
		t.Fatal(err)
	}
	vs := newValues(&enc.msgs[0])
	vs.put("NoSuchSignal", 1)
	if _, err := vs.encode(); err == nil || !strings.Contains(err.Error(), "no signal NoSuchSignal") {
		t.Fatalf("encode with an unknown signal: %v", err)
	}
}

// TestEncoderRefusesLayouts builds encoders of DBC files whose layouts it
// cannot learn and wants an error naming the signal.
func TestEncoderRefusesLayouts(t *testing.T) {
	for _, tc := range []struct{ name, dbc, want string }{
		{"scaled multiplexer", `VERSION ""
BO_ 1 M: 8 X
 SG_ Page M : 0|8@1+ (2,0) [0|0] "" X
 SG_ A m1 : 8|8@1+ (1,0) [0|0] "" X
`, "M.A: multiplexer Page is scaled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := dbc.Parse("test.dbc", []byte(tc.dbc))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := NewEncoder(db); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewEncoder: %v, want %q", err, tc.want)
			}
		})
	}
}

func BenchmarkTransmitter(b *testing.B) {
	db, err := dbc.Load(demoDir + "/kanal_demo.dbc")
	if err != nil {
		b.Fatal(err)
	}
	enc, err := NewEncoder(db)
	if err != nil {
		b.Fatal(err)
	}
	sc := DemoDrives()[0]
	v := newVehicle(&sc, nil)
	tx, err := NewTransmitter(scenarioModel{v}, TransmitterOptions{Encoder: enc, Start: sc.Start, Noise: v.rng})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := tx.Next(); !ok {
			b.Fatal(tx.Err())
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}
