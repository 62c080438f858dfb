package batch

import (
	"bytes"
	"errors"
	"math"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/proto"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/uplink/batch/internal/batchpb"
)

func TestDecoderOptions(t *testing.T) {
	for _, tc := range []struct {
		opts DecoderOptions
		err  string
	}{
		{DecoderOptions{MaxBytes: -1}, "max_bytes -1"},
		{DecoderOptions{MaxBodyBytes: -1}, "max_body_bytes -1"},
		{DecoderOptions{MaxValues: -1}, "max_values -1"},
		{DecoderOptions{MaxBodyBytes: math.MaxInt}, "at most 2 GiB"}, // on 32-bit platforms MaxInt is below 2 GiB and fine
		{DecoderOptions{Dicts: [][]byte{[]byte("junk")}}, "dicts"},
	} {
		if tc.opts.MaxBodyBytes == math.MaxInt && math.MaxInt <= 1<<31 {
			continue
		}
		_, err := NewDecoder(tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("NewDecoder(%+v) = %v, want an error containing %q", tc.opts, err, tc.err)
		}
	}
}

// TestDecodeLimits: each limit is checked before anything of its size is
// allocated, and says which one it is.
func TestDecodeLimits(t *testing.T) {
	vs := vals(1, 1000, make([]float64, 100)...)
	p := encode(t, &Batch{Header: testHeader(), Values: vs})
	h, _ := wireOf(t, p)
	for _, tc := range []struct {
		desc string
		opts DecoderOptions
		err  string
	}{
		{"payload", DecoderOptions{MaxBytes: len(p) - 1}, "max_bytes"},
		{"values", DecoderOptions{MaxValues: 99}, "100 values: over the decoder's limit (max_values 99)"},
		{"body", DecoderOptions{MaxBodyBytes: int(h.BodySize) - 1}, "max_body_bytes"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := newDecoder(t, tc.opts).Decode(p)
			if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Decode = %v, want ErrLimit naming %q", err, tc.err)
			}
		})
	}
	if _, err := newDecoder(t, DecoderOptions{MaxBytes: len(p), MaxValues: 100, MaxBodyBytes: int(h.BodySize)}).Decode(p); err != nil {
		t.Fatalf("at the limits: %v", err)
	}
}

// TestDecompressionBombs: a small payload that inflates to 64 MiB is
// refused, whatever its frame claims, without allocating anything near
// that.
func TestDecompressionBombs(t *testing.T) {
	zeros := make([]byte, 64<<20)
	z, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		t.Fatal(err)
	}
	framed := z.EncodeAll(zeros, nil) // content size in the frame header
	var streamed bytes.Buffer         // no content size: the size is known only at the end
	w, err := zstd.NewWriter(&streamed, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		t.Fatal(err)
	}
	w.Write(zeros)
	w.Close()
	zeros = nil
	for _, tc := range []struct {
		desc string
		body []byte
		size uint32 // body_size in the header
		err  string
	}{
		{"frame says 64 MiB, header 1 KiB", framed, 1 << 10, "header says body_size 1024"},
		{"header honest, over max_body_bytes", framed, 64 << 20, "max_body_bytes"},
		{"no content size in the frame", streamed.Bytes(), 1 << 10, "body: zstd frame"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			h := wireHeader(1)
			h.Codec, h.BodySize = batchpb.Codec_CODEC_ZSTD, tc.size
			p := payloadRaw(t, h, tc.body)
			d := newDecoder(t, DecoderOptions{})
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := d.Decode(p)
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Decode = %v, want an error containing %q", err, tc.err)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 8<<20 {
				t.Fatalf("Decode of a %d-byte bomb allocated %d bytes", len(p), n)
			}
		})
	}
}

