package loadgen

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	mauth "github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// The gateway benchmark measures the figures issue 10 sets targets for,
// with generator and gateway side by side on this machine's loopback: the
// gateway in the benchmark's process, the generator in a child process (a
// re-run of this test binary: each side needs a file per connection, and
// 10,000 connections on both sides would pass the 20,000 open files one
// process may hold here). The child connects every vehicle and reports
// ready; the benchmark then measures its own RSS with the connections idle
// (KiB per idle connection), lets the child publish for the duration and
// reports what the child measured.
//
// Sizes come from the environment, so that make bench and a developer can
// choose: KANAL_BENCH_CONNS (10000), KANAL_BENCH_SECONDS (20),
// KANAL_BENCH_RATE (1 batch/s per connection).
//
// Targets: 10,000 connections held, 500,000 values/s stored, PUBACK p99
// under 50 ms.

// childEnv carries a childSpec to the re-run test binary.
const childEnv = "KANAL_LOADGEN_CHILD"

// childSpec is what the child generator does.
type childSpec struct {
	Broker      string        `json:"broker"`
	Connections int           `json:"connections"`
	Rate        float64       `json:"rate"`
	Duration    time.Duration `json:"duration"`
	Loopback    int           `json:"loopback"` // source addresses of 127/8
	Key         []byte        `json:"key"`      // passwords (Passwords); nil: none
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(child(spec, os.Stdin, os.Stdout))
	}
	os.Exit(m.Run())
}

// child connects, writes {"ready":N}, waits for a line on stdin, runs and
// writes the report as one JSON line.
func child(specJSON string, in io.Reader, out io.Writer) int {
	var spec childSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen child:", err)
		return 2
	}
	opts := Options{Broker: spec.Broker, Connections: spec.Connections, Rate: spec.Rate, Duration: spec.Duration,
		ConnectConcurrency: 128, ConnectTimeout: 30 * time.Second, DrainTimeout: 30 * time.Second,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if spec.Loopback > 0 {
		opts.LocalAddrs = LoopbackAddrs(spec.Loopback)
	}
	if spec.Key != nil {
		opts.Password = Passwords(spec.Key)
	}
	g, err := New(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen child:", err)
		return 2
	}
	defer g.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := g.Connect(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen child:", err)
		return 1
	}
	fmt.Fprintf(out, "{\"ready\":%d}\n", g.Snapshot().Held)
	if _, err := bufio.NewReader(in).ReadString('\n'); err != nil {
		return 1 // the benchmark went away
	}
	cpu0 := cpuTime()
	rep, err := g.Run(ctx)
	if rep != nil {
		json.NewEncoder(out).Encode(childResult{Report: rep, CPU: (cpuTime() - cpu0).Seconds()})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen child:", err)
		return 1
	}
	return 0
}

// childResult is the child's last line: its report and the CPU time it
// spent publishing.
type childResult struct {
	Report *Report `json:"report"`
	CPU    float64 `json:"cpu_seconds"`
}

// cpuTime is the user and system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// target is what the benchmark loads: its MQTT address and, when it
// checks passwords, the key they come from.
type target struct {
	addr string
	key  []byte
}

// targets are the gateways the benchmark knows, by sub-benchmark name.
// "broker-only" is a bare mochi broker with its defaults, letting everyone
// in and storing nothing, standing in until cloud/gateway can be started
// in-process; its row is then joined by "gateway": the real gateway on a
// temporary data directory (file-backed JetStream), with a credentials
// file for the fleet written with the same key as the child's passwords
// (WriteCredentials with CredentialsOptions.Key).
//
// Not internal/brokertest, as the tests use: it keeps every batch in
// memory for the test to read, and at 10,000 batches/s its growing record
// and the collections of it took the PUBACK p99 from 31 ms to 650 ms.
var targets = []struct {
	name  string
	start func(b *testing.B, conns int) target
}{
	{"broker-only", startMochiBroker},
}

