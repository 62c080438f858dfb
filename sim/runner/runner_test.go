package runner

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/geo"
	"github.com/kanal-dev/kanal/internal/brokertest"
	"github.com/kanal-dev/kanal/internal/wire"
	"github.com/kanal-dev/kanal/sim/fleet"
	"github.com/kanal-dev/kanal/uplink"
	"github.com/kanal-dev/kanal/uplink/batch"
	"github.com/kanal-dev/kanal/uplink/spool"
)

const (
	demoDBC     = "../../testdata/candumps/kanal_demo.dbc"
	demoMapping = "../../testdata/candumps/kanal_demo.mapping.yaml"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func speed(x float64) *float64 { return &x }

func testFleet(t *testing.T, o fleet.Options) *fleet.Fleet {
	t.Helper()
	o.DBC = demoDBC
	f, err := fleet.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func testOptions(t *testing.T, f *fleet.Fleet, broker string) Options {
	return Options{Fleet: f, Broker: broker, Dir: t.TempDir(), Mapping: demoMapping, Speed: speed(0),
		Uplink: uplink.Options{MQTTOptions: uplink.MQTTOptions{BackoffMin: 20 * time.Millisecond,
			BackoffMax: 200 * time.Millisecond, PublishTimeout: 5 * time.Second}},
		Spool: spool.Options{Fsync: spool.FsyncNone}, DrainTimeout: 60 * time.Second, Logger: quiet}
}

func runCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestRunDeliversEveryVehicle runs 20 agents in one process against a real
// mochi broker for 20 simulated seconds at ten times real time: every vehicle's
// batches arrive, numbered from 1 without gaps, nothing is left in a
// spool, the fog lights in the batches are those of the truth, and the
// truth is the one the fleet computes offline.
func TestRunDeliversEveryVehicle(t *testing.T) {
	br := brokertest.Start(t, brokertest.Options{})
	f := testFleet(t, fleet.Options{Vehicles: 20, Seed: 9, Duration: 20 * time.Second,
		Fog: fleet.FogOptions{Banks: 1, RadiusM: 1500}, WarningRate: 200})
	opts := testOptions(t, f, br.URL())
	// Not speed 0: agents whose frames are all sent before they connect
	// race their keyframe-after-connect against the drain (agent.Run), and
	// one may end with that keyframe still in its spool.
	opts.Speed = speed(10)
	reg := prometheus.NewRegistry()
	opts.Metrics = reg
	var mu sync.Mutex
	var reports []Progress
	opts.ProgressEvery = 100 * time.Millisecond
	opts.Progress = func(p Progress) {
		mu.Lock()
		reports = append(reports, p)
		mu.Unlock()
	}
	res, err := Run(runCtx(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Unacked != 0 {
		t.Fatalf("%d batches left in the spools", res.Unacked)
	}
	dec, err := batch.NewDecoder(batch.DecoderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fogFront, _ := catalog.Default().ByPath("Vehicle.Body.Lights.Fog.Front.IsOn")
	cellEntry, _ := catalog.Default().ByPath(uplink.CellPath)
	fogVehicles := map[string]bool{}
	cells := map[string]bool{}
	var frames uint64
	for i, vr := range res.Vehicles {
		if vr.ID != f.ID(i) || vr.Err != nil {
			t.Fatalf("vehicle %d: %+v", i, vr)
		}
		frames += vr.Frames
		if vr.Frames < 87*19 {
			t.Errorf("%s sent %d frames in 20 s", vr.ID, vr.Frames)
		}
		msgs := br.Messages(wire.BatchTopic(vr.ID))
		if len(msgs) == 0 || uint64(len(msgs)) < vr.Batches {
			t.Fatalf("%s: %d batches at the broker, the agent made %d", vr.ID, len(msgs), vr.Batches)
		}
		seqs := map[uint64]bool{}
		for _, m := range msgs {
			b, err := dec.Decode(m.Payload)
			if err != nil {
				t.Fatalf("%s: %v", vr.ID, err)
			}
			if b.Header.Vehicle != vr.ID || m.Client != vr.ID {
				t.Fatalf("batch of %s from client %s on %s's topic", b.Header.Vehicle, m.Client, vr.ID)
			}
			seqs[b.Header.Seq] = true
			for _, v := range b.Values {
				switch v.ID {
				case fogFront.ID:
					if v.Num == 1 {
						fogVehicles[vr.ID] = true
					}
				case cellEntry.ID:
					c, err := geo.CellFromFloat64(v.Num)
					if err != nil {
						t.Fatal(err)
					}
					cells[c.Token()] = true
				}
			}
		}
		for s := uint64(1); s <= vr.Batches; s++ {
			if !seqs[s] {
				t.Fatalf("%s: batch %d of %d missing", vr.ID, s, vr.Batches)
			}
		}
	}
	if frames != res.Frames {
		t.Fatalf("result counts %d frames, vehicles %d", res.Frames, frames)
	}
	// the truth of the live run is the offline one
	offline, err := f.Truth(runCtx(t), fleet.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(res.Truth)
	b, _ := json.Marshal(offline)
	if string(a) != string(b) {
		t.Fatalf("live truth differs from offline:\n%s\n%s", a, b)
	}
	if len(res.Truth.Warnings) == 0 {
		t.Fatal("no warnings in the truth: the test sees too little")
	}
	for _, w := range res.Truth.Warnings {
		if !cells[w.Cell] {
			t.Errorf("warning in cell %s, which no batch names", w.Cell)
		}
	}
	if len(fogVehicles) == 0 {
		t.Fatal("no fog lights in any batch: the test sees too little")
	}
	// progress: reported, ending with Done and everything counted
	mu.Lock()
	last := reports[len(reports)-1]
	mu.Unlock()
	if !last.Done || last.Frames != res.Frames || last.Running != 0 || last.Vehicles != 20 || last.Ended != 20 {
		t.Fatalf("last progress %+v", last)
	}
	// the metrics are off the registry again
	if n, _ := reg.Gather(); len(n) != 0 {
		t.Fatalf("%d metric families left registered", len(n))
	}
}

// authBroker is a real mochi broker that lets in only the given users.
func authBroker(t *testing.T, users map[string]string) string {
	t.Helper()
	return brokertest.Start(t, brokertest.Options{Users: users}).URL()
}

// TestRunLogsIn gives each vehicle its password: the agents log in as
// their vehicle id to a broker that refuses anyone else, and every batch
// is acknowledged; the password files are the owner's only.
func TestRunLogsIn(t *testing.T) {
	f := testFleet(t, fleet.Options{Vehicles: 3, Duration: 5 * time.Second})
	users := map[string]string{}
	for i := range f.Len() {
		users[f.ID(i)] = "pw-" + strings.Repeat("x", i+1)
	}
	opts := testOptions(t, f, authBroker(t, users))
	opts.Speed = speed(5) // see TestRunDeliversEveryVehicle
	opts.Password = func(v string) (string, error) { return users[v], nil }
	opts.DrainTimeout = 20 * time.Second
	res, err := Run(runCtx(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Unacked != 0 || res.Batches == 0 {
		t.Fatalf("%d batches, %d unacknowledged", res.Batches, res.Unacked)
	}
	for id, pw := range users {
		path := filepath.Join(opts.Dir, id, "password")
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v", path, st.Mode())
		}
		if b, _ := os.ReadFile(path); string(b) != pw+"\n" {
			t.Errorf("%s: %q", path, b)
		}
	}
	// a wrong password: the agents never get in, and say so
	opts.Dir = t.TempDir()
	opts.Speed = speed(0)
	opts.Password = func(v string) (string, error) { return "wrong", nil }
	opts.DrainTimeout = 2 * time.Second
	res, err = Run(runCtx(t), opts)
	if err == nil || !strings.Contains(err.Error(), "3 of 3 agents failed") {
		t.Fatalf("run with wrong passwords: %v", err)
	}
	if res == nil || res.Unacked == 0 || res.Truth == nil {
		t.Fatalf("result of a failed run: %+v", res)
	}
}

// TestRunCancelled stops a real-time run early: Run returns soon, every
// agent has its open batch in its spool, and the truth ends where the
// vehicles had got to.
func TestRunCancelled(t *testing.T) {
	br := brokertest.Start(t, brokertest.Options{})
	f := testFleet(t, fleet.Options{Vehicles: 4, Duration: time.Hour})
	opts := testOptions(t, f, br.URL())
	opts.Speed = speed(1)
	ctx, cancel := context.WithTimeout(runCtx(t), 3*time.Second)
	defer cancel()
	began := time.Now()
	res, err := Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > 30*time.Second {
		t.Fatalf("a cancelled run took %v to return", took)
	}
	if d := res.Truth.End.Sub(res.Truth.Start); d <= 0 || d > 10*time.Second {
		t.Fatalf("truth of a cancelled run covers %v", d)
	}
	for _, vr := range res.Vehicles {
		if vr.Frames == 0 || vr.Frames > 87*15 {
			t.Fatalf("%s sent %d frames in about 3 s of real time", vr.ID, vr.Frames)
		}
	}
}

func TestOptionErrors(t *testing.T) {
	f := testFleet(t, fleet.Options{Vehicles: 1})
	for _, tc := range []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"fleet", func(o *Options) { o.Fleet = nil }, "fleet is required"},
		{"broker", func(o *Options) { o.Broker = "" }, "broker is required"},
		{"dir", func(o *Options) { o.Dir = "" }, "dir is required"},
		{"mapping", func(o *Options) { o.Mapping = "" }, "mapping is required"},
		{"speed", func(o *Options) { o.Speed = speed(-1) }, "speed -1"},
		{"zones", func(o *Options) {
			o.Privacy.Zones = []geo.Zone{{Name: "home", Lat: 48.1, Lng: 11.5, RadiusM: 100}}
		}, "privacy zones"},
		{"level", func(o *Options) { o.Privacy.Level = 12 }, "privacy.level 12"},
		{"rules", func(o *Options) { o.Rules.Lamps = []string{"Nope"} }, `"Nope"`},
		{"bad broker", func(o *Options) { o.Broker = "http://x" }, "scheme"},
		{"bad mapping", func(o *Options) { o.Mapping = "nonexistent.yaml" }, "nonexistent.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions(t, f, "mqtt://127.0.0.1:1")
			tc.edit(&o)
			_, err := Run(runCtx(t), o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run: %v, want %q", err, tc.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	f := testFleet(t, fleet.Options{Vehicles: 1})
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o, err := Options{Fleet: f, Broker: "mqtt://x", Dir: "d", Mapping: "m", Logger: log}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if o.Privacy.Level != 13 || o.DrainTimeout != DefaultDrainTimeout || o.ProgressEvery != DefaultProgressEvery {
		t.Fatalf("defaults %+v", o)
	}
	// the agents' log: warnings and errors only, with what they add
	al := o.AgentLogger.With("vehicle", "sim-0001")
	al.Info("agent running")
	al.Debug("details")
	al.WithGroup("g").Warn("spool failing", "n", 1)
	if got := buf.String(); strings.Contains(got, "agent running") || strings.Contains(got, "details") ||
		!strings.Contains(got, `msg="spool failing" vehicle=sim-0001 g.n=1`) {
		t.Fatalf("agent log:\n%s", got)
	}
	for in, want := range map[any]float64{3: 3, int64(4): 4, uint64(5): 5, 1.5: 1.5, "x": 0, nil: 0} {
		if got := number(in); got != want {
			t.Errorf("number(%v) = %v", in, got)
		}
	}
}

// TestMetrics reads the run's metrics while it runs.
func TestMetrics(t *testing.T) {
	br := brokertest.Start(t, brokertest.Options{})
	f := testFleet(t, fleet.Options{Vehicles: 3, Duration: 4 * time.Second})
	opts := testOptions(t, f, br.URL())
	opts.Speed = speed(2)
	reg := prometheus.NewRegistry()
	opts.Metrics = reg
	opts.ProgressEvery = 200 * time.Millisecond
	var mu sync.Mutex
	seen := map[string]float64{}
	opts.Progress = func(p Progress) {
		fams, err := reg.Gather()
		if err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, mf := range fams {
			for _, m := range mf.GetMetric() {
				v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
				seen[mf.GetName()] = max(seen[mf.GetName()], v)
			}
		}
	}
	res, err := Run(runCtx(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if seen["kanal_sim_agents_running"] != 3 || seen["kanal_sim_agents_connected"] != 3 {
		t.Errorf("metrics %v", seen)
	}
	if fr := seen["kanal_sim_frames_total"]; fr == 0 || fr > float64(res.Frames) {
		t.Errorf("frames_total %v of %d", fr, res.Frames)
	}
	if _, ok := seen["kanal_sim_lag_seconds"]; !ok {
		t.Errorf("no lag metric: %v", seen)
	}
}

// TestBuildFailures: a password that cannot be had fails the run before
// any spool is opened; an agent that cannot be built fails it after the
// ones built before it have closed their spools again.
func TestBuildFailures(t *testing.T) {
	f := testFleet(t, fleet.Options{Vehicles: 3, Duration: 5 * time.Second})
	opts := testOptions(t, f, "mqtt://127.0.0.1:1")
	for _, tc := range []struct {
		pw   func(string) (string, error)
		want string
	}{
		{func(v string) (string, error) {
			if v == "sim-0002" {
				return "", errors.New("not in the file")
			}
			return "pw", nil
		}, "sim-0002: password: not in the file"},
		{func(string) (string, error) { return "two\nlines", nil }, "more than one line"},
		{func(string) (string, error) { return "", nil }, "empty"},
	} {
		opts.Password = tc.pw
		if _, err := Run(runCtx(t), opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("Run: %v, want %q", err, tc.want)
		}
		if _, err := os.Stat(filepath.Join(opts.Dir, "sim-0001", "spool")); !os.IsNotExist(err) {
			t.Fatalf("a spool opened before every password was there: %v", err)
		}
	}
	// the third vehicle's spool directory is a file
	opts.Password = nil
	os.MkdirAll(filepath.Join(opts.Dir, "sim-0003"), 0o700)
	os.WriteFile(filepath.Join(opts.Dir, "sim-0003", "spool"), nil, 0o600)
	if _, err := Run(runCtx(t), opts); err == nil || !strings.Contains(err.Error(), "sim-0003") {
		t.Fatalf("Run with a broken spool: %v", err)
	}
	for _, id := range []string{"sim-0001", "sim-0002"} {
		sp, err := spool.Open(spool.Options{Dir: filepath.Join(opts.Dir, id, "spool")})
		if err != nil {
			t.Fatalf("%s's spool still held after the failed run: %v", id, err)
		}
		sp.Close()
	}
}
