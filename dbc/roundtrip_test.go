package dbc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"testing"

	ecan "go.einride.tech/can"
	"go.einride.tech/can/pkg/descriptor"

	"github.com/kanal-dev/kanal/can"
)

// refDecode is a second, deliberately naive decoder written from cantools'
// message.py (_create_codec, _decode) and utils.py (decode_data): it walks
// the multiplexer tree recursively and reads bits one at a time. Decode
// must agree with it on every frame.
func refDecode(m *Message, data []byte) (map[string]float64, Status) {
	if len(data) < m.Length {
		return nil, TooShort
	}
	out := map[string]float64{}
	var walk func(parent *Signal, id int64) Status
	walk = func(parent *Signal, id int64) Status {
		for _, s := range m.Signals {
			if s.MuxParent != parent || s.undecoded != "" {
				continue
			}
			if parent != nil && !s.muxIDs.has(id) {
				continue
			}
			raw := getRawSlow(s, data)
			out[s.Name] = refPhysical(s, raw)
		}
		for _, s := range m.Signals {
			if s.MuxParent != parent || s.undecoded != "" || !s.Multiplexer || (parent != nil && !s.muxIDs.has(id)) {
				continue
			}
			children := s.childIDs
			if children.empty() {
				continue // cantools: no entry in node['multiplexers']
			}
			mux := muxNumberOfRaw(s, getRawSlow(s, data))
			if !children.has(mux) {
				return UnknownMux
			}
			if st := walk(s, mux); st != Decoded {
				return st
			}
		}
		return Decoded
	}
	if st := walk(nil, 0); st != Decoded {
		return nil, st
	}
	return out, Decoded
}

func refPhysical(s *Signal, raw uint64) float64 {
	var x float64
	switch s.Type {
	case Float32:
		x = float64(math.Float32frombits(uint32(raw)))
	case Float64:
		x = math.Float64frombits(raw)
	case Float16:
		x = half(uint16(raw))
	default:
		if s.Signed && s.Length < 64 && raw>>(s.Length-1)&1 != 0 {
			raw |= math.MaxUint64 << s.Length
		}
		if s.Signed {
			x = float64(int64(raw))
		} else {
			x = float64(raw)
		}
	}
	return float64(x*s.Factor) + s.Offset
}

// muxScenarios lists, for a message, assignments of multiplexer raw values
// that together reach every value each multiplexer defines (at most 64 per
// multiplexer, both ends of every range).
func muxScenarios(m *Message) []map[string]uint64 {
	var muxers []*Signal
	for _, s := range m.Signals {
		if s.Multiplexer && s.undecoded == "" {
			muxers = append(muxers, s)
		}
	}
	base := map[string]uint64{}
	values := map[*Signal][]uint64{}
	for _, s := range muxers {
		for _, r := range s.childIDs.list() {
			values[s] = append(values[s], r.Lo)
			if r.Hi != r.Lo {
				values[s] = append(values[s], r.Hi)
			}
			if len(values[s]) > 64 {
				break
			}
		}
		if len(values[s]) > 0 {
			base[s.Name] = values[s][0]
		}
	}
	scenarios := []map[string]uint64{base}
	for _, s := range muxers {
		for _, v := range values[s] {
			sc := map[string]uint64{}
			for k, x := range base {
				sc[k] = x
			}
			sc[s.Name] = v
			// make the chain above s select s
			for c := s; c.MuxParent != nil; c = c.MuxParent {
				if ids := c.muxIDs.list(); len(ids) > 0 {
					sc[c.MuxParent.Name] = ids[0].Lo
				}
			}
			scenarios = append(scenarios, sc)
		}
	}
	return scenarios
}

func randomRaw(r *rand.Rand, s *Signal) uint64 {
	switch s.Type {
	case Float32:
		return uint64(math.Float32bits(float32(r.NormFloat64() * 1000)))
	case Float64:
		return math.Float64bits(r.NormFloat64() * 1e6)
	case Float16:
		return uint64(toHalf(r.NormFloat64() * 10))
	}
	v := r.Uint64()
	if s.Length < 64 {
		v &= 1<<s.Length - 1
	}
	return v
}

func sameFloat(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }

