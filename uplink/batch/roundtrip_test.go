package batch

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/uplink/batch/internal/batchpb"
)

const t0 = 1732221946679678000 // a candump time, µs precision

// vals builds values of one id at times t0 + i×dt with the given numbers.
func vals(id uint32, dt int64, nums ...float64) []catalog.Value {
	out := make([]catalog.Value, len(nums))
	for i, n := range nums {
		out[i] = catalog.Value{ID: id, Time: t0 + int64(i)*dt, Num: n}
	}
	return out
}

func concat(vss ...[]catalog.Value) []catalog.Value {
	var out []catalog.Value
	for _, vs := range vss {
		out = append(out, vs...)
	}
	return out
}

// dbcValue is a DBC physical value as the decoder computes it, in float64
// at run time: raw × factor + offset, with its rounding noise.
func dbcValue(raw int, factor, offset float64) float64 { return float64(raw)*factor + offset }

// cellIDs are S2 cell ids as the agent produces them (catalog type cell):
// level 13, on faces 0, 4 and 5, the last two at or above 2^63.
var cellIDs = []float64{0x0b1c5f5000000000, 0x89c2590000000000, 0xb49b7b3000000000, 0xb49b7b5000000000, 0xffff_ffff_ffff_f800}

// roundTripCases are batches that must come back bit for bit. Each names
// the column kinds it exercises.
var roundTripCases = []struct {
	desc   string
	values []catalog.Value
}{
	{"empty batch", nil},
	{"one boolean", vals(4, 1000, 1)},
	{"booleans", vals(4, 20_000_000, 0, 1, 1, 0, 1, 0, 0, 0, 1)},
	{"enum indexes", vals(300, 1000, 0, 4, 5, 1, 0)},
	{"signed integers", vals(13, 1000, -540, 0, 17, 32767, -32768)},
	{"decimals", vals(1, 10_000_000, 12.25, 12.5, 13.75, 0.1, 0.01, 99.99)},
	{"nine decimals", vals(1, 1000, 0.123456789, 1e-9, -1e-9)},
	{"DBC float noise", vals(9, 10_000_000, dbcValue(1363, 0.01, -40), dbcValue(4963, 0.01, -40), dbcValue(2049, 0.03663, -75), dbcValue(32001, 0.1, -3200), 0.30000000000000004)},
	{"float32 values", vals(7, 1000, float64(float32(9.81)), float64(float32(-0.3)), float64(float32(1e30)))},
	{"arbitrary float64", vals(100, 1000, 48.137154, 11.576124, math.Pi, math.E, math.MaxFloat64, math.SmallestNonzeroFloat64)},
	{"negative zero", vals(13, 1000, math.Copysign(0, -1), 0, 1)},
	{"negative zero alone", vals(13, 1000, math.Copysign(0, -1))},
	{"infinities", vals(5, 1000, math.Inf(1), math.Inf(-1), 3)},
	{"NaN payloads", vals(5, 1000, math.NaN(), math.Float64frombits(0x7ff0000000000001), math.Float64frombits(0xfff8dead00000000), 1.5)},
	{"NaN in decimals", vals(5, 1000, 1, 2, math.NaN(), 3)},
	{"cell ids at and above 2^63", vals(107, 5_000_000_000, cellIDs...)},
	{"largest float64 below 2^64", vals(107, 1000, 0x1p64-0x1p11, 0)},
	{"2^64 is not a uint64", vals(107, 1000, 0x1p64, 1)},
	{"integers beyond 2^53", vals(2, 1000, 0x1p60, 0x1p60+0x1p8, -0x1p62, 0x1p63-0x1p10)},
	{"wide decimals", vals(2, 1000, 9e9, -9e9, 9.2e9, 1234567890.123456789)},
	{"same value repeated", vals(1, 1000, 42.42, 42.42, 42.42, 42.42)},
	{"nanosecond times", []catalog.Value{{ID: 1, Time: 1, Num: 1}, {ID: 1, Time: 3, Num: 2}, {ID: 1, Time: 1e9 + 7, Num: 3}}},
	{"millisecond times", vals(1, 20_000_000, 1, 2, 3)},
	{"whole-second times", []catalog.Value{{ID: 1, Time: 17e17, Num: 1}, {ID: 1, Time: 17e17 + 3e9, Num: 2}}},
	{"times out of order", []catalog.Value{{ID: 1, Time: t0 + 5000, Num: 1}, {ID: 1, Time: t0, Num: 2}, {ID: 1, Time: t0 + 9000, Num: 3}, {ID: 1, Time: t0 - 1e9, Num: 4}}},
	{"equal times", []catalog.Value{{ID: 1, Time: t0, Num: 1}, {ID: 1, Time: t0, Num: 2}}},
	{"negative times", []catalog.Value{{ID: 1, Time: -5e9 - 3, Num: 1}, {ID: 1, Time: -1, Num: 2}, {ID: 1, Time: 0, Num: 3}}},
	{"extreme times", []catalog.Value{{ID: 1, Time: math.MinInt64, Num: 1}, {ID: 1, Time: math.MaxInt64, Num: 2}, {ID: 2, Time: 0, Num: 3}, {ID: 1, Time: math.MinInt64 + 1, Num: 4}}},
	{"extreme whole seconds", []catalog.Value{{ID: 1, Time: math.MinInt64 / 1e9 * 1e9, Num: 1}, {ID: 1, Time: math.MaxInt64 / 1e9 * 1e9, Num: 2}}},
	{"interleaved ids", func() []catalog.Value {
		var out []catalog.Value
		for i := range 300 {
			out = append(out, catalog.Value{ID: uint32(7 - i%5), Time: t0 + int64(i)*1000, Num: float64(i%11) * 0.5})
		}
		return out
	}()},
	{"largest ids", concat(vals(math.MaxUint32, 1000, 1, 2), vals(catalog.MinUserID, 1000, 3), vals(1, 1000, 4))},
	{"mixed kinds", concat(vals(4, 1000, 0, 1), vals(1, 1000, 12.5, dbcValue(1363, 0.01, -40)), vals(107, 1000, cellIDs[1]), vals(100, 1000, math.Pi), vals(5, 1000, math.NaN()))},
}

