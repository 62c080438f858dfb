package main

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/can"
	"github.com/kanal-dev/kanal/can/socketcan"
	"github.com/kanal-dev/kanal/internal/vcantest"
	"github.com/kanal-dev/kanal/sim/fleet"
)

// TestVcanSendsTheVehicle runs `fleet vcan` onto a real vcan link (it
// skips without root and AF_CAN; scripts/vmtest runs it in a VM) while a
// SocketCAN reader listens, and wants every frame of the vehicle, classic
// and FD, in order, byte for byte as the offline generator makes them.
func TestVcanSendsTheVehicle(t *testing.T) {
	prev := slog.Default()
	t.Cleanup(func() { slog.SetDefault(prev) })
	iface := vcantest.New(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rx, err := socketcan.Open(ctx, socketcan.Options{Interface: iface, ReceiveBuffer: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()

	// the frames the vehicle makes, from a fleet with the command's flags
	f, err := fleet.New(fleet.Options{DBC: testDBC, Vehicles: 3, Seed: 5, Duration: 6 * time.Second,
		Fog: fleet.FogOptions{Banks: 2}, WarningRate: 0.5, BreakdownRate: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	v, err := f.Vehicle(1)
	if err != nil {
		t.Fatal(err)
	}
	var want []can.Frame
	for {
		fr, err := v.Next()
		if err != nil {
			break
		}
		want = append(want, fr.Frame)
	}

	got := make(chan []can.Frame, 1)
	go func() {
		var fs []can.Frame
		for len(fs) < len(want) {
			t, err := rx.Next(ctx)
			if err != nil {
				break
			}
			fs = append(fs, t.Frame)
		}
		got <- fs
	}()
	code, out, errs := fleetCmd(t, "vcan", "--iface", iface, "--vehicle", "sim-0002", "--dbc", testDBC,
		"--vehicles", "3", "--seed", "5", "--duration", "6s", "--speed", "10")
	if code != 0 {
		t.Fatalf("vcan: exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "truth: 3 vehicles") || !strings.Contains(errs, "frames="+strconv.Itoa(len(want))) {
		t.Errorf("stdout %q, stderr %q", out, errs)
	}
	var fs []can.Frame
	select {
	case fs = <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("the reader did not get every frame")
	}
	if len(fs) != len(want) {
		t.Fatalf("read %d frames, the vehicle has %d", len(fs), len(want))
	}
	fd := 0
	for i := range want {
		w, g := want[i], fs[i]
		g.Flags &^= can.FDF // kernels since 6.0 add FDF to every FD frame
		if w.ID != g.ID || w.Flags != g.Flags || !bytes.Equal(w.Payload(), g.Payload()) {
			t.Fatalf("frame %d: read %v, sent %v", i, fs[i], w)
		}
		if w.IsFD() {
			fd++
		}
	}
	if fd == 0 {
		t.Fatal("no FD frame went over the bus")
	}
}

// TestVcanMissingInterface: a bus that does not exist is an error naming it.
func TestVcanMissingInterface(t *testing.T) {
	vcantest.Available(t)
	code, _, errs := fleetCmd(t, "vcan", "--iface", "kvcan-none", "--dbc", testDBC, "--duration", "2s")
	if code != 1 || !strings.Contains(errs, "kvcan-none") {
		t.Fatalf("exit %d: %s", code, errs)
	}
}
