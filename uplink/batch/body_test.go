package batch

import (
	"bytes"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/uplink/batch/internal/batchpb"
)

// TestBodyReaderMatchesProto: for every round-trip case, the hand-written
// body reader gives what the generated code's Unmarshal gives.
func TestBodyReaderMatchesProto(t *testing.T) {
	for _, tc := range roundTripCases {
		t.Run(tc.desc, func(t *testing.T) {
			p := encode(t, &Batch{Header: testHeader(), Values: tc.values})
			_, body := wireOf(t, p) // through proto.Unmarshal
			var fromProto []catalog.Value
			for _, c := range body.Columns {
				msg, err := proto.Marshal(c)
				if err != nil {
					t.Fatal(err)
				}
				sc, err := scanColumn(msg)
				if err != nil {
					t.Fatal(err)
				}
				if sc.id != c.Id || sc.times != len(c.Times) || sc.ints != len(c.Ints) || sc.ulps != len(c.Ulps) ||
					sc.float32s != len(c.Float32S) || sc.float64s != len(c.Float64S) || sc.kind != c.Kind ||
					sc.exponent != c.Exponent || sc.step != c.Step || sc.timeExp != c.TimeExp || sc.timeStep != c.TimeStep {
					t.Fatalf("scanColumn = %+v, proto has %v", sc, c)
				}
				vals := make([]catalog.Value, len(c.Times))
				if err := readTimes(vals, msg, &sc, body.TimeBaseS); err != nil {
					t.Fatal(err)
				}
				if err := readValues(vals, msg, &sc); err != nil {
					t.Fatal(err)
				}
				for i := range vals {
					vals[i].ID = c.Id
				}
				fromProto = append(fromProto, vals...)
			}
			if diff := diffValues(fromProto, grouped(tc.values)); diff != "" {
				t.Fatal(diff)
			}
		})
	}
}

// TestBodyNonCanonical: what another protobuf encoder may legally write
// for batch.proto reads the same: fields out of order, repeated fields
// unpacked or packed in several runs, scalars repeated (the last wins),
// unknown fields, the time base after the columns.
func TestBodyNonCanonical(t *testing.T) {
	tag := protowire.AppendTag
	var col []byte
	col = tag(col, colInts, protowire.VarintType) // unpacked first int
	col = protowire.AppendVarint(col, protowire.EncodeZigZag(1225))
	col = tag(col, colKind, protowire.VarintType)
	col = protowire.AppendVarint(col, uint64(batchpb.Kind_KIND_DECIMAL))
	col = tag(col, colTimes, protowire.BytesType) // times in two packed runs
	col = protowire.AppendBytes(col, protowire.AppendVarint(nil, protowire.EncodeZigZag(5)))
	col = tag(col, colExponent, protowire.VarintType)
	col = protowire.AppendVarint(col, 7) // overwritten below
	col = tag(col, 99, protowire.BytesType)
	col = protowire.AppendBytes(col, []byte("from the future"))
	col = tag(col, colTimes, protowire.VarintType)
	col = protowire.AppendVarint(col, protowire.EncodeZigZag(3))
	col = tag(col, colInts, protowire.BytesType)
	col = protowire.AppendBytes(col, protowire.AppendVarint(nil, protowire.EncodeZigZag(25)))
	col = tag(col, colID, protowire.VarintType)
	col = protowire.AppendVarint(col, 1)
	col = tag(col, colExponent, protowire.VarintType)
	col = protowire.AppendVarint(col, 2)
	col = tag(col, colTimeExp, protowire.VarintType)
	col = protowire.AppendVarint(col, 6)
	var body []byte
	body = tag(body, bodyColumns, protowire.BytesType)
	body = protowire.AppendBytes(body, col)
	body = tag(body, 7, protowire.Fixed32Type)
	body = protowire.AppendFixed32(body, 1)
	body = tag(body, bodyTimeBase, protowire.VarintType)
	body = protowire.AppendVarint(body, 1700000000)

	got, err := newDecoder(t, DecoderOptions{}).Decode(payloadRaw(t, wireHeader(2), body))
	if err != nil {
		t.Fatal(err)
	}
	want := []catalog.Value{{ID: 1, Time: 1700000000e9 + 5e6, Num: 12.25}, {ID: 1, Time: 1700000000e9 + 8e6, Num: 12.5}}
	if diff := diffValues(got.Values, want); diff != "" {
		t.Fatal(diff)
	}
}

