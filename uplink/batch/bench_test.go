package batch_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/kanal-dev/kanal/can"
	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/dbc"
	"github.com/kanal-dev/kanal/uplink/batch"
)

// The benchmarks measure the codec on real catalog values: the bundled
// demo drives and, when ../shared is next to the checkout, the Ford GT350
// log through testdata/candumps/ford_gt350.mapping.yaml. Values are batched
// per second of frame time, as the agent's batcher does by default, either
// all of them or only those that differ from the last value sent of their
// id (a simple on-change filter, what the sampler leaves of most signals).
//
// Reported: B/value (payload bytes per signal value, the target is
// at most 8), values/s and ns/value of one core, beside two reference
// encodings of the same batches: JSON Lines (one object per value) and
// row-wise protobuf (id, time, value per row) compressed with the same zstd
// level.

const (
	candumps   = "../../testdata/candumps"
	sharedDir  = "../../../shared"
	batchEvery = int64(1e9) // ns of frame time per batch
)

// benchDrive is one log's catalog values, cut into batches.
type benchDrive struct {
	name    string
	cat     *catalog.Catalog
	all     [][]catalog.Value
	changes [][]catalog.Value
	skip    string // why the drive is missing
}

var benchDrives = sync.OnceValue(func() []benchDrive {
	var ds []benchDrive
	demo := []string{"city", "fog", "warning"}
	for _, name := range demo {
		ds = append(ds, loadDrive("demo_"+name, filepath.Join(candumps, "kanal_demo.dbc"),
			filepath.Join(candumps, "kanal_demo.mapping.yaml"), filepath.Join(candumps, "drive_"+name+".log")))
	}
	ds = append(ds, loadDrive("ford_gt350", filepath.Join(sharedDir, "dbc", "ford_lincoln_base_pt.dbc"),
		filepath.Join(candumps, "ford_gt350.mapping.yaml"), filepath.Join(sharedDir, "candumps", "ford_gt350.log")))
	return ds
})

// loadDrive decodes a log into catalog values with the DBC file and mapping,
// as `edge-agent decode --normalized` does.
func loadDrive(name, dbcPath, mappingPath, logPath string) benchDrive {
	d := benchDrive{name: name, cat: catalog.Default()}
	if _, err := os.Stat(logPath); err != nil {
		d.skip = fmt.Sprintf("%s not found (the real logs live in ../shared next to the checkout): %v", logPath, err)
		return d
	}
	values, err := catalogValues(d.cat, dbcPath, mappingPath, logPath)
	if err != nil {
		d.skip = err.Error()
		return d
	}
	d.all = cut(values)
	d.changes = cut(onChange(values))
	return d
}

func catalogValues(cat *catalog.Catalog, dbcPath, mappingPath, logPath string) ([]catalog.Value, error) {
	_ = cat // the pipeline loads the default catalog, as the agent does
	pipe, err := dbc.NewPipeline(dbc.PipelineOptions{DBC: []string{dbcPath}, Mapping: mappingPath,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, err
	}
	lr, err := can.OpenLog(logPath, can.LogReaderOptions{})
	if err != nil {
		return nil, err
	}
	defer lr.Close()
	var fv dbc.FrameValues
	var values []catalog.Value
	for {
		t, err := lr.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return values, nil
		}
		if err != nil {
			return nil, err
		}
		pipe.Decode(&t, &fv)
		values = append(values, fv.Catalog...)
	}
}

// onChange keeps a value only when it differs (bit for bit) from the last
// value kept of its id.
func onChange(values []catalog.Value) []catalog.Value {
	last := map[uint32]uint64{}
	var out []catalog.Value
	for _, v := range values {
		bits := math.Float64bits(v.Num)
		if prev, ok := last[v.ID]; ok && prev == bits {
			continue
		}
		last[v.ID] = bits
		out = append(out, v)
	}
	return out
}

// cut splits values into batches of batchEvery of frame time. A time
// before the batch's start (logs joined from several files) starts a new
// batch too.
func cut(values []catalog.Value) [][]catalog.Value {
	var out [][]catalog.Value
	start := 0
	for i := range values {
		t, t0 := values[i].Time, values[start].Time
		if t < t0 || t-t0 >= batchEvery {
			out = append(out, values[start:i])
			start = i
		}
	}
	if start < len(values) {
		out = append(out, values[start:])
	}
	return out
}

func count(bs [][]catalog.Value) int {
	n := 0
	for _, b := range bs {
		n += len(b)
	}
	return n
}

// benchCases runs f for every drive and both value sets, as sub-benchmarks
// named drive=NAME,values=all|changes.
func benchCases(b *testing.B, f func(b *testing.B, d *benchDrive, batches [][]catalog.Value)) {
	for _, d := range benchDrives() {
		for _, set := range []string{"all", "changes"} {
			b.Run("drive="+d.name+",values="+set, func(b *testing.B) {
				if d.skip != "" {
					b.Skip(d.skip)
				}
				batches := d.all
				if set == "changes" {
					batches = d.changes
				}
				f(b, &d, batches)
			})
		}
	}
}

func header(seq int) batch.Header {
	return batch.Header{Vehicle: "bench-vehicle-0001", Boot: "AAAAAAAAAAAAAAAA", Seq: uint64(seq + 1), SentAt: 1732221946679678000}
}