// TestRoundTripSharedDBCs encodes random values into every message of every
// shared DBC, under every multiplexer value, and checks that Decode (1)
// agrees exactly with the reference decoder and (2) returns the raw value
// written for every selected signal whose bits no other selected signal
// shares (several files have overlapping signals).
func TestRoundTripSharedDBCs(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	names := sortedNames(sharedDBCs(t))
	dbs := sharedDBCs(t)
	for _, name := range names {
		db := dbs[name]
		t.Run(name, func(t *testing.T) {
			p, err := NewPlan(db)
			if err != nil {
				t.Fatal(err)
			}
			out := make([]Value, 0, p.MaxValues())
			frames, checked := 0, 0
			for _, m := range db.Messages {
				if m.Length > 64 || p.find(m.ID, m.Extended) < 0 || p.messages[p.find(m.ID, m.Extended)] != m {
					continue
				}
				for _, sc := range muxScenarios(m) {
					for rep := 0; rep < 3; rep++ {
						raw := map[string]uint64{}
						for _, s := range m.Signals {
							if s.undecoded == "" {
								raw[s.Name] = randomRaw(r, s)
							}
						}
						for k, v := range sc {
							raw[k] = v
						}
						data, err := m.EncodeRaw(raw)
						if err != nil {
							t.Fatal(err)
						}
						f := frameOf(m, data)
						vals, res := p.Decode(addr(f), out)
						want, wantSt := refDecode(m, data)
						frames++
						if res.Status != wantSt {
							t.Fatalf("%s %v: status %v, reference %v", m.Name, sc, res.Status, wantSt)
						}
						if res.Status != Decoded {
							continue
						}
						if len(vals) != len(want) {
							t.Fatalf("%s %v: %d values, reference %d", m.Name, sc, len(vals), len(want))
						}
						owned := bitOwners(m, vals, p)
						for _, v := range vals {
							s := p.Signal(v.Sig)
							if w, ok := want[s.Name]; !ok || !sameFloat(v.Num, w) {
								t.Fatalf("%s.%s = %v, reference %v (present %v)", m.Name, s.Name, v.Num, w, ok)
							}
							if owned[s] {
								got := v.Raw
								if s.Length < 64 {
									got &= 1<<s.Length - 1
								}
								if got != raw[s.Name] {
									t.Fatalf("%s.%s: raw %#x, encoded %#x", m.Name, s.Name, got, raw[s.Name])
								}
								checked++
							}
						}
						for k, v := range sc {
							s := m.Signal(k)
							if owned[s] && raw[k] != v {
								t.Fatalf("%s: multiplexer %s lost its value", m.Name, k)
							}
						}
					}
				}
			}
			t.Logf("%d frames, %d values checked against what was encoded", frames, checked)
		})
	}
}

// bitOwners reports the decoded signals that share no bit with another
// decoded signal of the same frame.
func bitOwners(m *Message, vals []Value, p *Plan) map[*Signal]bool {
	count := make([]int, 8*m.Length)
	for _, v := range vals {
		s := p.Signal(v.Sig)
		for i := 0; i < s.Length; i++ {
			b, bit := bitPos(s, i)
			count[8*b+bit]++
		}
	}
	own := map[*Signal]bool{}
	for _, v := range vals {
		s := p.Signal(v.Sig)
		own[s] = true
		for i := 0; i < s.Length; i++ {
			b, bit := bitPos(s, i)
			if count[8*b+bit] > 1 {
				own[s] = false
			}
		}
	}
	return own
}

