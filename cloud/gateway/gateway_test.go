package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kanal-dev/kanal/agent"
	"github.com/kanal-dev/kanal/cloud/auth"
	"github.com/kanal-dev/kanal/cloud/broker"
	"github.com/kanal-dev/kanal/cloud/store/storetest"
	"github.com/kanal-dev/kanal/dbc"
	"github.com/kanal-dev/kanal/internal/wire"
	"github.com/kanal-dev/kanal/uplink"
	"github.com/kanal-dev/kanal/uplink/spool"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const (
	demoDBC     = "../../testdata/candumps/kanal_demo.dbc"
	demoMapping = "../../testdata/candumps/kanal_demo.mapping.yaml"
	fogDrive    = "../../testdata/candumps/drive_fog.log"
)

// startGateway runs a gateway on loopback ports until the test ends.
func startGateway(t *testing.T, o Options) (*Gateway, func()) {
	t.Helper()
	if o.MQTT.MQTTListen == "" {
		o.MQTT.MQTTListen = "127.0.0.1:0"
	}
	if o.HTTP.Listen == "" {
		o.HTTP.Listen = "127.0.0.1:0"
	}
	if o.Logger == nil {
		o.Logger = quiet
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	ctx, cancel := context.WithCancel(context.Background())
	g, err := New(ctx, o)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("gateway Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("gateway did not stop within 30s")
		}
	}
	t.Cleanup(stop)
	waitReady(t, "http://"+g.HTTPAddr())
	return g, stop
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s/readyz not 200 within 20s", base)
}

