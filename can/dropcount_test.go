package can

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestParseDropCount(t *testing.T) {
	for _, tc := range []struct {
		desc           string
		line           string
		bus            string
		dropped, total uint32
	}{
		{"can-utils 2020.11 (%d)", "DROPCOUNT: dropped 2829 CAN frames on 'vcan0' socket (total drops 2829)", "vcan0", 2829, 2829},
		{"one frame", "DROPCOUNT: dropped 1 CAN frame on 'can1' socket (total drops 7)", "can1", 1, 7},
		{"any interface", "DROPCOUNT: dropped 12 CAN frames on 'any' socket (total drops 40)", "any", 12, 40},
		{"current can-utils (%u) over 2^31", "DROPCOUNT: dropped 3000000000 CAN frames on 'can0' socket (total drops 4294967295)", "can0", 3000000000, 4294967295},
		{"%d over 2^31 prints negative", "DROPCOUNT: dropped -1294967296 CAN frames on 'can0' socket (total drops -1)", "can0", 3000000000, 4294967295},
		{"without socket", "DROPCOUNT: dropped 2 CAN frames on 'can7' (total drops 2)", "can7", 2, 2},
		{"CR", "DROPCOUNT: dropped 5 CAN frames on 'vcan0' socket (total drops 9)\r", "vcan0", 5, 9},
		{"quote in the name", "DROPCOUNT: dropped 5 CAN frames on 'my'can' socket (total drops 9)", "my'can", 5, 9},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			bus, dropped, total, err := parseDropCount([]byte(tc.line))
			if err != nil {
				t.Fatalf("parseDropCount(%q): %v", tc.line, err)
			}
			if string(bus) != tc.bus || dropped != tc.dropped || total != tc.total {
				t.Fatalf("parseDropCount(%q) = %q, %d, %d; want %q, %d, %d", tc.line, bus, dropped, total, tc.bus, tc.dropped, tc.total)
			}
		})
	}
}

func TestParseDropCountErrors(t *testing.T) {
	for _, line := range []string{
		"DROPCOUNT:",
		"DROPCOUNT: dropped",
		"DROPCOUNT: dropped x CAN frames on 'vcan0' socket (total drops 1)",
		"DROPCOUNT: dropped 1 CAN frames on vcan0 socket (total drops 1)",
		"DROPCOUNT: dropped 1 CAN frames on '' socket (total drops 1)",
		"DROPCOUNT: dropped 1 CAN frames on 'vcan 0' socket (total drops 1)",
		"DROPCOUNT: dropped 1 CAN frames on 'vcan0' socket (total drops 1",
		"DROPCOUNT: dropped 1 CAN frames on 'vcan0' socket (total drops 1) extra",
		"DROPCOUNT: dropped 4294967296 CAN frames on 'vcan0' socket (total drops 1)",
		"DROPCOUNT: dropped -2147483649 CAN frames on 'vcan0' socket (total drops 1)",
		"DROPCOUNT: dropped - CAN frames on 'vcan0' socket (total drops 1)",
		"DROPCOUNT: dropped 1 LIN frames on 'vcan0' socket (total drops 1)",
	} {
		if bus, d, tot, err := parseDropCount([]byte(line)); err == nil {
			t.Errorf("parseDropCount(%q) = %q, %d, %d; want an error", line, bus, d, tot)
		}
	}
}

// A log as `candump -l -d` writes it: DROPCOUNT lines between the frames.
// They are reported with file, line and interface, summed, and neither
// malformed nor fatal in strict mode; a garbled one is malformed.
func TestLogReaderDropCount(t *testing.T) {
	in := "(1.000001) vcan0 123#00\n" +
		"DROPCOUNT: dropped 2829 CAN frames on 'vcan0' socket (total drops 2829)\n" +
		"(1.000002) vcan0 123#01\n" +
		"DROPCOUNT: dropped 1 CAN frame on 'vcan1' socket (total drops 1)\r\n" +
		"(1.000003) vcan1 456#02\n"
	for _, strict := range []bool{false, true} {
		t.Run(fmt.Sprintf("strict=%v", strict), func(t *testing.T) {
			var reports []DropReport
			lr := NewLogReader(strings.NewReader(in), LogReaderOptions{Name: "d.log", Strict: strict,
				OnDrops: func(d DropReport) { reports = append(reports, d) }})
			if n := readFrames(t, lr); n != 3 {
				t.Fatalf("read %d frames, want 3", n)
			}
			want := []DropReport{
				{File: "d.log", Line: 2, Bus: "vcan0", Dropped: 2829, Total: 2829},
				{File: "d.log", Line: 4, Bus: "vcan1", Dropped: 1, Total: 1},
			}
			if fmt.Sprint(reports) != fmt.Sprint(want) {
				t.Errorf("reports %v, want %v", reports, want)
			}
			if lines, frames := lr.Drops(); lines != 2 || frames != 2830 {
				t.Errorf("Drops() = %d lines, %d frames; want 2, 2830", lines, frames)
			}
			if n, first := lr.Malformed(); n != 0 {
				t.Errorf("%d malformed lines, first %v", n, first)
			}
		})
	}
	if s := (DropReport{File: "d.log", Line: 2, Bus: "vcan0", Dropped: 3, Total: 5}).String(); s != "d.log:2: the recorder dropped 3 frames on vcan0 (total 5)" {
		t.Errorf("String() = %q", s)
	}

	bad := "(1.000001) vcan0 123#00\nDROPCOUNT: dropped many CAN frames\n(1.000002) vcan0 123#01\n"
	lr := NewLogReader(strings.NewReader(bad), LogReaderOptions{Name: "d.log"})
	if n := readFrames(t, lr); n != 2 {
		t.Fatalf("read %d frames, want 2", n)
	}
	if n, first := lr.Malformed(); n != 1 || first.Line != 2 || !errors.Is(first, errDropCount) {
		t.Errorf("malformed %d, first %v; want the DROPCOUNT line 2", n, first)
	}
	if lines, _ := lr.Drops(); lines != 0 {
		t.Errorf("a garbled DROPCOUNT line counted as a report")
	}
	lr = NewLogReader(strings.NewReader(bad), LogReaderOptions{Name: "d.log", Strict: true})
	lr.Next(context.Background())
	if _, err := lr.Next(context.Background()); !errors.Is(err, errDropCount) {
		t.Errorf("strict: %v, want the garbled DROPCOUNT line's error", err)
	}
}

