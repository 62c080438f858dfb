package batch

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/proto"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/uplink/batch/internal/batchpb"
)

// testHeader is a valid header.
func testHeader() Header {
	return Header{Vehicle: "WVW-test_01", Boot: "b00tb00tb00tb00t", Seq: 7, SentAt: 1732221946679678123, Keyframe: true}
}

func newEncoder(t testing.TB, opts EncoderOptions) *Encoder {
	t.Helper()
	e, err := NewEncoder(opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func newDecoder(t testing.TB, opts DecoderOptions) *Decoder {
	t.Helper()
	d, err := NewDecoder(opts)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func encode(t testing.TB, b *Batch) []byte {
	t.Helper()
	p, err := newEncoder(t, EncoderOptions{}).Encode(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// grouped is what Decode returns for vs: grouped by id, ascending, in input
// order within an id.
func grouped(vs []catalog.Value) []catalog.Value {
	out := slices.Clone(vs)
	slices.SortStableFunc(out, func(a, b catalog.Value) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// diffValues describes the first difference between got and want, bit for
// bit, or returns "".
func diffValues(got, want []catalog.Value) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d values, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.Time != w.Time || math.Float64bits(g.Num) != math.Float64bits(w.Num) {
			return fmt.Sprintf("value %d: {%d %d %v (%#x)}, want {%d %d %v (%#x)}", i,
				g.ID, g.Time, g.Num, math.Float64bits(g.Num), w.ID, w.Time, w.Num, math.Float64bits(w.Num))
		}
	}
	return ""
}

// checkRoundTrip encodes b with e, decodes it with d and fails unless the
// header and every value come back, and the payload is within Bound.
func checkRoundTrip(t testing.TB, e *Encoder, d *Decoder, b *Batch) []byte {
	t.Helper()
	p, err := e.Encode(nil, b)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	ids := map[uint32]bool{}
	for _, v := range b.Values {
		ids[v.ID] = true
	}
	if bound := Bound(len(b.Values), len(ids)); len(p) > bound {
		t.Errorf("payload of %d bytes over Bound(%d, %d) = %d", len(p), len(b.Values), len(ids), bound)
	}
	got, err := d.Decode(p)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	want := b.Header
	want.Schema, want.Values = SchemaVersion, len(b.Values)
	if got.Header != want {
		t.Errorf("header %+v, want %+v", got.Header, want)
	}
	if diff := diffValues(got.Values, grouped(b.Values)); diff != "" {
		t.Errorf("round trip: %s", diff)
	}
	return p
}

// wireOf splits a payload into its wire header and decompressed body.
func wireOf(t testing.TB, p []byte) (*batchpb.Header, *batchpb.Body) {
	t.Helper()
	var outer batchpb.Batch
	if err := proto.Unmarshal(p, &outer); err != nil {
		t.Fatal(err)
	}
	raw := outer.Body
	if outer.Header.GetCodec() == batchpb.Codec_CODEC_ZSTD {
		zd, err := zstd.NewReader(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer zd.Close()
		if raw, err = zd.DecodeAll(raw, nil); err != nil {
			t.Fatal(err)
		}
	}
	var body batchpb.Body
	if err := proto.Unmarshal(raw, &body); err != nil {
		t.Fatal(err)
	}
	return outer.Header, &body
}

// payload builds a payload from wire messages, the body uncompressed
// unless z, with body_size and values filled in when zero.
func payload(t testing.TB, h *batchpb.Header, body *batchpb.Body) []byte {
	t.Helper()
	raw, err := proto.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return payloadRaw(t, h, raw)
}

func payloadRaw(t testing.TB, h *batchpb.Header, raw []byte) []byte {
	t.Helper()
	if h.Codec == batchpb.Codec_CODEC_UNSPECIFIED {
		h.Codec = batchpb.Codec_CODEC_NONE
	}
	if h.BodySize == 0 {
		h.BodySize = uint32(len(raw))
	}
	p, err := proto.Marshal(&batchpb.Batch{Header: h, Body: raw})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// wireHeader is a valid wire header for n values.
func wireHeader(n int) *batchpb.Header {
	return &batchpb.Header{Schema: SchemaVersion, Vehicle: "v1", Boot: "boot", Seq: 1, Values: uint32(n)}
}