// TestDecodeBodyErrors feeds bodies that break each rule of the format;
// each is refused with an error that names what is wrong.
func TestDecodeBodyErrors(t *testing.T) {
	col := func(mut func(c *batchpb.Column)) *batchpb.Body {
		c := &batchpb.Column{Id: 1, TimeExp: 3, Times: []int64{5, 1}, Kind: batchpb.Kind_KIND_DECIMAL, Ints: []int64{1, 2}}
		if mut != nil {
			mut(c)
		}
		return &batchpb.Body{TimeBaseS: 1732221946, Columns: []*batchpb.Column{c}}
	}
	two := func(a, b uint32) *batchpb.Body {
		body := col(nil)
		c := proto.Clone(body.Columns[0]).(*batchpb.Column)
		body.Columns[0].Id, c.Id = a, b
		body.Columns = append(body.Columns, c)
		return body
	}
	for _, tc := range []struct {
		desc   string
		body   *batchpb.Body
		values int // in the header
		err    string
	}{
		{"valid", col(nil), 2, ""},
		{"valid with ulps", col(func(c *batchpb.Column) { c.Ulps = []int64{0, -3} }), 2, ""},
		{"id 0", col(func(c *batchpb.Column) { c.Id = 0 }), 2, "column 0: catalog id 0"},
		{"ids descending", two(5, 3), 4, "column 1: id 3 after id 5"},
		{"id repeated", two(5, 5), 4, "column 1: id 5 after id 5"},
		{"empty column", col(func(c *batchpb.Column) { c.Times, c.Ints = nil, nil }), 0, "column 0 (id 1): no values"},
		{"more values than the header", col(nil), 1, "more values than the header's 1"},
		{"fewer values than the header", col(nil), 3, "body: 2 values, header says 3"},
		{"time_exp 10", col(func(c *batchpb.Column) { c.TimeExp = 10 }), 2, "time_exp 10"},
		{"time overflow", col(func(c *batchpb.Column) { c.TimeExp = 9; c.Times = []int64{math.MaxInt64 / 2, math.MaxInt64 / 2} }), 2, "out of range"},
		{"time base out of range", &batchpb.Body{TimeBaseS: math.MaxInt64, Columns: col(nil).Columns}, 2, "time_base_s"},
		{"no kind", col(func(c *batchpb.Column) { c.Kind = 0 }), 2, "unknown kind 0"},
		{"unknown kind", col(func(c *batchpb.Column) { c.Kind = 99 }), 2, "unknown kind 99"},
		{"exponent 10", col(func(c *batchpb.Column) { c.Exponent = 10 }), 2, "exponent 10"},
		{"too few ints", col(func(c *batchpb.Column) { c.Ints = c.Ints[:1] }), 2, "fields do not match the kind"},
		{"some ulps", col(func(c *batchpb.Column) { c.Ulps = []int64{1} }), 2, "fields do not match the kind"},
		{"decimal with floats", col(func(c *batchpb.Column) { c.Float64S = []uint64{1, 2} }), 2, "fields do not match the kind"},
		{"unsigned with exponent", col(func(c *batchpb.Column) { c.Kind = batchpb.Kind_KIND_UNSIGNED; c.Exponent = 1 }), 2, "fields do not match the kind"},
		{"unsigned with ulps", col(func(c *batchpb.Column) { c.Kind = batchpb.Kind_KIND_UNSIGNED; c.Ulps = []int64{0, 0} }), 2, "fields do not match the kind"},
		{"float32 with ints", col(func(c *batchpb.Column) { c.Kind = batchpb.Kind_KIND_FLOAT32; c.Float32S = []uint32{1, 2} }), 2, "fields do not match the kind"},
		{"float32 NaN", col(func(c *batchpb.Column) {
			c.Kind, c.Ints, c.Float32S = batchpb.Kind_KIND_FLOAT32, nil, []uint32{0, 0x7fc00000}
		}), 2, "value 1: NaN in a float32 column"},
		{"float64 short", col(func(c *batchpb.Column) { c.Kind, c.Ints, c.Float64S = batchpb.Kind_KIND_FLOAT64, nil, []uint64{1} }), 2, "fields do not match the kind"},
		{"float64 with step", col(func(c *batchpb.Column) {
			c.Kind, c.Ints, c.Float64S, c.Step = batchpb.Kind_KIND_FLOAT64, nil, []uint64{1, 2}, 3
		}), 2, "fields do not match the kind"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := newDecoder(t, DecoderOptions{}).Decode(payload(t, wireHeader(tc.values), tc.body))
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("Decode = %v, want success", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("Decode = %v, want an error containing %q", err, tc.err)
			case err != nil && !strings.HasPrefix(err.Error(), "decode batch: "):
				t.Fatalf("error %q lacks the operation prefix", err)
			}
		})
	}
}

