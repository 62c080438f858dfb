package can

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// benchLog returns a candump log to measure with: the project's demo drive
// when it exists, else a synthetic mix of classic, extended and FD lines.
func benchLog(b *testing.B) []byte {
	b.Helper()
	if data, err := os.ReadFile(filepath.Join("..", "testdata", "candumps", "drive_city.log")); err == nil {
		return data
	}
	var buf bytes.Buffer
	for i := range 20000 {
		f := frame(uint32(i%0x7FF), 0, byte(i), byte(i>>8), 3, 4, 5, 6, 7, 8)
		switch i % 10 {
		case 7:
			f.Flags |= Extended
			f.ID |= 0x18000000
		case 9:
			f.Flags |= FD | BRS
			f.Len = 32
		}
		buf.Write(AppendLogLine(nil, Timed{Time: timeAt(int64(i) * 1000), Bus: "can0", Frame: f}))
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

// BenchmarkCandumpParse reads a whole log with LogReader beside the
// straightforward parser a newcomer would write with strings, strconv and
// hex, on the same lines in the same run.
func BenchmarkCandumpParse(b *testing.B) {
	data := benchLog(b)
	lines := bytes.Count(data, []byte("\n"))
	b.Run("reader", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			lr := NewLogReader(bytes.NewReader(data), LogReaderOptions{})
			for {
				if _, err := lr.Next(context.Background()); err != nil {
					if err != io.EOF {
						b.Fatal(err)
					}
					break
				}
			}
		}
		reportLines(b, lines)
		measureAllocs(b, lines, func() {
			lr := NewLogReader(bytes.NewReader(data), LogReaderOptions{})
			for _, err := lr.Next(context.Background()); err == nil; _, err = lr.Next(context.Background()) {
			}
		})
	})
	b.Run("baseline=strings", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			for line := range strings.Lines(string(data)) {
				if _, err := naiveParse(line); err != nil {
					b.Fatal(err)
				}
			}
		}
		reportLines(b, lines)
		measureAllocs(b, lines, func() {
			for line := range strings.Lines(string(data)) {
				naiveParse(line)
			}
		})
	})
}

// BenchmarkCandumpWrite writes frames as log lines.
func BenchmarkCandumpWrite(b *testing.B) {
	data := benchLog(b)
	var frames []Timed
	lr := NewLogReader(bytes.NewReader(data), LogReaderOptions{})
	for {
		t, err := lr.Next(context.Background())
		if err != nil {
			break
		}
		frames = append(frames, t)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		lw := NewLogWriter(io.Discard)
		for _, t := range frames {
			if err := lw.Write(t); err != nil {
				b.Fatal(err)
			}
		}
		lw.Flush()
	}
	reportLines(b, len(frames))
	measureAllocs(b, len(frames), func() {
		lw := NewLogWriter(io.Discard)
		for _, t := range frames {
			lw.Write(t)
		}
		lw.Flush()
	})
}

// reportLines reports the rate and allocations per line; the per-op figures
// of a benchmark that reads a whole file say little.
func reportLines(b *testing.B, lines int) {
	b.ReportMetric(float64(b.N)*float64(lines)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(0, "ns/op")
}

// measureAllocs runs fn and reports its heap allocations per line.
func measureAllocs(b *testing.B, lines int, fn func()) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(lines), "allocs/line")
}

type naiveFrame struct {
	t    float64
	bus  string
	id   uint64
	data []byte
}

func naiveParse(line string) (naiveFrame, error) {
	fields := strings.Fields(line)
	if len(fields) != 3 {
		return naiveFrame{}, fmt.Errorf("fields")
	}
	t, err := strconv.ParseFloat(strings.Trim(fields[0], "()"), 64)
	if err != nil {
		return naiveFrame{}, err
	}
	idText, dataText, _ := strings.Cut(fields[2], "#")
	id, err := strconv.ParseUint(idText, 16, 32)
	if err != nil {
		return naiveFrame{}, err
	}
	if len(dataText) > 0 && dataText[0] == '#' {
		dataText = dataText[2:]
	}
	data, err := hex.DecodeString(dataText)
	return naiveFrame{t: t, bus: fields[1], id: id, data: data}, err
}