func TestBodyMalformed(t *testing.T) {
	tag := protowire.AppendTag
	column := func(fields ...[]byte) []byte {
		// a valid one-value column, then the fields under test
		c := tag(nil, colID, protowire.VarintType)
		c = protowire.AppendVarint(c, 1)
		c = tag(c, colKind, protowire.VarintType)
		c = protowire.AppendVarint(c, uint64(batchpb.Kind_KIND_DECIMAL))
		c = tag(c, colTimes, protowire.BytesType)
		c = protowire.AppendBytes(c, []byte{2})
		c = tag(c, colInts, protowire.BytesType)
		c = protowire.AppendBytes(c, []byte{2})
		return append(c, bytes.Join(fields, nil)...)
	}
	inBody := func(col []byte) []byte {
		return protowire.AppendBytes(tag(nil, bodyColumns, protowire.BytesType), col)
	}
	for _, tc := range []struct {
		desc string
		body []byte
		err  string
	}{
		{"valid", inBody(column()), ""},
		{"truncated field", inBody(column())[:5], "body: field 2"},
		{"time base as bytes", protowire.AppendBytes(tag(nil, bodyTimeBase, protowire.BytesType), []byte{1}), "body: field 1 has wire type 2"},
		{"column as varint", protowire.AppendVarint(tag(nil, bodyColumns, protowire.VarintType), 1), "body: field 2 has wire type 0"},
		{"id as fixed32", inBody(column(protowire.AppendFixed32(tag(nil, colID, protowire.Fixed32Type), 1))), "field 1 has wire type 5, want varint"},
		{"times as fixed64", inBody(column(protowire.AppendFixed64(tag(nil, colTimes, protowire.Fixed64Type), 1))), "field 4: wire type 1, want 0 or packed"},
		{"packed varint cut", inBody(column(protowire.AppendBytes(tag(nil, colULPs, protowire.BytesType), []byte{0x80}))), "field 9: packed elements do not fill the field"},
		{"packed float32s of 6 bytes", inBody(column(protowire.AppendBytes(tag(nil, colFloat32s, protowire.BytesType), make([]byte, 6)))), "field 10: packed"},
		{"packed float64s of 12 bytes", inBody(column(protowire.AppendBytes(tag(nil, colFloat64s, protowire.BytesType), make([]byte, 12)))), "field 11: packed"},
		{"bad tag in column", inBody(column([]byte{0x80})), "column 0:"},
		{"field 0", inBody(column([]byte{0x00, 0x00})), "column 0:"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := newDecoder(t, DecoderOptions{}).Decode(payloadRaw(t, wireHeader(1), tc.body))
			if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("Decode = %v, want %q", err, tc.err)
			}
		})
	}
}

// TestColumnBomb: a few hundred bytes of payload that inflate to millions
// of empty column messages cost no more than the body itself.
func TestColumnBomb(t *testing.T) {
	body := bytes.Repeat([]byte{bodyColumns<<3 | 2, 0}, 2<<20) // 4 MiB of empty columns
	z, err := zstd.NewWriter(nil, zstd.WithSingleSegment(true))
	if err != nil {
		t.Fatal(err)
	}
	packed := z.EncodeAll(body, nil)
	for _, values := range []uint32{1, DefaultMaxValues} {
		h := wireHeader(int(values))
		h.Codec, h.BodySize = batchpb.Codec_CODEC_ZSTD, uint32(len(body))
		p := payloadRaw(t, h, packed)
		d := newDecoder(t, DecoderOptions{})
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := d.Decode(p)
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), "column 0: catalog id 0") {
			t.Fatalf("Decode = %v, want an error about column 0", err)
		}
		// The body (4 MiB), zstd's window of as much on a fresh decoder, and
		// the values the header announces: 200 bytes a column would be 400 MiB.
		limit := 3*uint64(len(body)) + uint64(values)*24
		if n := after.TotalAlloc - before.TotalAlloc; n > limit {
			t.Fatalf("a %d-byte payload announcing %d values made Decode allocate %d bytes (limit %d)", len(p), values, n, limit)
		}
	}
}