func TestDecodeZstdErrors(t *testing.T) {
	body, err := proto.Marshal(&batchpb.Body{TimeBaseS: 1, Columns: []*batchpb.Column{{Id: 1, Times: []int64{1}, Kind: batchpb.Kind_KIND_DECIMAL, Ints: []int64{1}}}})
	if err != nil {
		t.Fatal(err)
	}
	z, _ := zstd.NewWriter(nil, zstd.WithSingleSegment(true))
	good := z.EncodeAll(body, nil)
	flip := bytes.Clone(good)
	flip[len(flip)-6] ^= 0x40 // in the data: the checksum catches it
	for _, tc := range []struct {
		desc string
		data []byte
		size int
		err  string
	}{
		{"valid", good, len(body), ""},
		{"not zstd", []byte("plain text, not a frame"), len(body), "zstd frame header"},
		{"size mismatch", good, len(body) + 1, "header says body_size"},
		{"damaged", flip, len(body), "zstd"},
		{"truncated", good[:len(good)-3], len(body), "zstd"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			h := wireHeader(1)
			h.Codec, h.BodySize = batchpb.Codec_CODEC_ZSTD, uint32(tc.size)
			_, err := newDecoder(t, DecoderOptions{}).Decode(payloadRaw(t, h, tc.data))
			if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("Decode = %v, want %q", err, tc.err)
			}
		})
	}
}

// TestDecodeNeverPanics flips every bit and cuts at every length of real
// payloads, compressed and not: each decodes to something valid or fails.
func TestDecodeNeverPanics(t *testing.T) {
	d := newDecoder(t, DecoderOptions{})
	for _, compress := range []bool{true, false} {
		e := newEncoder(t, EncoderOptions{})
		e.noCompress = !compress
		p, err := e.Encode(nil, &Batch{Header: testHeader(), Values: roundTripCases[len(roundTripCases)-1].values})
		if err != nil {
			t.Fatal(err)
		}
		for i := range p {
			if _, err := d.Decode(p[:i]); err == nil && i < len(p) {
				// A cut at a field boundary can be valid only if the rest
				// was an unknown field; this payload has none.
				t.Errorf("compress %v: payload cut to %d of %d bytes decoded", compress, i, len(p))
			}
			for bit := range 8 {
				q := bytes.Clone(p)
				q[i] ^= 1 << bit
				b, err := d.Decode(q)
				if err == nil {
					checkDecoded(t, d, b)
				}
			}
		}
	}
}

// reencoder serves checkDecoded: a zstd encoder is costly to make. Tests
// using it do not run in parallel.
var reencoder = func() *Encoder {
	e, err := NewEncoder(EncoderOptions{})
	if err != nil {
		panic(err)
	}
	return e
}()

// checkDecoded checks what FuzzDecode checks of anything that decodes: it
// is well-formed and survives another round trip.
func checkDecoded(t *testing.T, d *Decoder, b *Batch) {
	t.Helper()
	if b.Header.Values != len(b.Values) {
		t.Fatalf("header says %d values, batch has %d", b.Header.Values, len(b.Values))
	}
	for i := 1; i < len(b.Values); i++ {
		if b.Values[i].ID < b.Values[i-1].ID {
			t.Fatalf("values not grouped by ascending id at %d", i)
		}
	}
	p, err := reencoder.Encode(nil, b)
	if err != nil {
		t.Fatalf("re-encode of a decoded batch: %v", err)
	}
	again, err := d.Decode(p)
	if err != nil {
		t.Fatalf("decode of the re-encoded batch: %v", err)
	}
	if again.Header != b.Header {
		t.Fatalf("header %+v after a round trip, was %+v", again.Header, b.Header)
	}
	if diff := diffValues(again.Values, b.Values); diff != "" {
		t.Fatalf("values after a round trip: %s", diff)
	}
}

