package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kanal-dev/kanal/can"
	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/dbc"
	"github.com/kanal-dev/kanal/geo"
	"github.com/kanal-dev/kanal/internal/brokertest"
	"github.com/kanal-dev/kanal/internal/freeport"
	"github.com/kanal-dev/kanal/internal/wire"
	"github.com/kanal-dev/kanal/uplink"
	"github.com/kanal-dev/kanal/uplink/batch"
	"github.com/kanal-dev/kanal/uplink/spool"
)

const (
	demoDBC     = "../testdata/candumps/kanal_demo.dbc"
	demoMapping = "../testdata/candumps/kanal_demo.mapping.yaml"
	fogDrive    = "../testdata/candumps/drive_fog.log"
	vehicle     = "veh-agent-1"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func speed(x float64) *float64 { return &x }

func testConfig(t *testing.T, broker, log string) Config {
	t.Helper()
	return Config{
		Vehicle: vehicle,
		Sources: SourcesOptions{Replay: ReplayOptions{File: log, Speed: speed(0)}},
		Buses:   dbc.PipelineOptions{DBC: []string{demoDBC}, Mapping: demoMapping},
		Uplink: uplink.Options{MQTTOptions: uplink.MQTTOptions{Broker: broker,
			BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond, PublishTimeout: 3 * time.Second}},
		Spool:        spool.Options{Dir: t.TempDir(), Fsync: spool.FsyncNone},
		DrainTimeout: 20 * time.Second,
	}
}

func run(t *testing.T, cfg Config, ctx context.Context) (*Agent, error) {
	t.Helper()
	a, err := New(cfg, Options{Logger: quiet, Registry: prometheus.NewRegistry(), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return a, a.Run(ctx)
}

// decoded returns every batch the broker got from the vehicle, decoded.
func decoded(t *testing.T, br *brokertest.Broker) []*batch.Batch {
	t.Helper()
	dec, err := batch.NewDecoder(batch.DecoderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []*batch.Batch
	for _, m := range br.Messages(wire.BatchTopic(vehicle)) {
		b, err := dec.Decode(m.Payload)
		if err != nil {
			t.Fatalf("batch does not decode: %v", err)
		}
		out = append(out, b)
	}
	return out
}

// expected runs the drive through the same stages the agent chains
// (pipeline, privacy, sampler) with the log's own times, for comparison
// with what arrived at the broker.
func expected(t *testing.T, log string, priv uplink.PrivacyOptions) []catalog.Value {
	t.Helper()
	pipe, err := dbc.NewPipeline(dbc.PipelineOptions{DBC: []string{demoDBC}, Mapping: demoMapping, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	pol := pipe.Sampling()
	var samp *uplink.Sampler
	p, err := uplink.NewPrivacy(priv, uplink.PrivacyDeps{Catalog: pipe.Catalog(), Logger: quiet,
		Mapped: func(id uint32) bool { _, ok := pol[id]; return ok }, OnWithhold: func() { samp.Forget(107) }})
	if err != nil {
		t.Fatal(err)
	}
	samp = uplink.NewSampler(samplingWithCell(pol, pipe.Catalog(), p.CellID()), uplink.SamplingOptions{})
	lr, err := can.OpenLog(log, can.LogReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer lr.Close()
	var fv dbc.FrameValues
	var out []catalog.Value
	for {
		f, err := lr.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		pipe.Decode(&f, &fv)
		vals := append(fv.Catalog, catalog.Value{})[:len(fv.Catalog)]
		for _, v := range p.Filter(vals) {
			if samp.Offer(v) != uplink.Drop {
				out = append(out, v)
			}
		}
	}
}

type key struct {
	id   uint32
	time int64
}

// TestAgentReplayDeliversEverything replays a drive as fast as possible:
// the agent exits 0 once every batch is acknowledged, the batches are
// numbered 1..N without gaps, and their values are exactly what the
// decoder, privacy stage and sampler produced: cells, never positions.
func TestAgentReplayDeliversEverything(t *testing.T) {
	br := brokertest.Start(t, brokertest.Options{})
	cfg := testConfig(t, br.URL(), fogDrive)
	cfg.Sources.Replay.KeepTime = true
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := run(t, cfg, ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := map[key]float64{}
	for _, v := range expected(t, fogDrive, uplink.PrivacyOptions{}) {
		want[key{v.ID, v.Time}] = v.Num
	}
	got := map[key]float64{}
	var boot string
	bs := decoded(t, br)
	seqs := map[uint64]int{}
	for _, b := range bs {
		seqs[b.Header.Seq]++
	}
	for s := uint64(1); s <= uint64(len(bs)); s++ {
		if seqs[s] != 1 {
			t.Fatalf("batch %d arrived %d times (sequence numbers of %d batches: %v)", s, seqs[s], len(bs), seqs)
		}
	}
	for _, b := range bs {
		h := b.Header
		if boot == "" {
			boot = h.Boot
		} else if h.Boot != boot {
			t.Fatalf("boot changed within a run: %s, %s", boot, h.Boot)
		}
		for _, v := range b.Values {
			if v.ID == 100 || v.ID == 101 {
				t.Fatalf("a precise coordinate was sent: %+v", v)
			}
			if h.Keyframe {
				continue
			}
			got[key{v.ID, v.Time}] = v.Num
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d values arrived, the stages produced %d", len(got), len(want))
	}
	cells, fog := 0, 0
	for k, w := range want {
		g, ok := got[k]
		if !ok || g != w {
			t.Fatalf("value %d at %d: got %v (%v), want %v", k.id, k.time, g, ok, w)
		}
		if k.id == 107 {
			cells++
		}
		if k.id == 200 && w == 1 {
			fog++
		}
	}
	if cells < 2 || fog == 0 {
		t.Errorf("%d cell values and %d fog-on values: the drive crosses cells in fog", cells, fog)
	}
}

// TestAgentRetimesReplay: without keep_time the log's timestamps move to
// the present, spacing kept.
func TestAgentRetimesReplay(t *testing.T) {
	br := brokertest.Start(t, brokertest.Options{})
	cfg := testConfig(t, br.URL(), fogDrive)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := run(t, cfg, ctx); err != nil {
		t.Fatal(err)
	}
	var first, last int64
	for _, b := range decoded(t, br) {
		for _, v := range b.Values {
			if first == 0 || v.Time < first {
				first = v.Time
			}
			last = max(last, v.Time)
		}
	}
	if d := time.Unix(0, first).Sub(start); d < 0 || d > 10*time.Second {
		t.Errorf("first value at %v, %v after the start", time.Unix(0, first), d)
	}
	if span := time.Duration(last - first); span < 140*time.Second || span > 151*time.Second {
		t.Errorf("values span %v: the drive is 150 s", span)
	}
}

// TestAgentBrokerLate: the gateway is unreachable when the agent starts and
// comes up later; everything arrives and the agent ends cleanly.
func TestAgentBrokerLate(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := testConfig(t, "mqtt://"+addr, fogDrive)
	done := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var a *Agent
	a, err = New(cfg, Options{Logger: quiet, Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	go func() { done <- a.Run(ctx) }()
	time.Sleep(time.Second)
	if st := a.Status(); st["connected"].(bool) || st["spool_records"].(int) == 0 {
		t.Fatalf("before the broker: %v", st)
	}
	br := brokertest.Start(t, brokertest.Options{Addr: addr})
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	bs := decoded(t, br)
	if len(bs) == 0 || bs[0].Header.Seq != 1 {
		t.Fatalf("%d batches, first %+v", len(bs), bs)
	}
	seen := map[uint64]bool{}
	for _, b := range bs {
		seen[b.Header.Seq] = true
	}
	for s := uint64(1); s <= bs[len(bs)-1].Header.Seq; s++ {
		if !seen[s] {
			t.Fatalf("batch %d missing", s)
		}
	}
}

// TestAgentDrainTimeout: with no gateway at all, a replay that cannot
// drain ends with an error, and the batches stay in the spool.
func TestAgentDrainTimeout(t *testing.T) {
	cfg := testConfig(t, "mqtt://127.0.0.1:1", fogDrive)
	cfg.DrainTimeout = 500 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := run(t, cfg, ctx)
	if err == nil || !strings.Contains(err.Error(), "not acknowledged") {
		t.Fatalf("Run = %v, want a drain error", err)
	}
	sp, err := spool.Open(spool.Options{Dir: cfg.Spool.Dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if n := sp.Stats().Records; n < 100 {
		t.Fatalf("%d batches in the spool after a 150 s drive", n)
	}
}

// TestAgentStopSpoolsOpenBatch: stopping mid-drive (SIGTERM) puts the open
// batch in the spool; the next run sends it with its old boot and sequence.
func TestAgentStopSpoolsOpenBatch(t *testing.T) {
	cfg := testConfig(t, "mqtt://127.0.0.1:1", fogDrive)
	cfg.Sources.Replay.Speed = speed(5)
	cfg.Uplink.Batch.MaxAge = time.Hour // nothing leaves the open batch but the stop
	cfg.Uplink.Batch.KeyframeInterval = -1
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	a, err := run(t, cfg, ctx)
	if err != nil {
		t.Fatalf("Run after stop: %v", err)
	}
	if a.bat.Seq() == 0 {
		t.Fatal("no batch was built at the stop")
	}
	// the next run, now with a gateway, sends what the first one spooled
	br := brokertest.Start(t, brokertest.Options{})
	cfg.Uplink.Broker = br.URL()
	cfg.Sources.Replay.File = writeLog(t, "") // an empty drive
	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	b, err := run(t, cfg, ctx2)
	if err != nil {
		t.Fatal(err)
	}
	old, values := map[uint64]bool{}, 0
	for _, bt := range decoded(t, br) {
		switch bt.Header.Boot {
		case a.Boot():
			old[bt.Header.Seq] = true
			values += len(bt.Values)
		case b.Boot():
		default:
			t.Fatalf("a batch of boot %s", bt.Header.Boot)
		}
	}
	if len(old) != int(a.bat.Seq()) || values < 100 {
		t.Fatalf("the next run sent %d of the first run's %d batches, %d values", len(old), a.bat.Seq(), values)
	}
}

func writeLog(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "drive.log")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAgentKeyframeAfterReconnect: a keyframe follows every connect, so the
// cloud can rebuild the vehicle's state after an outage.
func TestAgentKeyframeAfterReconnect(t *testing.T) {
	br := brokertest.Start(t, brokertest.Options{})
	cfg := testConfig(t, br.URL(), fogDrive)
	cfg.Sources.Replay.Speed = speed(10)
	cfg.Sources.Replay.Loop = true
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := New(cfg, Options{Logger: quiet, Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	keyframes := func(br *brokertest.Broker) func([]brokertest.Message) bool {
		return func(ms []brokertest.Message) bool {
			for _, m := range ms {
				if h, err := batch.ReadHeader(m.Payload); err == nil && h.Keyframe && h.Values > 50 {
					return true
				}
			}
			return false
		}
	}
	br.WaitFor(t, wire.BatchTopic(vehicle), 20*time.Second, "a full keyframe", keyframes(br))
	addr := br.Addr
	br.Close()
	time.Sleep(300 * time.Millisecond)
	br2 := brokertest.Start(t, brokertest.Options{Addr: addr})
	br2.WaitFor(t, wire.BatchTopic(vehicle), 20*time.Second, "a keyframe after the reconnect", keyframes(br2))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestAgentNoticeAndHealth: a notice for the vehicle's cell reaches the
// local endpoint; /healthz and /metrics answer.
func TestAgentNoticeAndHealth(t *testing.T) {
	br := brokertest.Start(t, brokertest.Options{})
	cfg := testConfig(t, br.URL(), fogDrive)
	cfg.Sources.Replay.Speed = speed(1)
	addrs, err := freeport.Addrs(1)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Metrics.Listen = addrs[0]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := New(cfg, Options{Logger: quiet}) // the default registry, with the process collector
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	grid, _ := geo.NewGrid(geo.DefaultLevel)
	start, _ := grid.Cell(48.1420, 11.5600) // where the fog drive starts
	deadline := time.Now().Add(20 * time.Second)
	for {
		a.mu.Lock()
		cell := a.cell
		a.mu.Unlock()
		if cell == start {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent cell %v, want %v", cell, start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // subscriptions go out asynchronously
	n := wire.Notice{ID: "fog-1", Kind: "fog", Text: "Fog ahead", Cells: []string{start.Token()}, Issued: time.Now().UTC()}
	payload, _ := json.Marshal(n)
	br.Publish(t, wire.NoticeTopic(start.Neighbours()[0].Token()), payload) // a neighbour's notice reaches it too
	base := "http://" + cfg.Metrics.Listen
	var got []receivedNotice
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		got = nil
		getJSON(t, base+"/v1/notices", &got)
		if len(got) > 0 {
			break
		}
	}
	if len(got) != 1 || got[0].Notice.Text != "Fog ahead" {
		t.Fatalf("notices %+v", got)
	}
	var health map[string]any
	getJSON(t, base+"/healthz", &health)
	if health["vehicle"] != vehicle || health["frames"].(float64) == 0 {
		t.Errorf("healthz %v", health)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"kanal_agent_frames_total", "kanal_spool_records", "kanal_uplink_connected 1", "kanal_uplink_notices_total 1", "process_resident_memory_bytes"} {
		if !strings.Contains(string(body), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	cancel()
	<-done
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
}