func TestRoundTrip(t *testing.T) {
	e, d := newEncoder(t, EncoderOptions{}), newDecoder(t, DecoderOptions{})
	for _, tc := range roundTripCases {
		t.Run(tc.desc, func(t *testing.T) {
			checkRoundTrip(t, e, d, &Batch{Header: testHeader(), Values: tc.values})
		})
	}
}

// TestRoundTripLevels: every zstd level and the uncompressed body decode
// to the same values.
func TestRoundTripLevels(t *testing.T) {
	d := newDecoder(t, DecoderOptions{})
	for level := 1; level <= 4; level++ {
		e := newEncoder(t, EncoderOptions{Level: level})
		for _, tc := range roundTripCases {
			checkRoundTrip(t, e, d, &Batch{Header: testHeader(), Values: tc.values})
		}
	}
	e := newEncoder(t, EncoderOptions{})
	e.noCompress = true
	for _, tc := range roundTripCases {
		checkRoundTrip(t, e, d, &Batch{Header: testHeader(), Values: tc.values})
	}
}

// TestColumnKinds pins the form each kind of data takes on the wire: a
// change here changes the size of every batch.
func TestColumnKinds(t *testing.T) {
	for _, tc := range []struct {
		desc     string
		values   []catalog.Value
		kind     batchpb.Kind
		exponent uint32
		step     uint64
		ulps     bool
		timeExp  uint32
	}{
		{"booleans", vals(1, 1000, 0, 1, 0), batchpb.Kind_KIND_DECIMAL, 0, 0, false, 3},
		{"quarter steps", vals(1, 1000, 0.25, 0.5, 1.5), batchpb.Kind_KIND_DECIMAL, 2, 25, false, 3},
		{"tenths", vals(1, 1000, 0.1, 0.2, 0.7), batchpb.Kind_KIND_DECIMAL, 1, 0, false, 3},
		{"DBC noise", vals(1, 1000, dbcValue(1363, 0.01, -40), dbcValue(1364, 0.01, -40), dbcValue(1373, 0.01, -40)), batchpb.Kind_KIND_DECIMAL, 2, 0, true, 3},
		{"DBC noise, factor 0.035", vals(1, 1000, dbcValue(513, 0.035, -17.9), dbcValue(514, 0.035, -17.9), dbcValue(521, 0.035, -17.9)), batchpb.Kind_KIND_DECIMAL, 3, 35, true, 3},
		{"cells", vals(107, 1000, cellIDs[1], cellIDs[2], cellIDs[3]), batchpb.Kind_KIND_UNSIGNED, 0, 1 << 36, false, 3},
		{"float32", vals(1, 1000, float64(float32(0.1)), float64(float32(0.2))), batchpb.Kind_KIND_FLOAT32, 0, 0, false, 3},
		{"random float64", vals(1, 1000, math.Pi, math.E, math.Sqrt2), batchpb.Kind_KIND_FLOAT64, 0, 0, false, 3},
		{"NaN with integers", vals(1, 1000, 1, 2, math.NaN(), 3, 4, 5), batchpb.Kind_KIND_DECIMAL, 0, 0, true, 3},
		{"-0 with float32", vals(1, 1000, math.Copysign(0, -1), 1.5), batchpb.Kind_KIND_FLOAT32, 0, 0, false, 3},
		{"nanosecond times", []catalog.Value{{ID: 1, Time: 1, Num: 1}, {ID: 1, Time: 2, Num: 1}}, batchpb.Kind_KIND_DECIMAL, 0, 0, false, 0},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			p := checkRoundTrip(t, newEncoder(t, EncoderOptions{}), newDecoder(t, DecoderOptions{}), &Batch{Header: testHeader(), Values: tc.values})
			_, body := wireOf(t, p)
			if len(body.Columns) != 1 {
				t.Fatalf("%d columns, want 1", len(body.Columns))
			}
			c := body.Columns[0]
			if c.Kind != tc.kind || c.Exponent != tc.exponent || c.Step != tc.step || (len(c.Ulps) > 0) != tc.ulps || c.TimeExp != tc.timeExp {
				t.Fatalf("column %s exponent %d step %d ulps %v time_exp %d, want %s %d %d %v %d",
					c.Kind, c.Exponent, c.Step, len(c.Ulps) > 0, c.TimeExp, tc.kind, tc.exponent, tc.step, tc.ulps, tc.timeExp)
			}
		})
	}
}

