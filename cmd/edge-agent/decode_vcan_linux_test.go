package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/internal/cli"
	"github.com/kanal-dev/kanal/internal/vcantest"
)

// TestDecodeLiveVcan decodes a vcan bus live (decode --from) while replay
// plays the warning drive onto it, with frames of an id the DBC does not
// know mixed in. The kernel filters built from the plan keep those out:
// decode sees the drive's frames, and the ABS lamp comes on. Every frame of
// the drive is accounted for, as decoded or as dropped by the kernel (which
// decode reports when it ends): on a slow machine (TCG, the race detector)
// a reader can fall behind a replay at 50 times real speed.
func TestDecodeLiveVcan(t *testing.T) {
	iface := vcantest.New(t, true)
	data, err := os.ReadFile("../../testdata/candumps/drive_warning.log")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	var mixed strings.Builder
	for i, l := range lines {
		mixed.WriteString(l + "\n")
		if i%10 == 0 {
			// same time as the frame before: an id no message of the DBC has
			fmt.Fprintf(&mixed, "%s can0 7FF#DEADBEEF\n", field(l, 0))
		}
	}
	log := filepath.Join(t.TempDir(), "mixed.log")
	if err := os.WriteFile(log, []byte(mixed.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	out := newLogWatch("")
	dec, decLog := startDecode(ctx, t, out, "decode", "--from", iface, "--count", fmt.Sprint(len(lines)),
		"--dbc", "../../testdata/candumps/kanal_demo.dbc",
		"--mapping", "../../testdata/candumps/kanal_demo.mapping.yaml", "--normalized")

	if code := dec.replay(ctx, "replay", log, "--map", iface+"=can0", "--speed", "50"); code != 0 {
		t.Fatalf("replay exited %d:\n%s", code, decLog)
	}
	dropped := dec.stop(t, cancel, out)

	var got, absOn int
	byID := map[uint32]int{}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var rec struct {
			ID      uint32             `json:"id"`
			Signals map[string]float64 `json:"signals"`
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("not JSON: %q: %v", l, err)
		}
		got++
		byID[rec.ID]++
		if rec.ID == 0x7FF {
			t.Fatalf("a frame the kernel filter should have kept out: %s", l)
		}
		if rec.Signals["Vehicle.Kanal.Warning.ABS.IsOn"] == 1 {
			absOn++
		}
	}
	// Every message of the demo DBC is mapped, so each frame prints a line.
	t.Logf("%d frames: %d decoded, %d dropped by the kernel", len(lines), got, dropped)
	if got+dropped != len(lines) || absOn == 0 {
		t.Errorf("%d lines + %d dropped for %d frames, ABS on in %d; lines by id: %v\n%s", got, dropped, len(lines), absOn, byID, decLog)
	}
}

// liveDecode is a decode --from running in-process.
type liveDecode struct {
	done chan int
	log  *logWatch
}

// startDecode runs edge-agent with args (a decode --from), its output to
// out, and returns once it listens.
func startDecode(ctx context.Context, t *testing.T, out io.Writer, args ...string) (*liveDecode, *logWatch) {
	t.Helper()
	d := &liveDecode{done: make(chan int, 1), log: newLogWatch("msg=decoding ")}
	dec := newRootCmd()
	dec.SetOut(out)
	dec.SetErr(d.log)
	dec.SetArgs(args)
	go func() { d.done <- cli.Execute(ctx, dec) }()
	select {
	case <-d.log.seen:
	case code := <-d.done:
		t.Fatalf("decode exited %d before it was ready:\n%s", code, d.log)
	case <-time.After(10 * time.Second):
		t.Fatalf("decode not ready after 10s:\n%s", d.log)
	}
	return d, d.log
}

// replay runs edge-agent replay in-process, logging where decode logs:
// each command makes its logger slog's default, so decode's last lines
// (its bus stats) may go through either one's.
func (d *liveDecode) replay(ctx context.Context, args ...string) int {
	rp := newRootCmd()
	rp.SetOut(io.Discard)
	rp.SetErr(d.log)
	rp.SetArgs(args)
	return cli.Execute(ctx, rp)
}

// stop waits until decode ends by itself (--count reached) or its output
// has not grown for 5 s (it read every frame the kernel kept), then ends it
// with cancel, and returns the frames the kernel dropped, from the bus
// stats decode logs at its end.
func (d *liveDecode) stop(t *testing.T, cancel context.CancelFunc, out *logWatch) int {
	t.Helper()
	const quiet = 5 * time.Second
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last, lastChange := -1, time.Now()
	for code := -1; code < 0; {
		select {
		case code = <-d.done:
			if code != 0 {
				t.Fatalf("decode exited %d:\n%s", code, d.log)
			}
		case <-tick.C:
			if n := out.Len(); n != last {
				last, lastChange = n, time.Now()
			} else if time.Since(lastChange) > quiet {
				cancel()
			}
		}
	}
	m := regexp.MustCompile(`kernel_dropped=(\d+)`).FindStringSubmatch(d.log.String())
	if m == nil {
		t.Fatalf("decode did not log its bus stats:\n%s", d.log)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// gate is a command's output that can hold its writes back: a decode or
// record whose output is stuck stops reading its bus, as one behind a slow
// terminal, pipe or disk does, and the kernel drops what does not fit in
// the socket's buffer. It keeps what got through in its logWatch.
type gate struct {
	mu      sync.Mutex
	cond    *sync.Cond
	open    bool
	blocked chan struct{} // gets a value when a write waits at the closed gate
	*logWatch
}

func newGate(open bool) *gate {
	g := &gate{open: open, blocked: make(chan struct{}, 1), logWatch: newLogWatch("")}
	g.cond = sync.NewCond(&g.mu)
	return g
}

func (g *gate) Write(p []byte) (int, error) {
	g.mu.Lock()
	for !g.open {
		select {
		case g.blocked <- struct{}{}:
		default:
		}
		g.cond.Wait()
	}
	g.mu.Unlock()
	return g.logWatch.Write(p)
}

// set opens or closes the gate.
func (g *gate) set(open bool) {
	g.mu.Lock()
	g.open = open
	g.mu.Unlock()
	g.cond.Broadcast()
}

// waitBlocked waits until a write waits at the closed gate: from then on
// the command reads no frames.
func (g *gate) waitBlocked(t *testing.T) {
	t.Helper()
	select {
	case <-g.blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("no write came to the closed gate within 10s")
	}
}

// TestDecodeLiveDrops blocks decode --from's output while a burst of
// frames arrives, so that the kernel drops what does not fit in the
// socket's buffer. decode reports the drops (a warning with the count when
// it ends), and decoded plus dropped is every frame sent. The drops come at
// the end of the stream, where no later frame carries the kernel's count:
// only asking the socket (SO_MEMINFO) finds them.
func TestDecodeLiveDrops(t *testing.T) {
	const total = 40000
	iface := vcantest.New(t, true)
	var text strings.Builder
	for i := range total {
		fmt.Fprintf(&text, "(1.%06d) can0 0A0#000000F8FF2C0001\n", i)
	}
	log := filepath.Join(t.TempDir(), "burst.log")
	if err := os.WriteFile(log, []byte(text.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	out := newGate(false)
	dec, decLog := startDecode(ctx, t, out, "decode", "--from", iface, "--dbc", "../../testdata/candumps/kanal_demo.dbc")
	code := dec.replay(ctx, "replay", log, "--map", iface+"=can0", "--fast")
	out.set(true)
	if code != 0 {
		t.Fatalf("replay exited %d:\n%s", code, decLog)
	}
	dropped := dec.stop(t, cancel, out.logWatch)
	got := strings.Count(out.String(), "\n")
	t.Logf("%d frames: %d decoded, %d dropped by the kernel", total, got, dropped)
	if dropped == 0 || got+dropped != total {
		t.Errorf("decoded %d + dropped %d != sent %d (want drops: the output was blocked)\n%s", got, dropped, total, decLog)
	}
	if !strings.Contains(decLog.String(), "level=WARN msg=\"bus stats\" bus="+iface) {
		t.Errorf("no warning about the drops:\n%s", decLog)
	}
}

// decode -o count --strict reads a log with the DROPCOUNT lines candump -d
// writes: they are not malformed, each is a warning with file, line,
// interface and count, and the count output sums them. Needs no vcan.
func TestDecodeCountDropCount(t *testing.T) {
	log := writeLog(t, "drops.log", dropLog)
	stdout, stderr, code := runLogged(t, "", "decode", "--dbc", "../../testdata/candumps/kanal_demo.dbc", "-o", "count", "--strict", log)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	for _, w := range []string{"frames        3\n", "malformed     0\n", "recorder drops  2830 (DROPCOUNT lines in the logs)\n"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("count output lacks %q:\n%s", w, stdout)
		}
	}
	for _, w := range []string{"file=" + log + " line=2 bus=vcan0 dropped=2829", "file=" + log + " line=4 bus=vcan1 dropped=1"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("log lacks %q:\n%s", w, stderr)
		}
	}
}
