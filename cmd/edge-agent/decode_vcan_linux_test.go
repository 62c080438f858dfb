package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/internal/cli"
	"github.com/kanal-dev/kanal/internal/vcantest"
)

// TestDecodeLiveVcan decodes a vcan bus live (decode --from) while replay
// plays the warning drive onto it, with frames of an id the DBC does not
// know mixed in. The kernel filters built from the plan keep those out:
// decode sees exactly the drive's frames, and the ABS lamp comes on.
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

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := newLogWatch("")
	decLog := newLogWatch("msg=decoding ")
	dec := newRootCmd()
	dec.SetOut(out)
	dec.SetErr(decLog)
	dec.SetArgs([]string{"decode", "--from", iface, "--count", fmt.Sprint(len(lines)),
		"--dbc", "../../testdata/candumps/kanal_demo.dbc",
		"--mapping", "../../testdata/candumps/kanal_demo.mapping.yaml", "--normalized"})
	done := make(chan int, 1)
	go func() { done <- cli.Execute(ctx, dec) }()
	select {
	case <-decLog.seen:
	case code := <-done:
		t.Fatalf("decode exited %d before it was ready:\n%s", code, decLog)
	case <-time.After(10 * time.Second):
		t.Fatalf("decode not ready after 10s:\n%s", decLog)
	}

	rp := newRootCmd()
	rp.SetOut(io.Discard)
	rp.SetErr(io.Discard)
	rp.SetArgs([]string{"replay", log, "--map", iface + "=can0", "--speed", "50"})
	if code := cli.Execute(ctx, rp); code != 0 {
		t.Fatalf("replay exited %d", code)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("decode exited %d:\n%s", code, decLog)
		}
	case <-time.After(20 * time.Second):
		cancel()
		<-done
		t.Errorf("decode did not see all %d frames within 20s of the replay's end:\n%s", len(lines), decLog)
	}

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
	if got != len(lines) || absOn == 0 {
		t.Errorf("%d lines for %d frames, ABS on in %d; lines by id: %v", got, len(lines), absOn, byID)
	}
}