// TestTimeSteps: a perfectly periodic signal costs one byte per time.
func TestTimeSteps(t *testing.T) {
	vs := vals(1, 100_000_000, make([]float64, 50)...)
	p := checkRoundTrip(t, newEncoder(t, EncoderOptions{}), newDecoder(t, DecoderOptions{}), &Batch{Header: testHeader(), Values: vs})
	_, body := wireOf(t, p)
	c := body.Columns[0]
	if c.TimeExp != 3 || c.TimeStep != 100_000 { // t0 has µs
		t.Fatalf("time_exp %d time_step %d, want 3 and 100000", c.TimeExp, c.TimeStep)
	}
	for i, d := range c.Times[1:] {
		if d != 1 {
			t.Fatalf("times[%d] = %d, want 1", i+1, d)
		}
	}
}

func TestColumnsAscendAndStable(t *testing.T) {
	vs := []catalog.Value{{ID: 9, Time: 3, Num: 1}, {ID: 2, Time: 9, Num: 2}, {ID: 9, Time: 1, Num: 3}, {ID: 2, Time: 2, Num: 4}, {ID: 5, Time: 5, Num: 5}}
	got, err := newDecoder(t, DecoderOptions{}).Decode(encode(t, &Batch{Header: testHeader(), Values: vs}))
	if err != nil {
		t.Fatal(err)
	}
	want := []catalog.Value{{ID: 2, Time: 9, Num: 2}, {ID: 2, Time: 2, Num: 4}, {ID: 5, Time: 5, Num: 5}, {ID: 9, Time: 3, Num: 1}, {ID: 9, Time: 1, Num: 3}}
	if diff := diffValues(got.Values, want); diff != "" {
		t.Fatal(diff)
	}
}

func TestEncodeDoesNotChangeInput(t *testing.T) {
	vs := concat(vals(9, 1000, 1, 2), vals(1, 1000, 3))
	keep := append([]catalog.Value(nil), vs...)
	encode(t, &Batch{Header: testHeader(), Values: vs})
	if diff := diffValues(vs, keep); diff != "" {
		t.Fatal(diff)
	}
}

func TestEncodeAppends(t *testing.T) {
	b := &Batch{Header: testHeader(), Values: vals(1, 1000, 1, 2, 3)}
	alone := encode(t, b)
	prefix := []byte("prefix")
	out, err := newEncoder(t, EncoderOptions{}).Encode(prefix, b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out[:len(prefix)], []byte("prefix")) || !bytes.Equal(out[len(prefix):], alone) {
		t.Fatalf("Encode(prefix) = %q, want prefix then the payload", out)
	}
}

