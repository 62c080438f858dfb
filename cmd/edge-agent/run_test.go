package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/can"
	"github.com/kanal-dev/kanal/internal/brokertest"
	"github.com/kanal-dev/kanal/internal/cli"
	"github.com/kanal-dev/kanal/internal/wire"
	"github.com/kanal-dev/kanal/uplink/batch"
	"github.com/kanal-dev/kanal/uplink/spool"
)

const (
	demoDBC     = "../../testdata/candumps/kanal_demo.dbc"
	demoMapping = "../../testdata/candumps/kanal_demo.mapping.yaml"
	fogLog      = "../../testdata/candumps/drive_fog.log"
)

// TestMain lets a test run this package's binary as `edge-agent`: the
// kill -9 test needs a real process to kill.
func TestMain(m *testing.M) {
	if args := os.Getenv("KANAL_TEST_EDGE_AGENT"); args != "" {
		root := newRootCmd()
		root.SetArgs(strings.Split(args, "\x1f"))
		os.Exit(cli.Execute(context.Background(), root))
	}
	os.Exit(m.Run())
}

func runArgs(broker, spoolDir string, extra ...string) []string {
	return append([]string{"run", "--vehicle", "veh-cli-1", "--broker", broker, "--spool-dir", spoolDir,
		"--dbc", demoDBC, "--mapping", demoMapping, "--replay", fogLog}, extra...)
}

// TestRunReplay: `edge-agent run --replay` sends the drive and exits 0
// once the gateway has acknowledged every batch.
func TestRunReplay(t *testing.T) {
	br := brokertest.Start(t, brokertest.Options{})
	out, code := runAgent(t, runArgs(br.URL(), t.TempDir(), "--speed", "0")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	msgs := br.Messages(wire.BatchTopic("veh-cli-1"))
	if len(msgs) < 100 {
		t.Fatalf("%d batches for a 150 s drive", len(msgs))
	}
}

// TestRunEnvironment: KANAL_AGENT_* variables override the config file,
// and flags override both.
func TestRunEnvironment(t *testing.T) {
	br := brokertest.Start(t, brokertest.Options{})
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`vehicle: from-file
sources: {replay: {file: %s, speed: 0}}
buses: {dbc: [%s], mapping: %s}
uplink: {broker: "mqtt://127.0.0.1:1"}
spool: {dir: %s}
drain_timeout: 5s
`, fogLog, demoDBC, demoMapping, filepath.Join(dir, "spool"))), 0o644)
	t.Setenv("KANAL_AGENT_BROKER", br.URL())
	t.Setenv("KANAL_AGENT_VEHICLE", "from-env")
	out, code := runAgent(t, "run", "--config", cfg, "--vehicle", "from-flag")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	if n := len(br.Messages(wire.BatchTopic("from-flag"))); n == 0 {
		t.Fatalf("no batch from vehicle from-flag (env broker, flag vehicle): %d from env, %d from file",
			len(br.Messages(wire.BatchTopic("from-env"))), len(br.Messages(wire.BatchTopic("from-file"))))
	}
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte(fmt.Sprintf("vehicle: v1\nsources: {interfaces: [can0]}\nbuses: {dbc: [%s], mapping: %s}\nuplink: {broker: \"mqtt://gw:1883\"}\nspool: {dir: /var/lib/kanal/spool}\n", demoDBC, demoMapping)), 0o644)
	out, code := runAgent(t, "check-config", good)
	if code != 0 || !strings.Contains(out, "good.yaml: ok") {
		t.Fatalf("exit %d: %s", code, out)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("vehicle: v/1\nsources: {interfaces: [can0]}\nbuses: {dbc: [nope.dbc], mapping: m.yaml}\nuplink: {broker: \"ftp://gw\"}\nspool: {dir: /x}\nprivacy: {level: 99}\n"), 0o644)
	out, code = runAgent(t, "check-config", bad)
	if code != 1 {
		t.Fatalf("exit %d for a bad config: %s", code, out)
	}
	for _, w := range []string{"bad.yaml: not valid", "vehicle: vehicle id", "nope.dbc", `scheme "ftp"`, "privacy.level"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	typo := filepath.Join(dir, "typo.yaml")
	os.WriteFile(typo, []byte("vehicle: v1\nspol: {dir: /x}\n"), 0o644)
	if out, code = runAgent(t, "check-config", typo); code != 1 || !strings.Contains(out, "typo.yaml:2: field spol not found") {
		t.Errorf("exit %d: %s", code, out)
	}
}

