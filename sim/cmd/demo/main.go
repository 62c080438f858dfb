// Command demo is what `make demo` runs: the whole of Kanal on this machine,
// end to end, on the embedded defaults.
//
//   - ingest-gateway with its embedded NATS JetStream (in a temporary
//     directory) and alert rules with short windows (deploy/demo/rules.yaml);
//   - a simulated fleet (kanal-fleet run: 40 vehicles, each a real edge
//     agent in one process) driving around Munich through a drifting fog
//     bank, with warning lamps and breakdowns;
//   - one real `edge-agent run` replaying a bundled drive on which the ABS
//     lamp comes on (testdata/candumps/drive_warning.log, twice real speed);
//   - a traffic service: `ingest-gateway alerts watch`, printing the alerts
//     as they rise and clear, without vehicle ids;
//   - the live page at http://127.0.0.1:8080/ (the URL with a login is
//     printed).
//
// At the end the alerts the gateway raised are compared with what the
// simulator knows it did. Ctrl-C stops every process cleanly.
//
// It runs the real binaries as processes (built by `make demo` into bin/),
// so what a person sees is what a deployment does.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/kanal-dev/kanal/cloud/auth"
	"github.com/kanal-dev/kanal/sim/fleet"
)

type options struct {
	bin, dir, http, mqtt, duration string
	vehicles                       int
	settle                         time.Duration
	keep                           bool
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", envOr("BIN", "bin"), "directory of the edge-agent, ingest-gateway and kanal-fleet binaries")
	flag.StringVar(&o.dir, "dir", os.Getenv("KANAL_DEMO_DIR"), "working directory (default: a temporary one, removed at the end)")
	flag.StringVar(&o.http, "http", envOr("KANAL_DEMO_HTTP", "127.0.0.1:8080"), "the gateway's HTTP address")
	flag.StringVar(&o.mqtt, "mqtt", envOr("KANAL_DEMO_MQTT", "127.0.0.1:1883"), "the gateway's MQTT address")
	flag.StringVar(&o.duration, "duration", envOr("KANAL_DEMO_DURATION", "2m"), "how long the fleet drives (simulated time, in real time)")
	flag.IntVar(&o.vehicles, "vehicles", 40, "simulated vehicles")
	flag.DurationVar(&o.settle, "settle", 20*time.Second, "how long to wait after the fleet stops for the last alerts to clear")
	flag.BoolVar(&o.keep, "keep", false, "keep the working directory")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	switch {
	case errors.Is(err, context.Canceled):
		fmt.Println("\ndemo: stopped")
	case err != nil:
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// section prints a heading, in bold on a terminal.
func section(format string, args ...any) {
	title := fmt.Sprintf(format, args...)
	if fi, err := os.Stdout.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		fmt.Printf("\n\033[1m== %s\033[0m\n", title)
		return
	}
	fmt.Printf("\n== %s\n", title)
}

// procs are the demo's child processes, stopped together.
type procs struct{ list []*exec.Cmd }

func (p *procs) start(name string, stdout io.Writer, logFile string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(name, args...)
	cmd.Stdout = stdout
	if logFile != "" {
		f, err := os.Create(logFile)
		if err != nil {
			return nil, err
		}
		cmd.Stderr = f
	} else {
		cmd.Stderr = os.Stderr
	}
	// its own process group: Ctrl-C reaches the demo, which stops the
	// children in order, not all at once
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", filepath.Base(name), err)
	}
	p.list = append(p.list, cmd)
	return cmd, nil
}

// stop sends SIGTERM to every child, the last started first, and waits.
func (p *procs) stop() {
	for i := len(p.list) - 1; i >= 0; i-- {
		c := p.list[i]
		if c.ProcessState != nil {
			continue
		}
		c.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			c.Process.Kill()
			<-done
		}
	}
}

