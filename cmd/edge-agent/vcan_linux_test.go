package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/can"
	"github.com/kanal-dev/kanal/can/socketcan"
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
// DLCs, every FD flag nibble, error frames) on two buses, paced by its
// timestamps, and records both buses into one file.
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
		if bus != iface { // else replay sends to the logged interface, as canplayer does
			replayArgs = append(replayArgs, "--map", iface+"="+bus)
		}
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
// flag nibble), which kernels since 6.0 set on every FD frame they deliver,
// so it is compared on neither side; every other bit of the nibble, 0x8
// too, must come back.
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
			wframe, _ := clearFDF(strings.TrimSuffix(field(w, 2), "\n"))
			if strings.Contains(frame, "##") {
				fd++
			}
			if hadFDF {
				fdf++
			}
			if field(g, 1) != iface || frame != wframe {
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
		case 4, 5, 6: // FD with every flag nibble: BRS, ESI, FDF and 0x8, which no header names
			frame = id(ext) + "##" + fmt.Sprintf("%X", r.IntN(16)) + hex(fdLens[r.IntN(len(fdLens))])
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

// Len returns the bytes written so far.
func (w *logWatch) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Len()
}

func (w *logWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestReplayAsLogged replays a log whose lines name the vcan links, with
// neither --to nor --map: each frame goes to the interface it was logged
// on, as canplayer sends it without assignments.
func TestReplayAsLogged(t *testing.T) {
	a, b := vcantest.New(t, true), vcantest.New(t, true)
	text := strings.NewReplacer(" can0 ", " "+a+" ", " can1 ", " "+b+" ").Replace(string(generatedLog(1000)))
	log := filepath.Join(t.TempDir(), "aslogged.log")
	if err := os.WriteFile(log, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, log, map[string]string{a: a, b: b}, "--fast")
}

// runLogged runs edge-agent in-process with stdin and returns its standard
// output, its log (standard error) and its exit code.
func runLogged(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	prev := slog.Default()
	defer slog.SetDefault(prev)
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code = cli.Execute(ctx, root)
	return out.String(), errb.String(), code
}

// writeLog writes a candump log into the test's temporary directory.
func writeLog(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Without --to or --map, a log line's interface must exist; the error says
// where frames go and how to send them elsewhere. Needs no vcan.
func TestReplayAsLoggedMissingInterface(t *testing.T) {
	log := writeLog(t, "x.log", "(1.000000) nosuchcan7 123#00\n")
	_, stderr, code := runLogged(t, "", "replay", log, "--fast")
	if code != 1 || !strings.Contains(stderr, "nosuchcan7") || !strings.Contains(stderr, "logged on") ||
		!strings.Contains(stderr, "--to IFACE") {
		t.Errorf("exit %d, want 1 with an error naming the interface and --to:\n%s", code, stderr)
	}
}

// dropLog is a log as `candump -l -d` writes it when it fell behind: a
// DROPCOUNT line before the next frame, on two interfaces.
const dropLog = "(1.000001) vcan0 123#00\n" +
	"DROPCOUNT: dropped 2829 CAN frames on 'vcan0' socket (total drops 2829)\n" +
	"(1.000002) vcan0 123#01\n" +
	"DROPCOUNT: dropped 1 CAN frame on 'vcan1' socket (total drops 1)\n" +
	"(1.000003) vcan1 456##B11\n"

// replay --strict plays a log with DROPCOUNT lines: they are gaps in the
// log, reported with file, line, interface and count, not malformed lines.
// The FD flag nibble B (0x8 included) comes out as it went in. Needs no vcan.
func TestReplayDropCount(t *testing.T) {
	log := writeLog(t, "drops.log", dropLog)
	stdout, stderr, code := runLogged(t, "", "replay", log, "--to", "-", "--fast", "--strict")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	want := "(0000000001.000001) vcan0 123#00\n(0000000001.000002) vcan0 123#01\n(0000000001.000003) vcan1 456##B11\n"
	if stdout != want {
		t.Errorf("replayed:\n%s\nwant:\n%s", stdout, want)
	}
	for _, w := range []string{
		"file=" + log + " line=2 bus=vcan0 dropped=2829 total=2829",
		"file=" + log + " line=4 bus=vcan1 dropped=1 total=1",
		"recorder_dropped=2830",
		"malformed=0",
	} {
		if !strings.Contains(stderr, w) {
			t.Errorf("log lacks %q:\n%s", w, stderr)
		}
	}
}

// The tests below run Kanal beside can-utils on the same vcan links. They
// need candump, canplayer and cansend (scripts/vmtest copies the host's into
// the VM) and skip without them.

// canReceivers counts the raw sockets bound to iface, from the kernel's
// receive lists: a program that opened its socket is ready to receive.
func canReceivers(t *testing.T, iface string) int {
	t.Helper()
	files, _ := filepath.Glob("/proc/net/can/rcvlist_*")
	if len(files) == 0 {
		t.Fatal("no /proc/net/can/rcvlist_*: cannot tell when candump is ready")
	}
	n := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(data), "\n") {
			if fs := strings.Fields(l); len(fs) > 0 && fs[0] == iface {
				n++
			}
		}
	}
	return n
}

