package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/can"
	"github.com/kanal-dev/kanal/internal/cli"
	"github.com/kanal-dev/kanal/internal/vcantest"
)

// These tests need vcan links: they skip without root and AF_CAN (the
// message says so) and run for real under scripts/vmtest, which `make test`
// runs. They run the real commands in-process: `record` listens on vcan
// links, `replay` plays a candump log onto them, and the recorded file must
// hold the log's frames, in order, on the recording interface.

// TestReplayRecordVcan replays the bundled city drive (15,661 frames,
// classic and FD) as fast as the bus takes them, and records it.
func TestReplayRecordVcan(t *testing.T) {
	iface := vcantest.New(t, true)
	log := "../../testdata/candumps/drive_city.log"
	roundTrip(t, log, map[string]string{"can0": iface}, "--fast")
}

// TestReplayRecordVcanEveryKind replays a generated log of every frame kind
// (classic and FD, 11- and 29-bit ids, remote frames with a length, raw
// DLCs, BRS and ESI, error frames) on two buses, paced by its timestamps,
// and records both buses into one file.
func TestReplayRecordVcanEveryKind(t *testing.T) {
	a, b := vcantest.New(t, true), vcantest.New(t, true)
	log := filepath.Join(t.TempDir(), "kinds.log")
	if err := os.WriteFile(log, generatedLog(4000), 0o644); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, log, map[string]string{"can0": a, "can1": b}, "--speed", "10")
}

// roundTrip records the interfaces of buses (log bus name to interface)
// while replaying log onto them with replayArgs, then compares.
func roundTrip(t *testing.T, log string, buses map[string]string, replayArgs ...string) {
	t.Helper()
	prev := slog.Default()
	t.Cleanup(func() { slog.SetDefault(prev) })

	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.SplitAfter(string(data), "\n")
	if want[len(want)-1] == "" {
		want = want[:len(want)-1]
	}

	out := filepath.Join(t.TempDir(), "out.log")
	recArgs := []string{"record", "--out", out, "--count", strconv.Itoa(len(want)), "--rcvbuf", "64MiB"}
	replayArgs = append([]string{"replay", log}, replayArgs...)
	for bus, iface := range buses {
		recArgs = append(recArgs, "--from", iface)
		replayArgs = append(replayArgs, "--map", iface+"="+bus)
	}

	// record, until it has as many frames as the log or we stop it.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	recLog := newLogWatch("msg=recording ")
	rec := newRootCmd()
	rec.SetOut(io.Discard)
	rec.SetErr(recLog)
	rec.SetArgs(recArgs)
	recDone := make(chan int, 1)
	go func() { recDone <- cli.Execute(ctx, rec) }()
	select {
	case <-recLog.seen:
	case code := <-recDone:
		t.Fatalf("record exited %d before it was ready:\n%s", code, recLog)
	case <-time.After(10 * time.Second):
		t.Fatalf("record not ready after 10s:\n%s", recLog)
	}

	start := time.Now()
	replayLog := newLogWatch("")
	rp := newRootCmd()
	rp.SetOut(io.Discard)
	rp.SetErr(replayLog)
	rp.SetArgs(replayArgs)
	if code := cli.Execute(context.Background(), rp); code != 0 {
		cancel()
		<-recDone
		t.Fatalf("replay exited %d:\n%s", code, replayLog)
	}
	sent := time.Since(start)

	select {
	case code := <-recDone:
		if code != 0 {
			t.Fatalf("record exited %d:\n%s", code, recLog)
		}
	case <-time.After(20 * time.Second):
		cancel() // record writes what it has and exits
		<-recDone
		t.Errorf("record did not get all %d frames within 20s of the replay's end: frames were dropped", len(want))
	}
	t.Logf("replayed %d frames in %v (%s)", len(want), sent.Round(time.Millisecond), strings.Join(replayArgs[2:], " "))

	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	compare(t, want, string(got), buses, start)
}