func run(ctx context.Context, o options) error {
	for _, b := range []string{"edge-agent", "ingest-gateway", "kanal-fleet"} {
		if _, err := os.Stat(filepath.Join(o.bin, b)); err != nil {
			return fmt.Errorf("%s/%s is missing: run `make demo`, which builds it first", o.bin, b)
		}
	}
	dir := o.dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "kanal-demo."); err != nil {
			return err
		}
		if !o.keep {
			defer os.RemoveAll(dir)
		}
	}
	bin := func(name string) string { return filepath.Join(o.bin, name) }
	var p procs
	defer p.stop()
	base := "http://" + o.http

	out, _ := exec.Command(bin("ingest-gateway"), "version").Output()
	section("Kanal %s", strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0]))

	section("1. The gateway: MQTT v5 on %s, HTTP on %s, JetStream in %s", o.mqtt, o.http, filepath.Join(dir, "gateway"))
	gw, err := p.start(bin("ingest-gateway"), nil, filepath.Join(dir, "gateway.log"), "run",
		"--data-dir", filepath.Join(dir, "gateway"), "--mqtt-listen", o.mqtt, "--http-listen", o.http,
		"--rules", "deploy/demo/rules.yaml", "--log-level", "warn")
	if err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { gw.Wait(); close(exited) }()
	if err := waitReady(ctx, base, filepath.Join(dir, "gateway.log"), exited); err != nil {
		return err
	}
	creds := filepath.Join(dir, "gateway", "credentials.yaml")
	pw := map[string]string{}
	for _, u := range []struct {
		name string
		role auth.Role
	}{{"demo-ops", auth.RoleOperator}, {"demo-traffic", auth.RoleTraffic}, {"demo-0001", auth.RoleVehicle}} {
		secret, err := auth.AddUser(creds, u.name, u.role, auth.AddOptions{Replace: true})
		if err != nil {
			return err
		}
		pw[u.name] = filepath.Join(dir, u.name+".password")
		if err := os.WriteFile(pw[u.name], []byte(secret+"\n"), 0o600); err != nil {
			return err
		}
		if u.name == "demo-ops" {
			fmt.Printf("ready. The live page: %s/#token=demo-ops:%s\n", base, secret)
		}
	}
	fmt.Println("users: demo-ops (operator), demo-traffic (traffic service), demo-0001 (a vehicle)")
	if err := sleep(ctx, 1500*time.Millisecond); err != nil { // the gateway rereads its credentials every second
		return err
	}

	section("2. A traffic service watching the alerts (ingest-gateway alerts watch: no vehicle ids)")
	if _, err := p.start(bin("ingest-gateway"), os.Stdout, filepath.Join(dir, "watch.log"), "alerts", "watch",
		"--url", base, "--user", "demo-traffic", "--password-file", pw["demo-traffic"]); err != nil {
		return err
	}
	if err := sleep(ctx, 500*time.Millisecond); err != nil {
		return err
	}

	section("3. A real edge agent replaying testdata/candumps/drive_warning.log at 2x (its ABS lamp comes on at t+75 s)")
	if _, err := p.start(bin("edge-agent"), nil, filepath.Join(dir, "agent.log"), "run",
		"--vehicle", "demo-0001", "--broker", "mqtt://"+o.mqtt, "--username", "demo-0001", "--password-file", pw["demo-0001"],
		"--spool-dir", filepath.Join(dir, "agent-spool"), "--dbc", "testdata/candumps/kanal_demo.dbc",
		"--mapping", "testdata/candumps/kanal_demo.mapping.yaml", "--replay", "testdata/candumps/drive_warning.log",
		"--speed", "2", "--log-level", "warn"); err != nil {
		return err
	}

	section("4. A simulated fleet: %d vehicles, a fog bank drifting over the city, for %s", o.vehicles, o.duration)
	truth := filepath.Join(dir, "truth.json")
	fl, err := p.start(bin("kanal-fleet"), os.Stdout, "", "run", "--broker", "mqtt://"+o.mqtt,
		"--gateway-credentials", creds, "--vehicles", fmt.Sprint(o.vehicles), "--duration", o.duration,
		"--fog-banks", "1", "--fog-life", "50s", "--warning-rate", "2", "--breakdown-rate", "1.5", "--breakdown-for", "40s",
		"--fog-clear-after", "15s", "--fog-window", "1m", "--stopped-for", "10s",
		"--dir", filepath.Join(dir, "fleet"), "--truth", truth, "--log-level", "warn", "--progress-every", "20s")
	if err != nil {
		return err
	}
	fleetDone := make(chan error, 1)
	go func() { fleetDone <- fl.Wait() }()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case err := <-fleetDone:
		if err != nil {
			return fmt.Errorf("kanal-fleet: %w", err)
		}
	}
	fmt.Printf("the fleet is parked; waiting %v for the last alerts to clear\n", o.settle)
	if err := sleep(ctx, o.settle); err != nil {
		return err
	}

	section("5. The gateway's alerts against the simulator's truth")
	return compare(ctx, base, pw["demo-ops"], truth)
}

// waitReady waits for the gateway's /readyz, and gives up at once when
// the gateway has exited (a port in use: -http and -mqtt pick others).
func waitReady(ctx context.Context, base, logFile string, exited <-chan struct{}) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-exited:
			log, _ := os.ReadFile(logFile)
			return fmt.Errorf("the gateway stopped (is a port in use? -mqtt and -http choose others); its log:\n%s", log)
		default:
		}
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile)
			return fmt.Errorf("the gateway is not ready after 60s; its log:\n%s", log)
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// compare reads every alert change of the run from the gateway's stream
// (as a traffic service would, from the start) and matches them with the
// truth. The real agent's ABS warning is not the simulator's doing: it is
// named, and left out of the comparison.
func compare(ctx context.Context, base, opsPasswordFile, truthFile string) error {
	secret, err := os.ReadFile(opsPasswordFile)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(rctx, "GET", base+"/v1/alerts/stream?last_event_id=0", nil)
	req.SetBasicAuth("demo-ops", strings.TrimSpace(string(secret)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("read the alerts: %w", err)
	}
	defer resp.Body.Close()
	tr, err := fleet.ReadTruth(truthFile)
	if err != nil {
		return err
	}
	simLamps := map[string]bool{}
	for _, w := range tr.Warnings {
		simLamps[w.Lamp] = true
	}
	var lines strings.Builder
	agent := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || !strings.Contains(data, `"kanal.alert.v1"`) {
			continue
		}
		if strings.Contains(data, `"lamp":"ABS"`) && !simLamps["ABS"] {
			agent++
			continue
		}
		lines.WriteString(data + "\n")
	}
	seen, err := fleet.ReadSeen(strings.NewReader(lines.String()))
	if err != nil {
		return err
	}
	c, err := tr.Compare(seen, 2*time.Second)
	if err != nil {
		return err
	}
	fmt.Printf("%d alert changes from the simulated fleet, %d from the real agent (its ABS lamp)\n", len(seen), agent)
	c.WriteText(os.Stdout)
	if !c.OK() {
		fmt.Println("(the gateway's alerts and the simulator's truth differ: see above)")
	}
	return nil
}
