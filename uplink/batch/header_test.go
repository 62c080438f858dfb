package batch

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/uplink/batch/internal/batchpb"
)

func TestCheckVehicleID(t *testing.T) {
	for _, tc := range []struct {
		desc, id, err string
	}{
		{"letters digits dash underscore", "WVW_zzz-01", ""},
		{"one character", "x", ""},
		{"64 characters", strings.Repeat("a", 64), ""},
		{"empty", "", "vehicle id is empty"},
		{"65 characters", strings.Repeat("a", 65), "65 bytes long (at most 64)"},
		{"MQTT level separator", "a/b", `byte 1 is "/"`},
		{"MQTT wildcard", "a+", `byte 1 is "+"`},
		{"MQTT multi-level wildcard", "#", `byte 0 is "#"`},
		{"NATS token separator", "a.b", `byte 1 is "."`},
		{"NATS wildcard", "*", `byte 0 is "*"`},
		{"NATS full wildcard", "a>", `byte 1 is ">"`},
		{"MsgID separator", "a:b", `byte 1 is ":"`},
		{"space", "a b", `byte 1 is " "`},
		{"non-ASCII", "fahrzeugä", `byte 8 is "\xc3"`},
		{"NUL", "a\x00", `byte 1 is "\x00"`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			err := CheckVehicleID(tc.id)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("CheckVehicleID(%q) = %v, want nil", tc.id, err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("CheckVehicleID(%q) = %v, want an error containing %q", tc.id, err, tc.err)
			}
		})
	}
}

func TestCheckBootID(t *testing.T) {
	if err := CheckBootID("abc-DEF_123"); err != nil {
		t.Fatal(err)
	}
	err := CheckBootID("a:b")
	if err == nil || !strings.HasPrefix(err.Error(), "boot id ") {
		t.Fatalf("CheckBootID(a:b) = %v, want a boot id error", err)
	}
}

func TestNewBoot(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		b := NewBoot()
		if len(b) != 16 {
			t.Fatalf("NewBoot() = %q: %d characters, want 16", b, len(b))
		}
		if err := CheckBootID(b); err != nil {
			t.Fatalf("NewBoot() = %q: %v", b, err)
		}
		if seen[b] {
			t.Fatalf("NewBoot() repeated %q", b)
		}
		seen[b] = true
	}
}

func TestMsgID(t *testing.T) {
	h := Header{Vehicle: "veh-1", Boot: "AbC_9", Seq: 18446744073709551615}
	if got, want := h.MsgID(), "veh-1:AbC_9:18446744073709551615"; got != want {
		t.Fatalf("MsgID = %q, want %q", got, want)
	}
}

func TestReadHeader(t *testing.T) {
	b := &Batch{Header: testHeader(), Values: []catalog.Value{{ID: 1, Time: 5e9, Num: 1}, {ID: 2, Time: 6e9, Num: 2.5}}}
	b.Header.Priority = true
	p := encode(t, b)
	h, err := ReadHeader(p)
	if err != nil {
		t.Fatal(err)
	}
	want := b.Header
	want.Schema, want.Values = SchemaVersion, 2
	if h != want {
		t.Fatalf("ReadHeader = %+v, want %+v", h, want)
	}
}

// TestReadHeaderAcceptsUnknownFields: a later revision of schema 1 may add
// fields; this reader skips them.
func TestReadHeaderAcceptsUnknownFields(t *testing.T) {
	p := encode(t, &Batch{Header: testHeader(), Values: []catalog.Value{{ID: 1, Time: 1, Num: 1}}})
	p = protowire.AppendTag(p, 15, protowire.VarintType)
	p = protowire.AppendVarint(p, 42)
	if _, err := ReadHeader(p); err != nil {
		t.Fatal(err)
	}
	if _, err := newDecoder(t, DecoderOptions{}).Decode(p); err != nil {
		t.Fatal(err)
	}
}

func TestReadHeaderErrors(t *testing.T) {
	good := func() *batchpb.Header { return wireHeader(0) }
	raw := func(h *batchpb.Header) []byte {
		b, err := proto.Marshal(&batchpb.Batch{Header: h})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		desc string
		data []byte
		err  string
	}{
		{"empty", nil, "payload has no header"},
		{"garbage", []byte{0xff, 0xff, 0xff}, "payload"},
		{"truncated header", raw(good())[:5], "payload field 1"},
		{"header as varint", protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 1), "wire type 0, want bytes"},
		{"header twice", append(raw(good()), raw(good())...), "header repeated"},
		{"schema 0", raw(func() *batchpb.Header { h := good(); h.Schema = 0; return h }()), "schema 0: unsupported schema version"},
		{"schema 2", raw(func() *batchpb.Header { h := good(); h.Schema = 2; return h }()), "schema 2: unsupported schema version"},
		{"no vehicle", raw(func() *batchpb.Header { h := good(); h.Vehicle = ""; return h }()), "vehicle id is empty"},
		{"bad vehicle", raw(func() *batchpb.Header { h := good(); h.Vehicle = "a/b"; return h }()), "vehicle id \"a/b\""},
		{"bad boot", raw(func() *batchpb.Header { h := good(); h.Boot = "a:b"; return h }()), "boot id \"a:b\""},
		{"seq 0", raw(func() *batchpb.Header { h := good(); h.Seq = 0; return h }()), "seq is 0"},
		{"no codec", raw(func() *batchpb.Header { h := good(); h.Codec = 0; return h }()), "unknown codec 0"},
		{"unknown codec", raw(func() *batchpb.Header { h := good(); h.Codec = 9; return h }()), "unknown codec 9"},
		{"body size lies", raw(func() *batchpb.Header { h := good(); h.Codec = batchpb.Codec_CODEC_NONE; h.BodySize = 3; return h }()), "body_size 3, but the uncompressed body has 0 bytes"},
		{"zstd without body", raw(func() *batchpb.Header { h := good(); h.Codec = batchpb.Codec_CODEC_ZSTD; h.BodySize = 3; return h }()), "codec zstd with an empty body"},
		{"values without body", raw(func() *batchpb.Header { h := good(); h.Codec = batchpb.Codec_CODEC_NONE; h.Values = 5; return h }()), "5 values in an empty body"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := ReadHeader(tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("ReadHeader = %v, want an error containing %q", err, tc.err)
			}
			if !strings.HasPrefix(err.Error(), "read batch header: ") {
				t.Errorf("error %q lacks the operation prefix", err)
			}
		})
	}
}

func TestReadHeaderSchemaIsSentinel(t *testing.T) {
	h := wireHeader(0)
	h.Schema = 2
	b, _ := proto.Marshal(&batchpb.Batch{Header: h})
	if _, err := ReadHeader(b); !errors.Is(err, ErrSchema) {
		t.Fatalf("ReadHeader = %v, want ErrSchema", err)
	}
}