func readFrames(t *testing.T, lr *LogReader) int {
	t.Helper()
	n := 0
	for {
		_, err := lr.Next(context.Background())
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
}

// FuzzParseDropCount: never a panic, and what parses formats back (in
// today's %u form) to the same report.
func FuzzParseDropCount(f *testing.F) {
	f.Add("DROPCOUNT: dropped 2829 CAN frames on 'vcan0' socket (total drops 2829)")
	f.Add("DROPCOUNT: dropped 1 CAN frame on 'can1' (total drops -1)\r")
	f.Fuzz(func(t *testing.T, line string) {
		bus, dropped, total, err := parseDropCount([]byte(line))
		if err != nil {
			return
		}
		again := fmt.Sprintf("DROPCOUNT: dropped %d CAN frames on '%s' socket (total drops %d)", dropped, bus, total)
		b2, d2, t2, err := parseDropCount([]byte(again))
		if err != nil || string(b2) != string(bus) || d2 != dropped || t2 != total {
			t.Fatalf("%q -> %q: %q %d %d, %v", line, again, b2, d2, t2, err)
		}
	})
}

// TestAppendDropCount: the line is byte for byte what current candump -d
// writes ("frame" singular for one), and reads back as what was written.
func TestAppendDropCount(t *testing.T) {
	for _, tc := range []struct {
		bus            string
		dropped, total uint32
		want           string
	}{
		{"vcan0", 2829, 2829, "DROPCOUNT: dropped 2829 CAN frames on 'vcan0' socket (total drops 2829)"},
		{"can1", 1, 7, "DROPCOUNT: dropped 1 CAN frame on 'can1' socket (total drops 7)"},
		{"can0", 3000000000, 4294967295, "DROPCOUNT: dropped 3000000000 CAN frames on 'can0' socket (total drops 4294967295)"},
	} {
		line := AppendDropCount(nil, tc.bus, tc.dropped, tc.total)
		if string(line) != tc.want {
			t.Errorf("got  %s\nwant %s", line, tc.want)
		}
		bus, dropped, total, err := parseDropCount(line)
		if err != nil || string(bus) != tc.bus || dropped != tc.dropped || total != tc.total {
			t.Errorf("%s read back as %q %d %d, %v", line, bus, dropped, total, err)
		}
	}
}

// TestLogWriterDrops: a frame the kernel dropped others before is preceded
// by a DROPCOUNT line with the total per bus, WriteDrops adds one on its
// own, and LogReader reads every report back where it was written.
func TestLogWriterDrops(t *testing.T) {
	var b strings.Builder
	lw := NewLogWriter(&b)
	f := frame(0x123, 0, 0x11)
	for _, tm := range []Timed{
		{Time: timeAt(1), Bus: "vcan0", Frame: f},
		{Time: timeAt(2), Bus: "vcan0", Frame: f, Dropped: 5},
		{Time: timeAt(3), Bus: "vcan1", Frame: f, Dropped: 1},
		{Time: timeAt(4), Bus: "vcan0", Frame: f, Dropped: 2},
	} {
		if err := lw.Write(tm); err != nil {
			t.Fatal(err)
		}
	}
	if err := lw.WriteDrops("vcan1", 0); err != nil {
		t.Fatal(err)
	}
	if err := lw.WriteDrops("vcan1", 3); err != nil {
		t.Fatal(err)
	}
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	want := `(0000000000.000001) vcan0 123#11
DROPCOUNT: dropped 5 CAN frames on 'vcan0' socket (total drops 5)
(0000000000.000002) vcan0 123#11
DROPCOUNT: dropped 1 CAN frame on 'vcan1' socket (total drops 1)
(0000000000.000003) vcan1 123#11
DROPCOUNT: dropped 2 CAN frames on 'vcan0' socket (total drops 7)
(0000000000.000004) vcan0 123#11
DROPCOUNT: dropped 3 CAN frames on 'vcan1' socket (total drops 4)
`
	if b.String() != want {
		t.Fatalf("wrote\n%s\nwant\n%s", b.String(), want)
	}
	if lw.Size() != int64(len(want)) {
		t.Errorf("Size %d, want %d", lw.Size(), len(want))
	}

	var reports []string
	lr := NewLogReader(strings.NewReader(want), LogReaderOptions{Strict: true, OnDrops: func(d DropReport) {
		reports = append(reports, fmt.Sprintf("%d:%s:%d:%d", d.Line, d.Bus, d.Dropped, d.Total))
	}})
	if n := readFrames(t, lr); n != 4 {
		t.Errorf("read %d frames back, want 4", n)
	}
	if got := strings.Join(reports, " "); got != "2:vcan0:5:5 4:vcan1:1:1 6:vcan0:2:7 8:vcan1:3:4" {
		t.Errorf("reports %s", got)
	}
	if lines, frames := lr.Drops(); lines != 4 || frames != 11 {
		t.Errorf("Drops() = %d lines, %d frames, want 4, 11", lines, frames)
	}
}
