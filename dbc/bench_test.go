package dbc

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"testing"

	ecan "go.einride.tech/can"
	"go.einride.tech/can/pkg/descriptor"

	"github.com/kanal-dev/kanal/can"
)

// benchFrames returns up to 100,000 classic frames of the Ford GT350 log
// and its DBC, or, without ../../shared, frames encoded from
// testdata/layout.dbc.
func benchFrames(b *testing.B) (*Database, []can.Frame) {
	b.Helper()
	dir := filepath.Join("..", "..", "shared")
	db, err := Load(filepath.Join(dir, "dbc", "ford_lincoln_base_pt.dbc"))
	if err == nil {
		lr, err := can.OpenLog(filepath.Join(dir, "candumps", "ford_gt350.log"), can.LogReaderOptions{})
		if err == nil {
			defer lr.Close()
			var frames []can.Frame
			for len(frames) < 100000 {
				t, err := lr.Next(context.Background())
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				if t.Frame.Len <= 8 { // einride's frames hold 8 bytes
					frames = append(frames, t.Frame)
				}
			}
			return db, frames
		}
	}
	b.Logf("shared Ford log not found (%v); using testdata/layout.dbc", err)
	db, err = Load("testdata/layout.dbc")
	if err != nil {
		b.Fatal(err)
	}
	var frames []can.Frame
	for i := 0; i < 1000; i++ {
		frames = append(frames,
			frame(256, 0, byte(i), 2, 3, 4, 5, byte(i>>3), 7, 0xFE),
			frame(259, 0, byte(i%2), 7, 0x10, 0x27, 0, 0, 0, 0),
			frame(0x0CF004FE, can.Extended, 1, 2, 3, byte(i), 5, 6, 7, 8))
	}
	return db, frames
}

// BenchmarkDecode runs Kanal's plan and einride's descriptor decode
// (UnmarshalPhysical per signal, the documented way to use einride) over
// the same frames and reports frames/s and values/s per core.
func BenchmarkDecode(b *testing.B) {
	db, frames := benchFrames(b)
	b.Run("plan", func(b *testing.B) {
		p, err := NewPlan(db)
		if err != nil {
			b.Fatal(err)
		}
		out := make([]Value, 0, p.MaxValues())
		run(b, len(frames), func() (values int) {
			for i := range frames {
				out, _ = p.Decode(&frames[i], out)
				values += len(out)
			}
			return values
		})
	})
	b.Run("einride", func(b *testing.B) {
		byID := map[uint32]*descriptor.Message{}
		for _, m := range db.Messages {
			if m.Length <= 8 {
				key := m.ID
				if m.Extended {
					key |= idExtendedFlag
				}
				if _, dup := byID[key]; !dup {
					byID[key] = einrideMessage(m)
				}
			}
		}
		out := make([]float64, 0, 256)
		run(b, len(frames), func() (values int) {
			for i := range frames {
				f := &frames[i]
				key := f.ID
				if f.IsExtended() {
					key |= idExtendedFlag
				}
				m := byID[key]
				if m == nil || int(f.Len) < int(m.Length) {
					continue
				}
				var d ecan.Data
				copy(d[:], f.Data[:8])
				out = out[:0]
				for _, s := range m.Signals {
					out = append(out, s.UnmarshalPhysical(d))
				}
				values += len(out)
			}
			return values
		})
	})
}

// run times pass, one decode of all frames returning the values it made,
// and reports per-frame figures: frames/s and values/s on one core, and
// allocations per frame counted over a few more passes outside the timed
// loop.
func run(b *testing.B, frames int, pass func() int) {
	var values int
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		values = pass()
	}
	b.StopTimer()
	sec := b.Elapsed().Seconds()
	if sec == 0 || frames == 0 {
		return
	}
	b.ReportMetric(float64(b.N*frames)/sec, "frames/s")
	b.ReportMetric(float64(b.N*values)/sec, "values/s")
	b.ReportMetric(testing.AllocsPerRun(3, func() { pass() })/float64(frames), "allocs/frame")
	b.ReportMetric(0, "ns/op")
}
