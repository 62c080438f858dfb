package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/can"
	"github.com/kanal-dev/kanal/internal/cli"
	"github.com/kanal-dev/kanal/internal/vcantest"
)

// TestRecordDropCount makes edge-agent record fall behind (its output
// blocks while a burst arrives, with the kernel's smallest receive buffer)
// twice: the first gap is reported by the next frame, as candump -d does,
// so a DROPCOUNT line stands right before it; the second gap is at the
// end, which candump never reports, so record ends the log with a
// DROPCOUNT line from the socket's drop count. Every frame sent is in the
// log or in a DROPCOUNT line, and the log reads back strictly.
func TestRecordDropCount(t *testing.T) {
	iface := vcantest.New(t, true)
	cansend := vcantest.Tool(t, "cansend")
	burst, lines := canUtilsLog(t, iface, 2000)

	out := newGate(true)
	recLog := newLogWatch("msg=recording ")
	rec := newRootCmd()
	rec.SetOut(out)
	rec.SetErr(recLog)
	rec.SetArgs([]string{"record", "--from", iface, "--out", "-", "--rcvbuf", "1"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- cli.Execute(ctx, rec) }()
	defer func() { cancel(); out.set(true); <-done }()
	select {
	case <-recLog.seen:
	case code := <-done:
		t.Fatalf("record exited %d before it was ready:\n%s", code, recLog)
	case <-time.After(10 * time.Second):
		t.Fatalf("record not ready after 10s:\n%s", recLog)
	}

	replayBurst := func() {
		t.Helper()
		if _, stderr, code := runLogged(t, "", "replay", burst, "--fast"); code != 0 {
			t.Fatalf("replay exited %d:\n%s", code, stderr)
		}
	}
	// The first gap, closed by a marker frame.
	out.set(false)
	run(t, cansend, iface, "100#01")
	out.waitBlocked(t)
	replayBurst()
	out.set(true)
	time.Sleep(500 * time.Millisecond) // record reads what the kernel kept
	run(t, cansend, iface, "7FF#FF")
	// The second gap, at the end.
	out.set(false)
	out.waitBlocked(t)
	replayBurst()
	cancel()
	out.set(true)
	if code := <-done; code != 0 {
		t.Fatalf("record exited %d:\n%s", code, recLog)
	}
	done <- 0
	log := out.String()

	sent := 1 + lines + 1 + lines
	var reports []can.DropReport
	lr := can.NewLogReader(strings.NewReader(log), can.LogReaderOptions{Strict: true, OnDrops: func(d can.DropReport) { reports = append(reports, d) }})
	frames := 0
	for {
		_, err := lr.Next(context.Background())
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("record's log read strictly: %v", err)
		}
		frames++
	}
	_, dropped := lr.Drops()
	t.Logf("record logged %d frames and %d DROPCOUNT lines for %d dropped frames, of %d sent", frames, len(reports), dropped, sent)
	if uint64(frames)+dropped != uint64(sent) {
		t.Fatalf("logged %d + dropped %d != sent %d:\n%s", frames, dropped, sent, tail(log, 20))
	}
	var total uint32
	for _, r := range reports {
		total += r.Dropped
		if r.Bus != iface || r.Dropped == 0 || r.Total != total {
			t.Errorf("report %v: want bus %s and a running total %d", r, iface, total)
		}
	}
	ls := strings.Split(strings.TrimSuffix(log, "\n"), "\n")
	marker := -1
	for i, l := range ls {
		if strings.HasSuffix(l, " "+iface+" 7FF#FF") {
			marker = i
		}
	}
	if marker < 1 || !strings.HasPrefix(ls[marker-1], "DROPCOUNT: ") {
		t.Errorf("no DROPCOUNT line right before the marker frame (line %d):\n%s", marker+1, tail(log, 20))
	}
	if last := ls[len(ls)-1]; !strings.HasPrefix(last, "DROPCOUNT: ") {
		t.Errorf("the log does not end with the drops after its last frame: %q", last)
	}
	if !strings.Contains(recLog.String(), "kernel_dropped="+fmt.Sprint(dropped)) {
		t.Errorf("record's exit stats do not say %d dropped:\n%s", dropped, recLog)
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	ls := strings.Split(s, "\n")
	return strings.Join(ls[max(0, len(ls)-n):], "\n")
}