// report sets the per-value figures of a benchmark that handled the values
// once per iteration and produced size payload bytes per iteration.
func report(b *testing.B, values, size int) {
	total := float64(b.N) * float64(values)
	b.ReportMetric(float64(size)/float64(values), "B/value")
	b.ReportMetric(total/b.Elapsed().Seconds(), "values/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/total, "ns/value")
}

// BenchmarkEncode encodes every batch of a drive per iteration: Kanal's
// codec beside the two reference encodings.
func BenchmarkEncode(b *testing.B) {
	benchCases(b, func(b *testing.B, d *benchDrive, batches [][]catalog.Value) {
		n := count(batches)
		b.Run("kanal", func(b *testing.B) {
			enc, err := batch.NewEncoder(batch.EncoderOptions{Level: 1}) // the agent's default (uplink BatchOptions.ZstdLevel)
			if err != nil {
				b.Fatal(err)
			}
			var buf []byte
			size := 0
			bb := &batch.Batch{}
			b.ReportAllocs()
			for b.Loop() {
				size = 0
				for i, vs := range batches {
					bb.Header, bb.Values = header(i), vs
					if buf, err = enc.Encode(buf[:0], bb); err != nil {
						b.Fatal(err)
					}
					size += len(buf)
				}
			}
			report(b, n, size)
		})
		b.Run("baseline-jsonl", func(b *testing.B) {
			var buf []byte
			size := 0
			b.ReportAllocs()
			for b.Loop() {
				size = 0
				for _, vs := range batches {
					buf = appendJSONLines(buf[:0], d.cat, vs)
					size += len(buf)
				}
			}
			report(b, n, size)
		})
		b.Run("baseline-rowpb-zstd", func(b *testing.B) {
			z, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.EncoderLevel(batch.DefaultLevel)), zstd.WithEncoderConcurrency(1))
			if err != nil {
				b.Fatal(err)
			}
			var raw, buf []byte
			size := 0
			b.ReportAllocs()
			for b.Loop() {
				size = 0
				for i, vs := range batches {
					raw = appendRows(raw[:0], header(i), vs)
					buf = z.EncodeAll(raw, buf[:0])
					size += len(buf)
				}
			}
			report(b, n, size)
		})
	})
}

// BenchmarkDecode decodes every payload of a drive per iteration.
func BenchmarkDecode(b *testing.B) {
	benchCases(b, func(b *testing.B, d *benchDrive, batches [][]catalog.Value) {
		enc, err := batch.NewEncoder(batch.EncoderOptions{})
		if err != nil {
			b.Fatal(err)
		}
		var payloads [][]byte
		size := 0
		for i, vs := range batches {
			p, err := enc.Encode(nil, &batch.Batch{Header: header(i), Values: vs})
			if err != nil {
				b.Fatal(err)
			}
			payloads = append(payloads, p)
			size += len(p)
		}
		dec, err := batch.NewDecoder(batch.DecoderOptions{})
		if err != nil {
			b.Fatal(err)
		}
		var out batch.Batch
		b.ReportAllocs()
		for b.Loop() {
			for _, p := range payloads {
				if err := dec.DecodeInto(p, &out); err != nil {
					b.Fatal(err)
				}
			}
		}
		report(b, count(batches), size)
	})
}

// BenchmarkReadHeader is what the gateway does for every publish.
func BenchmarkReadHeader(b *testing.B) {
	enc, err := batch.NewEncoder(batch.EncoderOptions{})
	if err != nil {
		b.Fatal(err)
	}
	vs := make([]catalog.Value, 2000)
	for i := range vs {
		vs[i] = catalog.Value{ID: uint32(1 + i%40), Time: 1732221946679678000 + int64(i)*500_000, Num: float64(i % 97)}
	}
	p, err := enc.Encode(nil, &batch.Batch{Header: header(0), Values: vs})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := batch.ReadHeader(p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// appendJSONLines is the JSON reference: one object per value with the
// catalog path, the time in Unix nanoseconds and the shortest exact number.
func appendJSONLines(dst []byte, cat *catalog.Catalog, vs []catalog.Value) []byte {
	for _, v := range vs {
		path := "unknown"
		if e, ok := cat.ByID(v.ID); ok {
			path = e.Path
		}
		dst = append(dst, `{"path":"`...)
		dst = append(dst, path...)
		dst = append(dst, `","t":`...)
		dst = strconv.AppendInt(dst, v.Time, 10)
		dst = append(dst, `,"v":`...)
		dst = strconv.AppendFloat(dst, v.Num, 'g', -1, 64)
		dst = append(dst, "}\n"...)
	}
	return dst
}

// appendRows is the row-wise protobuf reference: the header's fields, then
// one message per value {1: id, 2: time (int64 ns), 3: value (double)},
// as a straightforward .proto would define it.
func appendRows(dst []byte, h batch.Header, vs []catalog.Value) []byte {
	dst = protowire.AppendTag(dst, 1, protowire.BytesType)
	dst = protowire.AppendString(dst, h.Vehicle)
	dst = protowire.AppendTag(dst, 2, protowire.BytesType)
	dst = protowire.AppendString(dst, h.Boot)
	dst = protowire.AppendTag(dst, 3, protowire.VarintType)
	dst = protowire.AppendVarint(dst, h.Seq)
	dst = protowire.AppendTag(dst, 4, protowire.VarintType)
	dst = protowire.AppendVarint(dst, uint64(h.SentAt))
	for _, v := range vs {
		n := protowire.SizeTag(1) + protowire.SizeVarint(uint64(v.ID)) +
			protowire.SizeTag(2) + protowire.SizeVarint(uint64(v.Time)) +
			protowire.SizeTag(3) + protowire.SizeFixed64()
		dst = protowire.AppendTag(dst, 5, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(n))
		dst = protowire.AppendTag(dst, 1, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(v.ID))
		dst = protowire.AppendTag(dst, 2, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(v.Time))
		dst = protowire.AppendTag(dst, 3, protowire.Fixed64Type)
		dst = protowire.AppendFixed64(dst, math.Float64bits(v.Num))
	}
	return dst
}