// compare checks that recorded holds the lines of want, per bus in order,
// on the recording interface: with the timestamp and interface of the
// logged line put back, each recorded line is the logged line byte for
// byte. The one allowed difference is the kernel's FDF bit (0x4 in the FD
// flag nibble), which kernels since 6.0 set on every FD frame they deliver.
func compare(t *testing.T, want []string, recorded string, buses map[string]string, start time.Time) {
	t.Helper()
	wantBy := map[string][]string{} // interface -> logged lines
	for _, l := range want {
		bus := field(l, 1)
		iface, ok := buses[bus]
		if !ok {
			t.Fatalf("log bus %q has no interface", bus)
		}
		wantBy[iface] = append(wantBy[iface], l)
	}
	gotBy := map[string][]string{}
	lines := strings.SplitAfter(recorded, "\n")
	if lines[len(lines)-1] != "" {
		t.Errorf("recorded file does not end in a newline: %q", lines[len(lines)-1])
	}
	lines = lines[:len(lines)-1]
	for _, l := range lines {
		iface := field(l, 1)
		gotBy[iface] = append(gotBy[iface], l)
	}
	for iface := range gotBy {
		if _, ok := wantBy[iface]; !ok {
			t.Errorf("recorded %d frames on %q, which was not replayed to", len(gotBy[iface]), iface)
		}
	}

	lo, hi := start.Add(-time.Second), time.Now().Add(time.Second)
	fdf, fd, bad := 0, 0, 0
	for iface, wl := range wantBy {
		gl := gotBy[iface]
		if len(gl) != len(wl) {
			t.Errorf("%s: recorded %d frames, replayed %d (%d missing)", iface, len(gl), len(wl), len(wl)-len(gl))
		}
		var last time.Time
		for i := range min(len(gl), len(wl)) {
			g, w := gl[i], wl[i]
			frame, hadFDF := clearFDF(strings.TrimSuffix(field(g, 2), "\n"))
			if strings.Contains(frame, "##") {
				fd++
			}
			if hadFDF {
				fdf++
			}
			back := field(w, 0) + " " + field(w, 1) + " " + frame + "\n"
			if field(g, 1) != iface || back != w {
				if bad++; bad <= 5 {
					t.Errorf("%s frame %d:\n got  %q\n want %q", iface, i+1, g, w)
				}
				continue
			}
			tf, err := can.ParseLogLine(strings.TrimSuffix(g, "\n"))
			if err != nil {
				t.Errorf("%s frame %d: %v", iface, i+1, err)
				continue
			}
			if tf.Time.Before(lo) || tf.Time.After(hi) {
				if bad++; bad <= 5 {
					t.Errorf("%s frame %d: kernel timestamp %v outside the run %v..%v", iface, i+1, tf.Time, lo, hi)
				}
			}
			if tf.Time.Before(last) {
				if bad++; bad <= 5 {
					t.Errorf("%s frame %d: timestamp %v before the previous %v", iface, i+1, tf.Time, last)
				}
			}
			last = tf.Time
		}
	}
	if bad > 5 {
		t.Errorf("%d differences in all", bad)
	}
	t.Logf("compared %d recorded frames with the log (%d FD, %d of them with the kernel's FDF bit) on %d interface(s): %d differences",
		len(lines), fd, fdf, len(wantBy), bad)
}

// field returns the i-th space-separated field of a candump log line; the
// last one keeps the line's newline.
func field(line string, i int) string {
	f := strings.SplitN(line, " ", 3)
	if i >= len(f) {
		return ""
	}
	return f[i]
}

// clearFDF clears the FDF bit in the flag nibble of an FD frame's text
// (`123##5AA` becomes `123##1AA`) and reports whether it was set.
func clearFDF(frame string) (string, bool) {
	i := strings.Index(frame, "##")
	if i < 0 || i+2 >= len(frame) {
		return frame, false
	}
	n, err := strconv.ParseUint(frame[i+2:i+3], 16, 8)
	if err != nil || n&uint64(can.FDF) == 0 {
		return frame, false
	}
	nib := strings.ToUpper(strconv.FormatUint(n&^uint64(can.FDF), 16))
	return frame[:i+2] + nib + frame[i+3:], true
}

// generatedLog returns n candump log lines on can0 and can1, 1 ms apart,
// cycling through every kind of frame, written as can-utils writes them.
func generatedLog(n int) []byte {
	r := rand.New(rand.NewPCG(4, 2))
	fdLens := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64}
	hex := func(k int) string {
		var s strings.Builder
		for range k {
			fmt.Fprintf(&s, "%02X", r.IntN(256))
		}
		return s.String()
	}
	id := func(ext bool) string {
		if ext {
			return fmt.Sprintf("%08X", r.Uint32N(can.MaxExtendedID+1))
		}
		return fmt.Sprintf("%03X", r.Uint32N(can.MaxStandardID+1))
	}
	var b bytes.Buffer
	t0 := time.Unix(1732221946, 0)
	for i := range n {
		ext := r.IntN(2) == 1
		var frame string
		switch i % 8 {
		case 0, 1: // classic data, 0-8 bytes
			frame = id(ext) + "#" + hex(r.IntN(9))
		case 2: // classic, 8 bytes with a raw DLC 9-F
			frame = id(ext) + "#" + hex(8) + fmt.Sprintf("_%X", 9+r.IntN(7))
		case 3: // remote frame, requested length 0-8
			frame = id(ext) + "#R"
			if k := r.IntN(9); k > 0 {
				frame += strconv.Itoa(k)
			}
		case 4, 5, 6: // FD with BRS and ESI in every combination
			frame = id(ext) + "##" + strconv.Itoa(r.IntN(4)) + hex(fdLens[r.IntN(len(fdLens))])
		case 7: // error frame: CAN_ERR_FLAG, non-zero class bits (the error mask must match), 8 data bytes
			frame = fmt.Sprintf("%08X#", 0x20000000|(1+r.Uint32N(0x3FF))) + hex(8)
		}
		bus := "can0"
		if r.IntN(3) == 0 {
			bus = "can1"
		}
		ts := t0.Add(time.Duration(i) * time.Millisecond)
		fmt.Fprintf(&b, "(%d.%06d) %s %s\n", ts.Unix(), ts.Nanosecond()/1000, bus, frame)
	}
	return b.Bytes()
}

// logWatch collects a command's log output and closes seen at the first
// write that contains want. Both commands log through slog's default
// logger, which the later one replaces, so writes come from either
// goroutine.
type logWatch struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
}

func newLogWatch(want string) *logWatch { return &logWatch{want: want, seen: make(chan struct{})} }

func (w *logWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.want != "" && bytes.Contains(p, []byte(w.want)) {
		select {
		case <-w.seen:
		default:
			close(w.seen)
		}
	}
	return len(p), nil
}

func (w *logWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