// startMochiBroker runs mochi with its default options and allow-all
// authentication on loopback.
func startMochiBroker(b *testing.B, _ int) target {
	srv := mqtt.New(&mqtt.Options{InlineClient: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := srv.AddHook(new(mauth.AllowHook), nil); err != nil {
		b.Fatal(err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "tcp", Address: "127.0.0.1:0"})
	if err := srv.AddListener(tcp); err != nil {
		b.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	return target{addr: tcp.Address()}
}

func BenchmarkGateway(b *testing.B) {
	conns := envInt(b, "KANAL_BENCH_CONNS", 10000)
	secs := envInt(b, "KANAL_BENCH_SECONDS", 20)
	rate := float64(envInt(b, "KANAL_BENCH_RATE", 1))
	if _, _, err := RaiseFileLimit(); err != nil {
		b.Log(err)
	}
	for _, tg := range targets {
		b.Run("target="+tg.name, func(b *testing.B) {
			for b.Loop() {
				benchTarget(b, tg.start, conns, secs, rate)
			}
		})
	}
}

func benchTarget(b *testing.B, start func(*testing.B, int) target, conns, secs int, rate float64) {
	tg := start(b, conns)
	rss0 := settledRSS(b)
	spec, _ := json.Marshal(childSpec{Broker: tg.addr, Connections: conns, Rate: rate, Duration: time.Duration(secs) * time.Second,
		Loopback: (conns + 999) / 1000, Key: tg.key}) // ≤ 1000 per source address: the gateway's per-address limit
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	var ready struct{ Ready int }
	if !lines.Scan() || json.Unmarshal(lines.Bytes(), &ready) != nil {
		b.Fatalf("child did not get ready: %q %v", lines.Text(), lines.Err())
	}
	time.Sleep(2 * time.Second) // the connections settle: logins done, buffers shrunk
	rss1 := settledRSS(b)
	cpu0 := cpuTime()
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		b.Fatal(err)
	}
	var res childResult
	if !lines.Scan() || json.Unmarshal(lines.Bytes(), &res) != nil || res.Report == nil {
		b.Fatalf("no report from the child: %q %v", lines.Text(), lines.Err())
	}
	gatewayCPU := (cpuTime() - cpu0).Seconds()
	rep := *res.Report
	b.Logf("%d connections held (%d ready, %.1f s to connect), %.0f batches/s, %.0f values/s, PUBACK p50 %.2f ms p99 %.2f ms max %.2f ms, nacked %v, unacked %d, skipped %d, lost %v, failed %v; CPU: gateway %.1f s, generator %.1f s",
		rep.Held, ready.Ready, rep.ConnectSeconds, rep.BatchesPerSecond, rep.ValuesPerSecond, rep.Puback.P50, rep.Puback.P99, rep.Puback.Max,
		rep.Nacked, rep.Unacked, rep.Skipped, rep.Lost, rep.ConnectFailures, gatewayCPU, res.CPU)
	b.ReportMetric(float64(rep.Held), "conns")
	b.ReportMetric(rep.ValuesPerSecond, "values/s")
	b.ReportMetric(rep.BatchesPerSecond, "batches/s")
	b.ReportMetric(rep.Puback.P50, "p50-ms")
	b.ReportMetric(rep.Puback.P99, "p99-ms")
	b.ReportMetric(rep.Puback.Max, "max-ms")
	b.ReportMetric(float64(rep.NackedTotal()+rep.Unacked), "not-acked")
	b.ReportMetric(float64(rep.ConnectFailuresTotal()+rep.LostTotal()), "conn-errors")
	if rep.Acked > 0 {
		// CPU per acknowledged batch on each side: the gateway's includes
		// its whole process (this benchmark is idle meanwhile)
		b.ReportMetric(gatewayCPU/float64(rep.Acked)*1e6, "gw-µs/batch")
		b.ReportMetric(res.CPU/float64(rep.Acked)*1e6, "loadgen-µs/batch")
	}
	if ready.Ready > 0 {
		b.ReportMetric(float64(rss1-rss0)/float64(ready.Ready)/1024, "KiB/idle-conn")
	}
	b.ReportMetric(0, "ns/op")
}

// settledRSS returns the process's resident memory after a collection
// that hands freed memory back to the system.
func settledRSS(b *testing.B) int64 {
	runtime.GC()
	debug.FreeOSMemory()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skip("needs /proc")
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	b.Fatal("no VmRSS in /proc/self/status")
	return 0
}

func envInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive number", name, s)
	}
	return n
}