func TestDecodeIntoReuses(t *testing.T) {
	d := newDecoder(t, DecoderOptions{})
	p := encode(t, &Batch{Header: testHeader(), Values: vals(1, 1000, 1, 2, 3, 4)})
	b := &Batch{Values: make([]catalog.Value, 0, 16)}
	backing := &b.Values[:1][0]
	if err := d.DecodeInto(p, b); err != nil {
		t.Fatal(err)
	}
	if len(b.Values) != 4 || &b.Values[0] != backing {
		t.Fatalf("DecodeInto: %d values in a new array, want 4 in the given one", len(b.Values))
	}
	if err := d.DecodeInto([]byte("junk"), b); err == nil || len(b.Values) != 0 {
		t.Fatalf("DecodeInto(junk) = %v with %d values, want an error and none", err, len(b.Values))
	}
}

// TestDecoderConcurrent shares one Decoder between goroutines, as the
// gateway's publish hooks do (run with -race).
func TestDecoderConcurrent(t *testing.T) {
	d := newDecoder(t, DecoderOptions{})
	var payloads [][]byte
	var wants []*Batch
	for i, tc := range roundTripCases {
		h := testHeader()
		h.Seq = uint64(i + 1)
		b := &Batch{Header: h, Values: tc.values}
		payloads, wants = append(payloads, encode(t, b)), append(wants, b)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out Batch
			for round := range 20 {
				i := (g + round) % len(payloads)
				if err := d.DecodeInto(payloads[i], &out); err != nil {
					errs <- err.Error()
					return
				}
				if diff := diffValues(out.Values, grouped(wants[i].Values)); diff != "" || out.Header.Seq != wants[i].Header.Seq {
					errs <- wants[i].Header.MsgID() + ": " + diff
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestDictionary: an encoder with a dictionary trained on earlier bodies
// makes small batches smaller; a decoder needs the same dictionary.
func TestDictionary(t *testing.T) {
	var samples [][]byte
	batchOf := func(i int) *Batch {
		var vs []catalog.Value
		for id := uint32(1); id <= 40; id++ {
			vs = append(vs, catalog.Value{ID: id, Time: t0 + int64(i)*1e9 + int64(id)*1000, Num: float64((i*int(id))%17) * 0.25})
		}
		return &Batch{Header: testHeader(), Values: vs}
	}
	plain := newEncoder(t, EncoderOptions{})
	plain.noCompress = true
	for i := range 30 {
		p, err := plain.Encode(nil, batchOf(i))
		if err != nil {
			t.Fatal(err)
		}
		var outer batchpb.Batch
		if err := proto.Unmarshal(p, &outer); err != nil {
			t.Fatal(err)
		}
		samples = append(samples, outer.Body)
	}
	dict, err := zstd.BuildDict(zstd.BuildDictOptions{ID: 0x4b414e, Contents: samples, History: bytes.Join(samples[:10], nil), Offsets: [3]int{1, 4, 8}, Level: zstd.SpeedFastest})
	if err != nil {
		t.Fatal(err)
	}
	withDict := newEncoder(t, EncoderOptions{Dict: dict})
	b := batchOf(1000)
	small := checkRoundTrip(t, withDict, newDecoder(t, DecoderOptions{Dicts: [][]byte{dict}}), b)
	big := encode(t, b)
	t.Logf("40 values: %d bytes with the dictionary, %d without", len(small), len(big))
	if len(small) >= len(big) {
		t.Errorf("with a dictionary %d bytes, without %d: want smaller", len(small), len(big))
	}
	if _, err := newDecoder(t, DecoderOptions{}).Decode(small); err == nil || !strings.Contains(err.Error(), "zstd") {
		t.Errorf("decode without the dictionary = %v, want a zstd error", err)
	}
}
