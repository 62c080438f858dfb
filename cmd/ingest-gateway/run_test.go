package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kanal-dev/kanal/agent"
	"github.com/kanal-dev/kanal/cloud/auth"
	"github.com/kanal-dev/kanal/cloud/gateway"
	"github.com/kanal-dev/kanal/cloud/store/storetest"
	"github.com/kanal-dev/kanal/dbc"
	"github.com/kanal-dev/kanal/internal/cli"
	"github.com/kanal-dev/kanal/internal/wire"
	"github.com/kanal-dev/kanal/uplink"
	"github.com/kanal-dev/kanal/uplink/spool"
)

// TestMain lets a test run this package's binary as `ingest-gateway`: the
// kill -9 test needs a real process to kill.
func TestMain(m *testing.M) {
	if args := os.Getenv("KANAL_TEST_INGEST_GATEWAY"); args != "" {
		root := newRootCmd()
		root.SetArgs(strings.Split(args, "\x1f"))
		os.Exit(cli.Execute(context.Background(), root))
	}
	os.Exit(m.Run())
}

// gatewayProcess starts `ingest-gateway run` as a child process.
func gatewayProcess(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "KANAL_TEST_INGEST_GATEWAY="+strings.Join(append([]string{"run", "--log-level", "warn"}, args...), "\x1f"))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
	}
	t.Fatalf("%s not 200 within 30s", url)
}

// TestRunKill9 kills a real gateway process with SIGKILL while a real agent
// sends to it, and starts it again on the same data directory: the agent
// drains, and the stream holds each of its batches exactly once.
func TestRunKill9(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials.yaml")
	pw, err := auth.AddUser(creds, "veh-kill-1", auth.RoleVehicle, auth.AddOptions{Cost: 4})
	if err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte(pw+"\n"), 0o600)
	addrs := freeAddrs(t, 3)
	mqttAddr, httpAddr, natsAddr := addrs[0], addrs[1], addrs[2]
	args := []string{"--data-dir", dir, "--mqtt-listen", mqttAddr, "--http-listen", httpAddr, "--nats-listen", natsAddr}
	gw := gatewayProcess(t, args...)
	waitHTTP(t, "http://"+httpAddr+"/readyz")

	speed := 15.0
	cfg := agent.Config{
		Vehicle: "veh-kill-1",
		Sources: agent.SourcesOptions{Replay: agent.ReplayOptions{File: "../../testdata/candumps/drive_fog.log", Speed: &speed}},
		Buses:   dbc.PipelineOptions{DBC: []string{"../../testdata/candumps/kanal_demo.dbc"}, Mapping: "../../testdata/candumps/kanal_demo.mapping.yaml"},
		Uplink: uplink.Options{MQTTOptions: uplink.MQTTOptions{Broker: "mqtt://" + mqttAddr, Username: "veh-kill-1", PasswordFile: pwFile,
			BackoffMin: 50 * time.Millisecond, BackoffMax: 500 * time.Millisecond, PublishTimeout: 3 * time.Second}},
		Spool:        spool.Options{Dir: t.TempDir()},
		DrainTimeout: 60 * time.Second,
	}
	a, err := agent.New(cfg, agent.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	time.Sleep(3 * time.Second)
	if err := gw.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	gw.Wait()
	time.Sleep(time.Second) // the agent spools on meanwhile
	gatewayProcess(t, args...)
	waitHTTP(t, "http://"+httpAddr+"/readyz")
	if err := <-done; err != nil {
		t.Fatalf("agent: %v", err)
	}

	ops, err := auth.AddUser(creds, "ops", auth.RoleOperator, auth.AddOptions{Cost: 4})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // the gateway rereads its credentials
	_, js := storetest.Connect(t, fmt.Sprintf("nats://ops:%s@%s", ops, natsAddr))
	ledger := storetest.Ledger(t, js, wire.BatchesStream)
	n := a.Status()["batches"].(uint64)
	prefix := "veh-kill-1:" + a.Boot() + ":"
	for s := uint64(1); s <= n; s++ {
		if c := ledger[fmt.Sprintf("%s%d", prefix, s)]; c != 1 {
			t.Fatalf("batch %d of %d stored %d times", s, n, c)
		}
	}
	if len(ledger) != int(n) {
		t.Fatalf("%d batches in the stream, the agent built %d", len(ledger), n)
	}
	t.Logf("%d batches, each stored once across a kill -9 of the gateway", n)
}

// TestCheckConfig: check-config accepts a good gateway config and lists
// every mistake of a bad one.
func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("data_dir: "+dir+"\nmqtt: {mqtt_listen: \"127.0.0.1:1883\"}\n"), 0o644)
	if code, out, errOut := credRun(t, "check-config", good); code != 0 || !strings.Contains(out, "good.yaml: ok") {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("data_dir: "+dir+"\nmqtt: {mqtt_listen: \"0.0.0.0:1883\"}\nalerts: {rules_file: /nonexistent/rules.yaml}\nhttp: {listen: \"10.0.0.1:8080\"}\n"), 0o644)
	code, out, _ := credRun(t, "check-config", bad)
	if code != 1 {
		t.Fatalf("exit %d for a bad config: %s", code, out)
	}
	for _, w := range []string{"http.listen 10.0.0.1:8080", "rules.yaml", "mqtt_listen"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	typo := filepath.Join(dir, "typo.yaml")
	os.WriteFile(typo, []byte("data_dri: /x\n"), 0o644)
	if code, out, _ := credRun(t, "check-config", typo); code != 1 || !strings.Contains(out, "typo.yaml:1: field data_dri not found") {
		t.Errorf("exit %d: %s", code, out)
	}
}

// TestDeployConfigs: the example configs of deploy/ parse with no unknown
// key, and the single gateway's is valid as it stands.
func TestDeployConfigs(t *testing.T) {
	if code, out, errOut := credRun(t, "check-config", "../../deploy/gateway.yaml"); code != 0 {
		t.Fatalf("deploy/gateway.yaml: exit %d: %s %s", code, out, errOut)
	}
	for i := 1; i <= 3; i++ {
		path := fmt.Sprintf("../../deploy/cluster/gateway-%d.yaml", i)
		o, err := gateway.LoadConfig(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if o.JetStream.Replicas != 3 || o.NATS.URL == "" || o.MQTT.MQTTSListen == "" {
			t.Errorf("%s: %+v", path, o)
		}
	}
}
