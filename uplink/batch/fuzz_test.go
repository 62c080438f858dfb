package batch

import (
	"encoding/binary"
	"math"
	"runtime"
	"testing"

	"github.com/kanal-dev/kanal/catalog"
)

// FuzzDecode: no input panics or allocates without bound (the decoder's
// limits are small here), and whatever decodes is well-formed and comes
// back unchanged from another encode and decode.
func FuzzDecode(f *testing.F) {
	for _, p := range testdataPayloads(f) {
		f.Add(p)
	}
	const maxBody, maxValues = 1 << 18, 1 << 12
	d, err := NewDecoder(DecoderOptions{MaxBytes: 1 << 16, MaxBodyBytes: maxBody, MaxValues: maxValues})
	if err != nil {
		f.Fatal(err)
	}
	// What a decode may allocate: the header's strings, the body, the
	// values, and the zstd decoder's state on first use.
	budget := uint64(maxBody + maxValues*24 + 4<<20)
	f.Fuzz(func(t *testing.T, data []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		b, err := d.Decode(data)
		runtime.ReadMemStats(&after)
		if n := after.TotalAlloc - before.TotalAlloc; n > budget+uint64(len(data)) {
			t.Fatalf("decoding %d bytes allocated %d bytes", len(data), n)
		}
		if err != nil {
			if b != nil {
				t.Fatal("Decode returned a batch and an error")
			}
			return
		}
		if len(b.Values) > 1<<12 {
			t.Fatalf("%d values over max_values", len(b.Values))
		}
		h, err := ReadHeader(data)
		if err != nil || h != b.Header {
			t.Fatalf("ReadHeader = %+v, %v; Decode's header %+v", h, err, b.Header)
		}
		checkDecoded(t, d, b)
	})
}

// FuzzRoundTrip: random values of every shape (any float64 bits, integers,
// decimals, DBC-style noisy values, float32s, cell ids, special values,
// booleans) at random times come back bit for bit, within Bound.
func FuzzRoundTrip(f *testing.F) {
	for _, p := range testdataPayloads(f) {
		f.Add(p)
	}
	e := newEncoder(f, EncoderOptions{})
	raw := newEncoder(f, EncoderOptions{})
	raw.noCompress = true
	d := newDecoder(f, DecoderOptions{MaxBytes: 1 << 30, MaxBodyBytes: 1 << 30})
	f.Fuzz(func(t *testing.T, data []byte) {
		b := &Batch{Header: testHeader(), Values: valuesFrom(data)}
		checkRoundTrip(t, e, d, b)
		checkRoundTrip(t, raw, d, b)
	})
}

var (
	fuzzFactors = []float64{1, 0.1, 0.01, 0.05, 0.0625, 0.035, 0.03663, 0.108696, 0.393700787, 4}
	fuzzOffsets = []float64{0, -40, -3200, -17.9, -75, 10.6, -131072, -5.217408}
	fuzzSpecial = []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(), math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64}
)

// valuesFrom turns fuzz bytes into values: 10 bytes per value.
func valuesFrom(data []byte) []catalog.Value {
	var vs []catalog.Value
	t := int64(t0)
	for len(data) >= 10 && len(vs) < 4096 {
		sel, x, a := data[0], data[1], binary.LittleEndian.Uint64(data[2:10])
		data = data[10:]
		id := uint32(x%8) + 1
		if x&0x80 != 0 {
			id = math.MaxUint32 - uint32(x%4)
		}
		switch sel & 3 {
		case 0:
			t += int64(a%1_000_000) * 1000 // µs, forward
		case 1:
			t = int64(a) // anywhere
		case 2:
			t += int64(a%100) * 1_000_000 // ms
		case 3:
			t -= int64(a % 1e9) // backwards, ns
		}
		var num float64
		switch (sel >> 2) % 8 {
		case 0:
			num = math.Float64frombits(a)
		case 1:
			num = float64(int64(a) >> (a & 63))
		case 2:
			num = float64(int64(a%200_000)-100_000) / pow10f[(a>>40)%10]
		case 3:
			num = float64(a%4096)*fuzzFactors[(a>>20)%uint64(len(fuzzFactors))] + fuzzOffsets[(a>>30)%uint64(len(fuzzOffsets))]
		case 4:
			num = float64(math.Float32frombits(uint32(a)))
		case 5:
			num = float64(a &^ (1<<35 - 1)) // a level-13 cell id, any face
		case 6:
			num = fuzzSpecial[a%uint64(len(fuzzSpecial))]
		case 7:
			num = float64(a % 2)
		}
		vs = append(vs, catalog.Value{ID: id, Time: t, Num: num})
	}
	return vs
}