// TestRunKill9 kills a real agent process with SIGKILL while the gateway
// refuses batches (so the spool holds a backlog), then starts it again on
// the same spool: every batch the first process spooled arrives, with its
// first boot id and sequence number.
func TestRunKill9(t *testing.T) {
	var refusing atomic.Bool
	refusing.Store(true)
	br := brokertest.Start(t, brokertest.Options{Refuse: func(m brokertest.Message) byte {
		if refusing.Load() && strings.HasSuffix(m.Topic, "/batch") {
			return 0x97 // quota exceeded: try later
		}
		return 0
	}})
	spoolDir := t.TempDir()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "KANAL_TEST_EDGE_AGENT="+strings.Join(runArgs(br.URL(), spoolDir, "--speed", "20", "--loop"), "\x1f"))
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
	}()
	time.Sleep(3 * time.Second) // about a minute of the drive at 20x
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	sp, err := spool.Open(spool.Options{Dir: spoolDir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	spooled := map[uint64]bool{}
	var boot string
	ctx, cancel := context.WithCancel(context.Background())
	var after uint64
	for {
		rctx, rcancel := context.WithTimeout(ctx, 100*time.Millisecond)
		rec, err := sp.Next(rctx, after)
		rcancel()
		if err != nil {
			break
		}
		after = rec.ID
		h, err := batch.ReadHeader(rec.Data)
		if err != nil {
			t.Fatal(err)
		}
		boot = h.Boot
		spooled[h.Seq] = true
	}
	cancel()
	sp.Close()
	if len(spooled) < 10 {
		t.Fatalf("%d batches in the spool after the kill", len(spooled))
	}
	for s := uint64(1); s <= uint64(len(spooled)); s++ {
		if !spooled[s] {
			t.Fatalf("the killed agent's spool misses batch %d of 1..%d", s, len(spooled))
		}
	}

	refusing.Store(false)
	out, code := runAgent(t, "run", "--vehicle", "veh-cli-1", "--broker", br.URL(), "--spool-dir", spoolDir,
		"--dbc", demoDBC, "--mapping", demoMapping, "--replay", writeEmpty(t), "--drain-timeout", "20s")
	if code != 0 {
		t.Fatalf("restart: exit %d: %s", code, out)
	}
	got := map[uint64]int{}
	for _, m := range br.Messages(wire.BatchTopic("veh-cli-1")) {
		h, err := batch.ReadHeader(m.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if h.Boot == boot {
			got[h.Seq]++
		}
	}
	for s := range spooled {
		if got[s] == 0 {
			t.Fatalf("batch %d of the killed run never arrived", s)
		}
	}
	t.Logf("%d batches spooled by the killed process, all delivered by the next", len(spooled))
}

func writeEmpty(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "empty.log")
	os.WriteFile(p, nil, 0o644)
	return p
}

// TestDeployExampleConfig: the example config of deploy/ is valid and
// replays its drive to a gateway, as the README says, once its relative
// paths are taken from the repository root.
func TestDeployExampleConfig(t *testing.T) {
	data, err := os.ReadFile("../../deploy/agent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pw := filepath.Join(dir, "demo-0001.password")
	os.WriteFile(pw, []byte("secret\n"), 0o600)
	text := strings.NewReplacer(
		"testdata/", "../../testdata/",
		"var/demo-0001.password", pw,
		"dir: var/spool", "dir: "+filepath.Join(dir, "spool"),
		"127.0.0.1:9102", "127.0.0.1:0",
	).Replace(string(data))
	cfg := filepath.Join(dir, "agent.yaml")
	os.WriteFile(cfg, []byte(text), 0o644)
	out, code := runAgent(t, "check-config", cfg)
	if code != 0 {
		t.Fatalf("check-config: exit %d: %s", code, out)
	}
	br := brokertest.Start(t, brokertest.Options{})
	out, code = runAgent(t, "run", "--config", cfg, "--broker", br.URL(), "--speed", "0")
	if code != 0 {
		t.Fatalf("run: exit %d: %s", code, out)
	}
	if n := len(br.Messages(wire.BatchTopic("demo-0001"))); n < 50 {
		t.Fatalf("%d batches from the example config", n)
	}
	unit, err := os.ReadFile("../../deploy/edge-agent.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ExecStart=/usr/local/bin/edge-agent run --config /etc/kanal/agent.yaml", "Restart=always", "AF_CAN", "check-config"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("edge-agent.service lacks %q", want)
		}
	}
}

// BenchmarkAgentRealtime runs a real edge-agent process that replays, in
// real time, a log of about 4,000 frames/s (a saturated 500 kbit/s bus) to
// a broker in this process, for 15 s, and reports the agent process's CPU
// as a share of one core and its peak resident memory, read from /proc.
// Targets: under 2 % and under 30 MB. The log is the city drive with every
// frame repeated 46 times across the gap to the next one: the frame rate of
// a busy bus, with the signal dynamics of the drive (a real bus repeats
// most messages unchanged, which the sampler drops).
func BenchmarkAgentRealtime(b *testing.B) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		b.Skip("needs /proc")
	}
	dense := denseLog(b, "../../testdata/candumps/drive_city.log", 46)
	for b.Loop() {
		br := brokertest.Start(b, brokertest.Options{})
		args := []string{"run", "--vehicle", "bench-rt", "--broker", br.URL(), "--spool-dir", b.TempDir(),
			"--dbc", demoDBC, "--mapping", demoMapping, "--replay", dense,
			"--speed", "1", "--log-level", "warn"}
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "KANAL_TEST_EDGE_AGENT="+strings.Join(args, "\x1f"))
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		time.Sleep(2 * time.Second) // start-up: DBC and mapping compiled, connected
		cpu0, _ := procCPU(cmd.Process.Pid)
		t0 := time.Now()
		time.Sleep(15 * time.Second)
		cpu1, rss := procCPU(cmd.Process.Pid)
		wall := time.Since(t0)
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		b.ReportMetric(100*(cpu1-cpu0).Seconds()/wall.Seconds(), "cpu-%")
		b.ReportMetric(float64(rss)/(1<<20), "peak-rss-MB")
		b.ReportMetric(float64(len(br.Messages(wire.BatchTopic("bench-rt"))))/wall.Seconds(), "batches/s")
	}
}

// denseLog writes src with every frame repeated n times, evenly spread
// until the next frame, and returns its path.
func denseLog(b *testing.B, src string, n int) string {
	lr, err := can.OpenLog(src, can.LogReaderOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer lr.Close()
	var all []can.Timed
	for {
		f, err := lr.Next(context.Background())
		if err != nil {
			break
		}
		all = append(all, f)
	}
	path := filepath.Join(b.TempDir(), "dense.log")
	out, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := can.NewLogWriter(out)
	for i, f := range all {
		gap := 10 * time.Millisecond
		if i+1 < len(all) {
			gap = all[i+1].Time.Sub(f.Time)
		}
		for k := range n {
			g := f
			g.Time = f.Time.Add(gap * time.Duration(k) / time.Duration(n))
			if err := w.Write(g); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	out.Close()
	return path
}

// procCPU returns a process's user+system CPU time and peak RSS (VmHWM).
func procCPU(pid int) (time.Duration, int64) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0
	}
	// fields after the ")" of the command name: utime is the 12th, stime the 13th
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	var ut, st int64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	const hz = 100 // USER_HZ on Linux
	cpu := time.Duration(ut+st) * time.Second / hz
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	var hwm int64
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &hwm)
		}
	}
	return cpu, hwm << 10
}