// addVehicle adds a vehicle login to the credentials file and returns the
// file holding its password.
func addVehicle(t *testing.T, credentials, vehicle string) string {
	t.Helper()
	pw, err := auth.AddUser(credentials, vehicle, auth.RoleVehicle, auth.AddOptions{Cost: 4})
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), vehicle+".password")
	if err := os.WriteFile(f, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func agentConfig(t *testing.T, vehicle, broker, passwordFile, log string) agent.Config {
	t.Helper()
	zero := 0.0
	return agent.Config{
		Vehicle: vehicle,
		Sources: agent.SourcesOptions{Replay: agent.ReplayOptions{File: log, Speed: &zero}},
		Buses:   dbc.PipelineOptions{DBC: []string{demoDBC}, Mapping: demoMapping},
		Uplink: uplink.Options{MQTTOptions: uplink.MQTTOptions{Broker: broker, Username: vehicle, PasswordFile: passwordFile,
			BackoffMin: 20 * time.Millisecond, BackoffMax: 300 * time.Millisecond, PublishTimeout: 5 * time.Second}},
		Spool:        spool.Options{Dir: t.TempDir(), Fsync: spool.FsyncNone},
		DrainTimeout: 60 * time.Second,
	}
}

func runAgent(t *testing.T, cfg agent.Config) (*agent.Agent, error) {
	t.Helper()
	a, err := agent.New(cfg, agent.Options{Logger: quiet, Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	return a, a.Run(ctx)
}

// batchesOf counts the stream's batches of a vehicle and boot by sequence.
func batchesOf(ledger map[string]int, vehicle, boot string) map[uint64]int {
	out := map[uint64]int{}
	prefix := vehicle + ":" + boot + ":"
	for id, n := range ledger {
		if s, ok := strings.CutPrefix(id, prefix); ok {
			var seq uint64
			fmt.Sscan(s, &seq)
			out[seq] += n
		}
	}
	return out
}

// checkOnce fails unless the stream holds seqs 1..n of the boot exactly once.
func checkOnce(t *testing.T, ledger map[string]int, vehicle, boot string, n uint64) {
	t.Helper()
	got := batchesOf(ledger, vehicle, boot)
	for s := uint64(1); s <= n; s++ {
		if got[s] != 1 {
			t.Fatalf("%s:%s:%d stored %d times (of 1..%d)", vehicle, boot, s, got[s], n)
		}
	}
	if uint64(len(got)) != n {
		t.Fatalf("%d batches of %s:%s in the stream, want %d", len(got), vehicle, boot, n)
	}
}

// TestGatewayTakesAgentBatches: a gateway with nothing but a data
// directory takes a real agent's batches and stores each exactly once in
// KANAL_BATCHES; health, readiness and metrics answer.
func TestGatewayTakesAgentBatches(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials.yaml")
	g, _ := startGateway(t, Options{DataDir: dir})
	pw := addVehicle(t, creds, "veh-gw-1")
	time.Sleep(1500 * time.Millisecond) // the gateway polls its credentials file every second
	a, err := runAgent(t, agentConfig(t, "veh-gw-1", "mqtt://"+g.MQTTAddr("mqtt"), pw, fogDrive))
	if err != nil {
		t.Fatalf("agent: %v", err)
	}
	ledger := storetest.Ledger(t, g.JetStream(), wire.BatchesStream)
	n := uint64(a.Status()["batches"].(uint64))
	if n < 100 {
		t.Fatalf("the agent built %d batches", n)
	}
	checkOnce(t, ledger, "veh-gw-1", a.Boot(), n)
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + g.HTTPAddr() + path)
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("%s: %v %v", path, resp, err)
		}
		resp.Body.Close()
	}
	resp, err := http.Get("http://" + g.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"kanal_gateway_batches_stored_total", "kanal_broker_connections", "kanal_gateway_jetstream_ack_seconds"} {
		if !strings.Contains(string(body), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}

// TestGatewayRefusesWrongPassword: a vehicle with a wrong password stores
// nothing and its batches stay in its spool.
func TestGatewayRefusesWrongPassword(t *testing.T) {
	dir := t.TempDir()
	g, _ := startGateway(t, Options{DataDir: dir})
	addVehicle(t, filepath.Join(dir, "credentials.yaml"), "veh-gw-2")
	wrong := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(wrong, []byte("not-the-password\n"), 0o600)
	time.Sleep(1500 * time.Millisecond)
	cfg := agentConfig(t, "veh-gw-2", "mqtt://"+g.MQTTAddr("mqtt"), wrong, fogDrive)
	cfg.DrainTimeout = time.Second
	if _, err := runAgent(t, cfg); err == nil || !strings.Contains(err.Error(), "not acknowledged") {
		t.Fatalf("agent with a wrong password: %v", err)
	}
	if l := storetest.Ledger(t, g.JetStream(), wire.BatchesStream); len(l) != 0 {
		t.Fatalf("%d batches stored from a refused login", len(l))
	}
}

// TestGatewayJetStreamRestart: the embedded JetStream's data survive a
// gateway restart on the same data directory, and batches sent to the
// second gateway that the first stored are not stored twice.
func TestGatewayRestartSameDataDir(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials.yaml")
	g, stop := startGateway(t, Options{DataDir: dir, MQTT: mqttAt(t)})
	addr := g.MQTTAddr("mqtt")
	pw := addVehicle(t, creds, "veh-gw-3")
	time.Sleep(1500 * time.Millisecond)
	cfg := agentConfig(t, "veh-gw-3", "mqtt://"+addr, pw, fogDrive)
	cfg.Sources.Replay.Speed = speedOf(30)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	a, err := agent.New(cfg, agent.Options{Logger: quiet, Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	time.Sleep(2 * time.Second) // a part of the drive
	stop()                      // SIGTERM: in-flight publishes finish, then the gateway exits
	o := Options{DataDir: dir, MQTT: mqttAt(t)}
	o.MQTT.MQTTListen = addr
	g2, _ := startGateway(t, o)
	if err := <-done; err != nil {
		t.Fatalf("agent: %v", err)
	}
	checkOnce(t, storetest.Ledger(t, g2.JetStream(), wire.BatchesStream), "veh-gw-3", a.Boot(), a.Status()["batches"].(uint64))
}

func speedOf(x float64) *float64 { return &x }

func mqttAt(t *testing.T) (o broker.Options) {
	o.MQTTListen = "127.0.0.1:0"
	return o
}

// TestGatewayCluster: two gateways on one three-node NATS cluster with R3
// streams, a vehicle hopping between them through a TCP balancer that
// cuts its connection every few hundred milliseconds, and one NATS node shut
// down mid-stream: every batch is stored, and once.
func TestGatewayCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("a three-node cluster: skipped with -short")
	}
	nodes := storetest.RunCluster(t, 3)
	url := strings.Join(storetest.URLs(nodes...), ",")
	creds := filepath.Join(t.TempDir(), "credentials.yaml")
	pw := addVehicle(t, creds, "veh-gw-4")
	var gws []*Gateway
	for range 2 {
		o := Options{NATS: NATSOptions{URL: url}, Credentials: auth.Options{File: creds}}
		o.JetStream.Replicas, o.Alerts.Replicas = 3, 3
		g, _ := startGateway(t, o)
		gws = append(gws, g)
	}
	lb := newBalancer(t, gws[0].MQTTAddr("mqtt"), gws[1].MQTTAddr("mqtt"))
	cfg := agentConfig(t, "veh-gw-4", "mqtt://"+lb.addr, pw, fogDrive)
	cfg.Sources.Replay.Speed = speedOf(20)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	a, err := agent.New(cfg, agent.Options{Logger: quiet, Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	go lb.cutEvery(ctx, 400*time.Millisecond)
	time.Sleep(3 * time.Second)
	nodes[2].Shutdown() // one node of three: the R3 streams keep a quorum
	if err := <-done; err != nil {
		t.Fatalf("agent: %v", err)
	}
	if lb.conns.Load() < 4 {
		t.Fatalf("the vehicle connected %d times: it did not hop", lb.conns.Load())
	}
	_, js := storetest.Connect(t, storetest.URLs(nodes[:2]...)...)
	checkOnce(t, storetest.Ledger(t, js, wire.BatchesStream), "veh-gw-4", a.Boot(), a.Status()["batches"].(uint64))
	t.Logf("%d batches over %d connections to two gateways", a.Status()["batches"], lb.conns.Load())
}

// balancer is a TCP load balancer on loopback: each new connection goes to
// the next backend in turn, and cutEvery closes the current ones.
type balancer struct {
	addr     string
	backends []string
	conns    atomic.Int64
	mu       sync.Mutex
	open     []net.Conn
}

func newBalancer(t *testing.T, backends ...string) *balancer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	b := &balancer{addr: ln.Addr().String(), backends: backends}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := b.conns.Add(1)
			up, err := net.Dial("tcp", backends[int(n)%len(backends)])
			if err != nil {
				c.Close()
				continue
			}
			b.mu.Lock()
			b.open = append(b.open, c, up)
			b.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	return b
}

func (b *balancer) cutEvery(ctx context.Context, d time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
		b.mu.Lock()
		for _, c := range b.open {
			c.Close()
		}
		b.open = nil
		b.mu.Unlock()
	}
}

// TestGatewayNewFails: a listener that cannot open fails New with the
// reason, and releases what New had started (the embedded NATS server).
func TestGatewayNewFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	o := Options{DataDir: t.TempDir(), Logger: quiet, Registry: prometheus.NewRegistry()}
	o.MQTT.MQTTListen = "127.0.0.1:0"
	o.HTTP.Listen = ln.Addr().String() // in use
	_, err = New(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "http.listen") {
		t.Fatalf("New with a port in use: %v", err)
	}
	// the data directory is free again: a second gateway can start on it
	o.HTTP.Listen, o.Registry = "127.0.0.1:0", prometheus.NewRegistry()
	g, err := New(context.Background(), o)
	if err != nil {
		t.Fatalf("New after a failed New: %v", err)
	}
	g.close()
}
