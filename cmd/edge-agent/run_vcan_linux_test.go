package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/internal/brokertest"
	"github.com/kanal-dev/kanal/internal/cli"
	"github.com/kanal-dev/kanal/internal/vcantest"
	"github.com/kanal-dev/kanal/internal/wire"
	"github.com/kanal-dev/kanal/uplink/batch"
)

// TestRunVcan is the agent as a vehicle runs it: `edge-agent run --from`
// on a live vcan bus, a real broker on loopback, while replay plays the
// warning drive onto the bus. Batches arrive in sequence from one boot,
// they carry the ABS lamp coming on and the coarse cell, and never a
// precise position; on SIGTERM-like cancellation the agent exits 0 after
// spooling its open batch, and every spooled batch has been acknowledged
// by then or is sent by the next run (checked by the kill -9 test).
func TestRunVcan(t *testing.T) {
	iface := vcantest.New(t, true)
	br := brokertest.Start(t, brokertest.Options{})
	const veh = "veh-vcan-1"

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	agentLog := newLogWatch("msg=\"agent running\"")
	run := newRootCmd()
	run.SetOut(io.Discard)
	run.SetErr(agentLog)
	run.SetArgs([]string{"run", "--vehicle", veh, "--broker", br.URL(), "--spool-dir", t.TempDir(),
		"--dbc", demoDBC, "--mapping", demoMapping, "--from", iface})
	done := make(chan int, 1)
	go func() { done <- cli.Execute(ctx, run) }()
	select {
	case <-agentLog.seen:
	case code := <-done:
		t.Fatalf("agent exited %d before it ran:\n%s", code, agentLog)
	case <-time.After(20 * time.Second):
		t.Fatalf("agent not running after 20s:\n%s", agentLog)
	}

	rp := newRootCmd()
	rp.SetOut(io.Discard)
	rp.SetErr(agentLog) // each command makes its logger slog's default
	rp.SetArgs([]string{"replay", "../../testdata/candumps/drive_warning.log", "--map", iface + "=can0", "--speed", "20"})
	if code := cli.Execute(ctx, rp); code != 0 {
		cancel()
		<-done
		t.Fatalf("replay exited %d:\n%s", code, agentLog)
	}

	abs, ok := catalog.Default().ByPath("Vehicle.Kanal.Warning.ABS.IsOn")
	if !ok {
		t.Fatal("no ABS lamp in the default catalog")
	}
	cell, ok := catalog.Default().ByPath("Vehicle.Kanal.Location.Cell")
	if !ok {
		t.Fatal("no cell in the default catalog")
	}
	lat, _ := catalog.Default().ByPath("Vehicle.CurrentLocation.Latitude")
	dec, err := batch.NewDecoder(batch.DecoderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The drive's last values are in the agent's open batch until its
	// window closes: wait (bounded) until the lamp has arrived.
	var absOn, cells int
	var batches []*batch.Batch
	deadline := time.Now().Add(30 * time.Second)
	for absOn == 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		batches, absOn, cells = batches[:0], 0, 0
		for _, m := range br.Messages(wire.BatchTopic(veh)) {
			b, err := dec.Decode(m.Payload)
			if err != nil {
				t.Fatalf("batch does not decode: %v", err)
			}
			batches = append(batches, b)
			for _, v := range b.Values {
				switch {
				case v.ID == abs.ID && v.Num == 1:
					absOn++
				case v.ID == cell.ID:
					cells++
				case lat != nil && v.ID == lat.ID:
					t.Fatalf("a precise latitude left the agent: %v", v)
				}
			}
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("agent exited %d on cancel:\n%s", code, agentLog)
	}
	if absOn == 0 || cells == 0 {
		t.Fatalf("%d batches: ABS on %d times, %d cells; want both\n%s", len(batches), absOn, cells, agentLog)
	}
	// Several batches may be in flight at once, so they are checked as a
	// set: one boot, sequence numbers 1..n, none twice.
	boot, seen := batches[0].Header.Boot, map[uint64]bool{}
	for _, b := range batches {
		if b.Header.Boot != boot || seen[b.Header.Seq] || b.Header.Seq == 0 || b.Header.Seq > uint64(len(batches)) {
			t.Fatalf("batch boot %s seq %d among %d batches of boot %s (seen twice: %v)",
				b.Header.Boot, b.Header.Seq, len(batches), boot, seen[b.Header.Seq])
		}
		seen[b.Header.Seq] = true
	}
	if strings.Contains(agentLog.String(), "level=ERROR") {
		t.Errorf("the agent logged an error:\n%s", agentLog)
	}
	t.Logf("%d batches from the live bus, ABS on in %d values, %d cell values", len(batches), absOn, cells)
}