// candump runs can-utils' candump -l with args (the last names the
// interface, with filters) in a new directory and returns once its socket
// is bound to iface. stop waits for it to end and returns the log it wrote.
// args must end it: -n COUNT (after COUNT frames) or -T MSECS (after a
// quiet time). A SIGTERM when the sender is done could come before candump
// has read the last frames from its socket, and they would be missing.
func candump(t *testing.T, iface string, args ...string) (stop func() string, proc *os.Process) {
	t.Helper()
	bin := vcantest.Tool(t, "candump")
	dir := t.TempDir()
	before := canReceivers(t, iface)
	cmd := exec.Command(bin, append([]string{"-l"}, args...)...)
	cmd.Dir = dir
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	for deadline := time.Now().Add(10 * time.Second); canReceivers(t, iface) <= before; {
		select {
		case err := <-exited:
			stopped = true
			t.Fatalf("candump exited: %v\n%s", err, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("candump not listening on %s after 10s\n%s", iface, errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return func() string {
		t.Helper()
		_ = cmd.Process.Signal(syscall.SIGCONT) // in case a test stopped it
		select {
		case err := <-exited:
			stopped = true
			if err != nil {
				t.Fatalf("candump: %v\n%s", err, errb.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("candump did not end within 30s (args %q)", args)
		}
		logs, _ := filepath.Glob(filepath.Join(dir, "candump-*.log"))
		if len(logs) != 1 {
			t.Fatalf("candump wrote %d logs, want 1\n%s", len(logs), errb.String())
		}
		return string(mustRead(t, logs[0]))
	}, cmd.Process
}

// run runs a program to its end and fails the test if it fails.
func run(t *testing.T, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// startRecord runs edge-agent record in-process until it has count frames
// and returns a function that waits for it and returns the recorded log.
func startRecord(t *testing.T, iface string, count int) (wait func() string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "kanal.log")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	recLog := newLogWatch("msg=recording ")
	rec := newRootCmd()
	rec.SetOut(io.Discard)
	rec.SetErr(recLog)
	rec.SetArgs([]string{"record", "--from", iface, "--out", out, "--count", strconv.Itoa(count), "--rcvbuf", "64MiB"})
	done := make(chan int, 1)
	go func() { done <- cli.Execute(ctx, rec) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-recLog.seen:
	case code := <-done:
		t.Fatalf("record exited %d before it was ready:\n%s", code, recLog)
	case <-time.After(10 * time.Second):
		t.Fatalf("record not ready after 10s:\n%s", recLog)
	}
	return func() string {
		t.Helper()
		select {
		case code := <-done:
			done <- code // for the cleanup
			if code != 0 {
				t.Fatalf("record exited %d:\n%s", code, recLog)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("record did not get its %d frames within 30s:\n%s", count, recLog)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
}

// canUtilsLog returns n generated log lines on iface without raw DLCs:
// Debian 12's can-utils (2020.11) predate them (len8_dlc, Linux 5.11), and
// its canplayer stops at `_X`.
func canUtilsLog(t *testing.T, iface string, n int) (path string, lines int) {
	t.Helper()
	var b strings.Builder
	for _, l := range strings.SplitAfter(string(generatedLog(n)), "\n") {
		if l == "" || strings.Contains(l, "_") {
			continue
		}
		f := strings.SplitN(l, " ", 3)
		b.WriteString(f[0] + " " + iface + " " + f[2])
		lines++
	}
	return writeLog(t, "kinds.log", b.String()), lines
}

// TestRecordBesideCandump records one vcan link with candump -l and with
// edge-agent record at once, while edge-agent replay plays frames of every
// kind and can-utils' cansend sends FD frames with every flag nibble. The
// two files are byte for byte the same: both write the kernel's receive
// time of the same frames. cansend 123##8AA arrives as 123##CAA on kernels
// that add FDF (6.0 and newer): the bit 0x8, which no header names, stays.
func TestRecordBesideCandump(t *testing.T) {
	iface := vcantest.New(t, true)
	cansend := vcantest.Tool(t, "cansend")
	log, lines := canUtilsLog(t, iface, 2000)

	stopDump, _ := candump(t, iface, "-n", strconv.Itoa(lines+16), "-r", "67108864", iface+",0:0,#FFFFFFFF") // data and error frames
	wait := startRecord(t, iface, lines+16)
	if _, stderr, code := runLogged(t, "", "replay", log, "--speed", "10"); code != 0 {
		t.Fatalf("replay exited %d:\n%s", code, stderr)
	}
	for nib := range 16 {
		run(t, cansend, iface, fmt.Sprintf("123##%X%02X", nib, nib))
	}
	kanal := wait()
	dump := stopDump()
	if kanal != dump {
		k, d := strings.Split(kanal, "\n"), strings.Split(dump, "\n")
		for i := range min(len(k), len(d)) {
			if k[i] != d[i] {
				t.Fatalf("line %d differs:\n record  %q\n candump %q\n(%d and %d lines)", i+1, k[i], d[i], len(k), len(d))
			}
		}
		t.Fatalf("record wrote %d lines, candump %d", len(k), len(d))
	}
	// The 0x8 bit arrived: 123##8 + 08 is ##8 or ##C (FDF added) in both.
	if !strings.Contains(kanal, " 123##808\n") && !strings.Contains(kanal, " 123##C08\n") {
		t.Errorf("cansend 123##808 not recorded with its flag nibble:\n%s", kanal[max(0, len(kanal)-600):])
	}
	t.Logf("%d frames recorded identically by candump -l and edge-agent record", strings.Count(kanal, "\n"))
}

// TestReplayBesideCanplayer plays one log with canplayer and with
// edge-agent replay, neither told where to send (each frame goes to the
// interface it was logged on), and records each with candump -l: the frames
// are the same, in the same order. The log's FD flag nibbles come out whole
// (123##B11 is sent as 123##F11 by both on kernels that add FDF).
func TestReplayBesideCanplayer(t *testing.T) {
	iface := vcantest.New(t, true)
	canplayer := vcantest.Tool(t, "canplayer")
	log, lines := canUtilsLog(t, iface, 600)

	dump := []string{"-n", strconv.Itoa(lines), "-r", "67108864", iface + ",0:0,#FFFFFFFF"}
	stop, _ := candump(t, iface, dump...)
	run(t, canplayer, "-I", log)
	byCanplayer := stop()
	stop, _ = candump(t, iface, dump...)
	if _, stderr, code := runLogged(t, "", "replay", log); code != 0 {
		t.Fatalf("replay exited %d:\n%s", code, stderr)
	}
	byKanal := stop()

	frames := func(text string) []string {
		var fs []string
		for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
			fs = append(fs, field(l, 1)+" "+field(l, 2))
		}
		return fs
	}
	c, k := frames(byCanplayer), frames(byKanal)
	if len(c) != lines || len(k) != lines {
		t.Fatalf("candump saw %d frames from canplayer and %d from replay; the log has %d", len(c), len(k), lines)
	}
	fdB := 0
	for i := range c {
		if c[i] != k[i] {
			t.Fatalf("frame %d: canplayer sent %q, replay %q", i+1, c[i], k[i])
		}
		if strings.Contains(c[i], "##B") || strings.Contains(c[i], "##F") {
			fdB++
		}
	}
	if fdB == 0 {
		t.Errorf("no frame with flag nibble B or F: the log did not test the 0x8 bit")
	}
	t.Logf("%d frames, the same from canplayer and replay (%d with flag nibble B or F)", lines, fdB)
}

// TestCandumpDropCount makes candump -d lose frames (a receive buffer of
// the kernel's minimum, and candump stopped with SIGSTOP during a burst) so
// that its log has a DROPCOUNT line, then reads that log: every frame sent
// is in the log or in a DROPCOUNT line, and decode -o count --strict shows
// the drops.
func TestCandumpDropCount(t *testing.T) {
	iface := vcantest.New(t, true)
	cansend := vcantest.Tool(t, "cansend")
	log, lines := canUtilsLog(t, iface, 2000)

	stop, proc := candump(t, iface, "-T", "3000", "-d", "-r", "1", iface+",0:0,#FFFFFFFF")
	if err := proc.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runLogged(t, "", "replay", log, "--fast")
	if err := proc.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if code != 0 {
		t.Fatalf("replay exited %d:\n%s", code, stderr)
	}
	time.Sleep(300 * time.Millisecond) // candump empties its buffer
	run(t, cansend, iface, "7FF#FF")   // the kernel tells candump the drops with this frame
	dumped := writeLog(t, "candump.log", stop())

	var reports []can.DropReport
	lr, err := can.OpenLog(dumped, can.LogReaderOptions{Strict: true, OnDrops: func(d can.DropReport) { reports = append(reports, d) }})
	if err != nil {
		t.Fatal(err)
	}
	defer lr.Close()
	n := 0
	for {
		_, err := lr.Next(context.Background())
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("candump's log with DROPCOUNT lines, read strictly: %v", err)
		}
		n++
	}
	dropLines, dropped := lr.Drops()
	t.Logf("candump logged %d frames and %d DROPCOUNT lines for %d dropped frames, of %d sent", n, dropLines, dropped, lines+1)
	if dropLines == 0 || uint64(n)+dropped != uint64(lines+1) {
		t.Fatalf("logged %d + dropped %d != sent %d", n, dropped, lines+1)
	}
	for _, r := range reports {
		if r.Bus != iface || r.Dropped == 0 || r.Total < r.Dropped {
			t.Errorf("report %v", r)
		}
	}

	stdout, stderr, code := runLogged(t, "", "decode", "--dbc", "../../testdata/candumps/kanal_demo.dbc", "-o", "count", "--strict", dumped)
	if code != 0 {
		t.Fatalf("decode exited %d:\n%s", code, stderr)
	}
	for _, w := range []string{fmt.Sprintf("frames        %d\n", n), "malformed     0\n",
		fmt.Sprintf("recorder drops  %d (DROPCOUNT lines in the logs)\n", dropped)} {
		if !strings.Contains(stdout, w) {
			t.Errorf("decode -o count lacks %q:\n%s", w, stdout)
		}
	}
	if !strings.Contains(stderr, "bus="+iface) || !strings.Contains(stderr, "line=") {
		t.Errorf("decode did not warn about the drops with line and interface:\n%s", stderr)
	}
}

// TestCanplayerDifferences checks, with the real canplayer, where Kanal
// deliberately differs from it (the README's candump section says so): a
// line canplayer silently changes, Kanal skips as malformed; a line at
// which canplayer stops, Kanal skips and plays on. Each case is a bad line
// between two good ones.
func TestCanplayerDifferences(t *testing.T) {
	iface := vcantest.New(t, true)
	canplayer := vcantest.Tool(t, "canplayer")
	r, err := socketcan.Open(context.Background(), socketcan.Options{Interface: iface, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w, err := socketcan.Open(context.Background(), socketcan.Options{Interface: iface, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	marker, _ := can.ParseFrame([]byte("7FF#FF"))
	// seen sends a marker and returns the frames r read before it.
	seen := func() []string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := w.Send(ctx, can.Timed{Frame: marker}); err != nil {
			t.Fatal(err)
		}
		var got []string
		for {
			tf, err := r.Next(ctx)
			if err != nil {
				t.Fatalf("after %v: %v", got, err)
			}
			if tf.Frame == marker {
				return got
			}
			got = append(got, tf.Frame.String())
		}
	}
	for _, tc := range []struct {
		desc, line string
		canplayer  []string // what arrives when canplayer plays the three lines
	}{
		{"standard id over 0x7FF", "800#11", []string{"001#01", "000#11", "002#02"}},
		{"id over 29 bits", "40000123#11", []string{"001#01", "00000123#R1", "002#02"}},
		{"9 bytes of classic data", "123#112233445566778899", []string{"001#01", "123#1122334455667788", "002#02"}},
		{"remote length 9", "123#R9", []string{"001#01", "123#R", "002#02"}},
		{"odd number of digits", "123#1", []string{"001#01"}},
		{"2-digit id", "12#11", []string{"001#01"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			log := writeLog(t, "x.log", fmt.Sprintf("(1.000000) %[1]s 001#01\n(1.000001) %[1]s %[2]s\n(1.000002) %[1]s 002#02\n", iface, tc.line))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, cpErr := exec.CommandContext(ctx, canplayer, "-I", log).CombinedOutput()
			got := seen()
			if strings.Join(got, " ") != strings.Join(tc.canplayer, " ") {
				t.Errorf("canplayer (%v, %q) sent %v, the README says %v", cpErr, out, got, tc.canplayer)
			}
			if stops := len(tc.canplayer) == 1; stops != (cpErr != nil) {
				t.Errorf("canplayer exit: %v (%q)", cpErr, out)
			}

			_, stderr, code := runLogged(t, "", "replay", log, "--fast")
			if code != 0 || !strings.Contains(stderr, "malformed=1") {
				t.Errorf("replay exited %d, want 0 with the line skipped as malformed:\n%s", code, stderr)
			}
			if got := seen(); strings.Join(got, " ") != "001#01 002#02" {
				t.Errorf("replay sent %v, want the two good frames", got)
			}
		})
	}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