func sortedNames(m map[string]*Database) []string {
	var names []string
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// einrideMessage builds einride's descriptor for m, as its internal
// generator would from the same DBC (einride exports no compiler).
func einrideMessage(m *Message) *descriptor.Message {
	em := &descriptor.Message{Name: m.Name, ID: m.ID, IsExtended: m.Extended, Length: uint8(m.Length)}
	for _, s := range m.Signals {
		em.Signals = append(em.Signals, &descriptor.Signal{
			Name: s.Name, Start: uint8(s.Start), Length: uint8(s.Length), IsBigEndian: s.BigEndian,
			IsSigned: s.Signed, IsFloat: s.Type != Integer, IsMultiplexer: s.Multiplexer,
			IsMultiplexed: s.MuxParent != nil, Offset: s.Offset, Scale: s.Factor, Min: s.Min, Max: s.Max, Unit: s.Unit,
		})
	}
	return em
}

// TestAgreesWithEinride compares with einride's descriptor decode where
// einride is right: integer signals longer than one bit whose value it
// does not clamp, in classic frames.
func TestAgreesWithEinride(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	dbs := sharedDBCs(t)
	compared := 0
	for _, name := range sortedNames(dbs) {
		db := dbs[name]
		p, err := NewPlan(db)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range db.Messages {
			if m.Length > 8 {
				continue
			}
			em := einrideMessage(m)
			for rep := 0; rep < 20; rep++ {
				f := can.Frame{ID: m.ID, Len: 8}
				if m.Extended {
					f.Flags = can.Extended
				}
				for i := range 8 {
					f.Data[i] = byte(r.Uint32())
				}
				vals, res := p.Decode(addr(f), nil)
				if res.Status != Decoded {
					continue
				}
				var ed ecan.Data
				copy(ed[:], f.Data[:8])
				for _, v := range vals {
					s := p.Signal(v.Sig)
					if s.Type != Integer || s.Length < 2 || s.HasRange() && (v.Num < s.Min || v.Num > s.Max) {
						continue
					}
					if got := em.Signals[s.Index].UnmarshalPhysical(ed); got != v.Num {
						t.Fatalf("%s %s.%s: einride %v, plan %v", name, m.Name, s.Name, got, v.Num)
					}
					compared++
				}
			}
		}
	}
	t.Logf("%d values agree with einride", compared)
}

// TestSharedCandumps decodes the real logs with their DBCs (see the README
// next to them) and checks that the counts add up and are plausible.
func TestSharedCandumps(t *testing.T) {
	dir := sharedDir(t, "candumps")
	dbcDir := sharedDir(t, "dbc")
	cases := []struct {
		log, dbc   string
		frames     uint64
		minDecoded float64 // fraction of frames
	}{
		{"ford_gt350.log", "ford_lincoln_base_pt.dbc", 278804, 0.5},
		{"hyundai_kona.log", "hyundai_kia_generic.dbc", 17173, 0.3},
		{"genesis.log", "hyundai_kia_generic.dbc", 55314, 0.1},
		{"toyota_yaris.log", "toyota_iQ_2009_can.dbc", 14343, 0.1},
	}
	for _, c := range cases {
		t.Run(c.log, func(t *testing.T) {
			if testing.Short() && c.frames > 100000 {
				t.Skip("large log in -short mode")
			}
			db, err := Load(filepath.Join(dbcDir, c.dbc))
			if err != nil {
				t.Fatal(err)
			}
			p, err := NewPlan(db)
			if err != nil {
				t.Fatal(err)
			}
			st := decodeLog(t, filepath.Join(dir, c.log), NewDecoder(p, nil))
			var skipped uint64
			for _, n := range st.Skipped {
				skipped += n
			}
			t.Logf("%s", fmtStats(st))
			if st.Frames != c.frames || st.Decoded+skipped != st.Frames {
				t.Errorf("frames %d (want %d), decoded %d + skipped %d", st.Frames, c.frames, st.Decoded, skipped)
			}
			if float64(st.Decoded) < c.minDecoded*float64(st.Frames) || st.Values < st.Decoded {
				t.Errorf("implausible: %s", fmtStats(st))
			}
		})
	}
}

func decodeLog(t testing.TB, path string, d *Decoder) Stats {
	t.Helper()
	lr, err := can.OpenLog(path, can.LogReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer lr.Close()
	out := make([]Value, 0, d.MaxValues())
	for {
		tf, err := lr.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out, _, _ = d.Decode(&tf, out)
	}
	return d.Stats
}

func fmtStats(st Stats) string {
	s := fmt.Sprintf("frames %d decoded %d values %d out_of_range %d", st.Frames, st.Decoded, st.Values, st.OutOfRange)
	for i, n := range st.Skipped {
		if n > 0 {
			s += fmt.Sprintf(" %s %d", Status(i), n)
		}
	}
	return s
}