// TestEncoderReuse: an Encoder carries nothing from one batch into the
// next; its payloads equal a fresh Encoder's.
func TestEncoderReuse(t *testing.T) {
	e := newEncoder(t, EncoderOptions{})
	for _, tc := range roundTripCases {
		b := &Batch{Header: testHeader(), Values: tc.values}
		got, err := e.Encode(nil, b)
		if err != nil {
			t.Fatal(err)
		}
		if want := encode(t, b); !bytes.Equal(got, want) {
			t.Fatalf("%s: a reused encoder wrote %d bytes that differ from a fresh one's %d", tc.desc, len(got), len(want))
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	ok := testHeader()
	for _, tc := range []struct {
		desc   string
		mutate func(b *Batch)
		err    string
	}{
		{"no vehicle", func(b *Batch) { b.Header.Vehicle = "" }, "header: vehicle id is empty"},
		{"bad vehicle", func(b *Batch) { b.Header.Vehicle = "veh/1" }, `header: vehicle id "veh/1": byte 3`},
		{"no boot", func(b *Batch) { b.Header.Boot = "" }, "header: boot id is empty"},
		{"long boot", func(b *Batch) { b.Header.Boot = strings.Repeat("b", 65) }, "header: boot id"},
		{"seq 0", func(b *Batch) { b.Header.Seq = 0 }, "header: seq is 0"},
		{"schema 2", func(b *Batch) { b.Header.Schema = 2 }, "header: schema 2: unsupported schema version"},
		{"id 0", func(b *Batch) { b.Values = append(b.Values, catalog.Value{ID: 0, Num: 1}) }, "value 1 has catalog id 0"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			b := &Batch{Header: ok, Values: vals(1, 1000, 1)}
			tc.mutate(b)
			dst := []byte("keep")
			out, err := newEncoder(t, EncoderOptions{}).Encode(dst, b)
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.HasPrefix(err.Error(), "encode batch: ") {
				t.Fatalf("Encode = %v, want an error containing %q", err, tc.err)
			}
			if string(out) != "keep" {
				t.Fatalf("Encode returned %q on error, want dst unchanged", out)
			}
		})
	}
}

func TestEncoderOptions(t *testing.T) {
	for _, level := range []int{-1, 5} {
		_, err := NewEncoder(EncoderOptions{Level: level})
		if err == nil || !strings.Contains(err.Error(), "level") {
			t.Errorf("NewEncoder(level %d) = %v, want an error naming level", level, err)
		}
	}
	_, err := NewEncoder(EncoderOptions{Dict: []byte("not a dictionary")})
	if err == nil || !strings.Contains(err.Error(), "dict") {
		t.Errorf("NewEncoder(bad dict) = %v, want an error naming dict", err)
	}
}

// TestCodecChoice: a tiny body goes uncompressed (zstd's frame would make
// it larger), a repetitive one compressed.
func TestCodecChoice(t *testing.T) {
	small := encode(t, &Batch{Header: testHeader(), Values: vals(1, 1000, 1)})
	if h, _ := wireOf(t, small); h.Codec != batchpb.Codec_CODEC_NONE {
		t.Errorf("one value: codec %s, want none", h.Codec)
	}
	big := encode(t, &Batch{Header: testHeader(), Values: roundTripCases[len(roundTripCases)-3].values})
	if h, _ := wireOf(t, big); h.Codec != batchpb.Codec_CODEC_ZSTD {
		t.Errorf("300 values: codec %s, want zstd", h.Codec)
	}
}

// TestBoundWorstCase builds the largest payloads the format allows for a
// number of values and columns: longest ids, every varint at 10 bytes.
func TestBoundWorstCase(t *testing.T) {
	h := Header{Vehicle: strings.Repeat("v", MaxIDLen), Boot: strings.Repeat("b", MaxIDLen), Seq: math.MaxUint64,
		SentAt: math.MinInt64, Keyframe: true, Priority: true}
	e, d := newEncoder(t, EncoderOptions{}), newDecoder(t, DecoderOptions{MaxBodyBytes: 64 << 20, MaxBytes: 64 << 20})
	for _, tc := range []struct {
		desc    string
		columns int
		perCol  int
		tight   float64 // the worst case is at least this share of Bound
	}{
		{"one value", 1, 1, 0.8},
		{"one column", 1, 1000, 0.9},
		{"many columns", 500, 1, 0.5}, // 5-byte lengths of 1-byte-long fields
		{"two values a column", 500, 2, 0.5},
		{"both", 100, 100, 0.9},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			var vs []catalog.Value
			for c := range tc.columns {
				for i := range int64(tc.perCol) {
					// Times and integers alternate between ±2^62: 10-byte
					// deltas, no common step, nothing to compress.
					tm, n := -(1<<62)+2*i+1, float64(-(1<<62)+i*3)
					if i%2 == 1 {
						tm, n = 1<<62-i, float64(1<<62-i*7)
					}
					vs = append(vs, catalog.Value{ID: math.MaxUint32 - uint32(c), Time: tm, Num: n})
				}
			}
			e.noCompress = true
			p := checkRoundTrip(t, e, d, &Batch{Header: h, Values: vs})
			e.noCompress = false
			bound := Bound(len(vs), tc.columns)
			t.Logf("%d values in %d columns: %d bytes, bound %d", len(vs), tc.columns, len(p), bound)
			if float64(len(p)) < tc.tight*float64(bound) {
				t.Errorf("worst case %d bytes is under %.0f%% of Bound %d: the bound is loose", len(p), 100*tc.tight, bound)
			}
		})
	}
}
