package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/crypto/bcrypt"

	"github.com/kanal-dev/kanal/cloud/auth"
	"github.com/kanal-dev/kanal/internal/brokertest"
	"github.com/kanal-dev/kanal/internal/cli"
	"github.com/kanal-dev/kanal/internal/wire"
	"github.com/kanal-dev/kanal/sim/city"
	"github.com/kanal-dev/kanal/sim/fleet"
	"github.com/kanal-dev/kanal/sim/runner"
)

const (
	testDBC     = "../../../testdata/candumps/kanal_demo.dbc"
	testMapping = "../../../testdata/candumps/kanal_demo.mapping.yaml"
)

// fleetCmd runs the command with args and returns its exit code, stdout
// and stderr.
func fleetCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	code := cli.Execute(ctx, root)
	return code, out.String(), errb.String()
}

func TestWriteAndTruth(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--dbc", testDBC, "--vehicles", "6", "--duration", "40s", "--seed", "4", "--warning-rate", "50"}
	code, out, errs := fleetCmd(t, append([]string{"write", "--dir", dir}, args...)...)
	if code != 0 {
		t.Fatalf("write: exit %d: %s", code, errs)
	}
	for i := 1; i <= 6; i++ {
		st, err := os.Stat(filepath.Join(dir, "sim-000"+string(rune('0'+i))+".log"))
		if err != nil || st.Size() < 40*87*30 {
			t.Fatalf("log %d: %v, %v", i, st, err)
		}
	}
	tr, err := fleet.ReadTruth(filepath.Join(dir, fleet.TruthFile))
	if err != nil {
		t.Fatal(err)
	}
	if tr.Vehicles != 6 || len(tr.Warnings) == 0 || !strings.Contains(out, "warnings: "+strconv.Itoa(len(tr.Warnings))) {
		t.Fatalf("truth %+v; printed:\n%s", tr, out)
	}
	// truth prints what write wrote, without writing
	code, js, errs := fleetCmd(t, append([]string{"truth", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("truth: exit %d: %s", code, errs)
	}
	var tj fleet.Truth
	if err := json.Unmarshal([]byte(js), &tj); err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(tr)
	b, _ := json.Marshal(&tj)
	if string(a) != string(b) {
		t.Fatalf("truth --json differs from write's truth.json")
	}
	code, text, _ := fleetCmd(t, append([]string{"truth"}, args...)...)
	if code != 0 || text != out {
		t.Fatalf("truth printed\n%s\nwrite printed\n%s", text, out)
	}
}

func TestRunAgainstBroker(t *testing.T) {
	br := brokertest.Start(t, brokertest.Options{})
	dir := t.TempDir()
	creds := filepath.Join(t.TempDir(), "credentials.yaml")
	truth := filepath.Join(t.TempDir(), "truth.json")
	saved := filepath.Join(t.TempDir(), "saved")
	code, out, errs := fleetCmd(t, "run", "--broker", br.URL(), "--dbc", testDBC, "--mapping", testMapping,
		"--vehicles", "4", "--duration", "15s", "--speed", "10", "--dir", dir, "--gateway-credentials", creds, "--reload-wait", "10ms", "--save-credentials", saved,
		"--truth", truth, "--progress-every", "100ms", "--fsync", "none")
	if code != 0 {
		t.Fatalf("run: exit %d:\n%s", code, errs)
	}
	if !strings.Contains(out, "truth: 4 vehicles") || !strings.Contains(errs, "fleet progress") ||
		!strings.Contains(errs, "vehicle users created") ||
		!strings.Contains(errs, "4 vehicles sent") || !strings.Contains(errs, ", 0 not acknowledged") {
		t.Fatalf("stdout:\n%s\nstderr:\n%s", out, errs)
	}
	if _, err := fleet.ReadTruth(truth); err != nil {
		t.Fatal(err)
	}
	set, err := auth.Load(creds)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"sim-0001", "sim-0004"} {
		if len(br.Messages(wire.BatchTopic(id))) == 0 {
			t.Errorf("no batches of %s", id)
		}
		u, ok := set.Lookup(id)
		hash, _ := set.Hash(id)
		pw, err := os.ReadFile(filepath.Join(dir, id, "password"))
		if !ok || u.Role != auth.RoleVehicle || err != nil {
			t.Fatalf("%s: user %+v %v, password file %v", id, u, ok, err)
		}
		if err := bcrypt.CompareHashAndPassword([]byte(hash), bytes.TrimSpace(pw)); err != nil {
			t.Fatalf("%s: the password file does not match the gateway's hash: %v", id, err)
		}
	}
	// the saved list is what --credentials reads, with the same passwords
	st, err := os.Stat(saved)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("saved credentials: %v %v", st, err)
	}
	lookup, err := fromFile(saved)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 4; i++ {
		id := "sim-000" + strconv.Itoa(i)
		pw, err := lookup(id)
		hash, _ := set.Hash(id)
		if err != nil || bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) != nil {
			t.Fatalf("%s: saved password does not match: %v", id, err)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown flag", []string{"write", "--nope"}, 2, "unknown flag"},
		{"write without dir", []string{"write", "--dbc", testDBC}, 1, "--dir is required"},
		{"two logins", []string{"run", "--credentials", "a", "--gateway-credentials", "b"}, 2, "give one"},
		{"negative speed", []string{"run", "--speed", "-1"}, 2, "--speed -1"},
		{"bad start", []string{"truth", "--dbc", testDBC, "--start", "yesterday"}, 1, `--start "yesterday"`},
		{"no vehicles", []string{"truth", "--dbc", testDBC, "--vehicles", "0"}, 1, "--vehicles 0"},
		{"missing credentials", []string{"run", "--dbc", testDBC, "--credentials", "/nonexistent"}, 1, "--credentials"},
		{"vehicle out of range", []string{"vcan", "--dbc", testDBC, "--vehicles", "3", "--vehicle", "4"}, 2, "4: want 1 to 3"},
		{"vcan speed", []string{"vcan", "--speed", "0"}, 2, "--speed 0"},
		{"bad rule", []string{"truth", "--dbc", testDBC, "--lamps", "Nope"}, 1, `"Nope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := fleetCmd(t, tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, want %d; stderr %q, want %q", code, tc.code, errs, tc.want)
			}
		})
	}
}

func TestCredentialsFile(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       map[string]string
		err        string
	}{
		{"forms", "# vehicles\nsim-0001:a:b\n\nsim-0002 pw two\n\tsim-0003\tx\n", map[string]string{
			"sim-0001": "a:b", "sim-0002": "pw two", "sim-0003": "x"}, ""},
		{"no password", "sim-0001\n", nil, "creds:1: want NAME:PASSWORD"},
		{"empty password", "sim-0001:\n", nil, "creds:1: want NAME:PASSWORD"},
		{"bad name", "a/b:pw\n", nil, "creds:1: user name"},
		{"twice", "sim-0001:a\nsim-0001:b\n", nil, "creds:2: sim-0001 listed twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCredentials("creds", []byte(tc.text))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v", got)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Fatalf("%s: %q, want %q", k, got[k], v)
				}
			}
		})
	}
	path := filepath.Join(t.TempDir(), "creds")
	os.WriteFile(path, []byte("sim-0001:pw\n"), 0o600)
	pw, err := fromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := pw("sim-0001"); p != "pw" || err != nil {
		t.Fatalf("sim-0001: %q %v", p, err)
	}
	if _, err := pw("sim-0002"); err == nil || !strings.Contains(err.Error(), "no password for sim-0002") {
		t.Fatalf("sim-0002: %v", err)
	}
}

// FuzzParseCredentials: any input gives valid users or an error naming
// the file and line, never a panic; what is accepted reads back the same
// when written out again.
func FuzzParseCredentials(f *testing.F) {
	for _, s := range []string{"sim-0001:pw\n", "# c\n\nsim-0002 a b\n", "x\n", ":\n", "a:b\na:c\n", "\t\t\n"} {
		f.Add([]byte(s))
	}
	located := regexp.MustCompile(`^f(:\d+)?: `)
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parseCredentials("f", data)
		if err != nil {
			if !located.MatchString(err.Error()) {
				t.Fatalf("error %q does not name file and line", err)
			}
			return
		}
		var names []string
		for name, pw := range got {
			if auth.CheckName(name) != nil || pw == "" || strings.TrimSpace(pw) != pw {
				t.Fatalf("accepted %q:%q", name, pw)
			}
			names = append(names, name)
		}
		sort.Strings(names)
		var text strings.Builder
		for _, n := range names {
			text.WriteString(n + ":" + got[n] + "\n")
		}
		back, err := parseCredentials("f", []byte(text.String()))
		if err != nil || len(back) != len(got) {
			t.Fatalf("written out again: %v, %d of %d users", err, len(back), len(got))
		}
		for n, pw := range got {
			if back[n] != pw {
				t.Fatalf("%s: %q read back as %q", n, pw, back[n])
			}
		}
	})
}

func TestVehicleIndex(t *testing.T) {
	f, err := fleet.New(fleet.Options{DBC: testDBC, Vehicles: 12})
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]int{"1": 0, "12": 11, "sim-0003": 2, "SIM-0012": 11} {
		if got, err := vehicleIndex(f, in); got != want || err != nil {
			t.Errorf("%s: %d %v, want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "13", "sim-0013", "car"} {
		if _, err := vehicleIndex(f, in); err == nil {
			t.Errorf("%s: no error", in)
		}
	}
}

func TestBar(t *testing.T) {
	p := runner.Progress{Elapsed: 30 * time.Second, Duration: 2 * time.Minute, Vehicles: 40, Connected: 39,
		Frames: 1_234_567, Batches: 987, Unacked: 3, Lag: 150 * time.Millisecond}
	got := bar(p, 3456)
	want := "[======>                 ]  25%  30s of 2m0s  39/40 connected  1.23M frames (3456/s)  987 batches, 3 spooled  lag 0.1s"
	if got != want {
		t.Fatalf("bar\n%q, want\n%q", got, want)
	}
	p.Elapsed = p.Duration
	if got := bar(p, 0); !strings.HasPrefix(got, "[========================] 100%") {
		t.Fatalf("full bar %q", got)
	}
	var buf bytes.Buffer
	pr := newProgress(&buf, time.Second)
	if pr.tty || pr.every != time.Second {
		t.Fatal("a buffer is not a terminal")
	}
}

// TestFlagsReachOptions: every fleet and rule flag lands in its option.
func TestFlagsReachOptions(t *testing.T) {
	var fl fleetFlags
	var rl ruleFlags
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fl.add(fs, "")
	rl.add(fs)
	err := fs.Parse([]string{"--dbc", "d.dbc", "--seed", "9", "--vehicles", "7", "--duration", "3m",
		"--start", "2030-01-02T03:04:05Z", "--id-prefix", "car", "--city-size", "2000", "--block", "200",
		"--fog-banks", "4", "--fog-radius", "700", "--fog-speed", "30", "--fog-life", "90s", "--fog-light-use", "0.5",
		"--warning-rate", "2", "--breakdown-rate", "3", "--breakdown-for", "45s", "--park-for", "2m", "--cell-level", "12",
		"--fog-min-vehicles", "4", "--fog-window", "1m", "--fog-clear-after", "20s", "--stopped-for", "10s", "--lamps", "ABS,ESC"})
	if err != nil {
		t.Fatal(err)
	}
	o, err := fl.options(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want := fleet.Options{DBC: "d.dbc", Vehicles: 7, Seed: 9, Duration: 3 * time.Minute,
		Start: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), IDPrefix: "car",
		City:        city.Options{SizeM: 2000, BlockM: 200},
		Fog:         fleet.FogOptions{Banks: 4, RadiusM: 700, SpeedKmh: 30, Life: 90 * time.Second, LightUse: 0.5},
		WarningRate: 2, BreakdownRate: 3, BreakdownFor: 45 * time.Second, ParkFor: 2 * time.Minute, CellLevel: 12}
	if !o.Start.Equal(want.Start) {
		t.Fatalf("start %v", o.Start)
	}
	o.Start = want.Start
	if o != want {
		t.Fatalf("options\n%+v, want\n%+v", o, want)
	}
	r := rl.rules()
	if r.FogMinVehicles != 4 || r.FogWindow != time.Minute || r.FogClearAfter != 20*time.Second ||
		r.StoppedFor != 10*time.Second || strings.Join(r.Lamps, ",") != "ABS,ESC" {
		t.Fatalf("rules %+v", r)
	}
	// without --start: the mode's own default
	fl.start = ""
	now := time.Now()
	if o, _ := fl.options(now); !o.Start.Equal(now) {
		t.Fatal("default start not used")
	}
}

func TestIsTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) || isTerminal(&bytes.Buffer{}) {
		t.Fatal("a file or a buffer taken for a terminal")
	}
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer tty.Close()
		if !isTerminal(tty) {
			t.Error("/dev/tty is not a terminal")
		}
	}
	for x, want := range map[float64]string{950: "950", 12345: "12.3k", 4_560_000: "4.56M"} {
		if got := count(x); got != want {
			t.Errorf("count(%v) = %s, want %s", x, got, want)
		}
	}
}

// TestRunWithCredentialsFile: run --credentials logs every vehicle in with
// its password from the file, at a broker that refuses anyone else.
func TestRunWithCredentialsFile(t *testing.T) {
	users := map[string]string{"sim-0001": "one-pw", "sim-0002": "two:pw"}
	broker := brokertest.Start(t, brokertest.Options{Users: users})
	creds := filepath.Join(t.TempDir(), "creds")
	os.WriteFile(creds, []byte("# the fleet\nsim-0001 one-pw\nsim-0002:two:pw\n"), 0o600)
	args := []string{"run", "--broker", broker.URL(), "--dbc", testDBC, "--mapping", testMapping,
		"--vehicles", "2", "--duration", "5s", "--speed", "5", "--credentials", creds}
	code, _, errs := fleetCmd(t, args...)
	if code != 0 || !strings.Contains(errs, ", 0 not acknowledged") {
		t.Fatalf("run: exit %d:\n%s", code, errs)
	}
	// a third vehicle the file does not list
	code, _, errs = fleetCmd(t, append(args[:len(args)-4:len(args)-4], "--vehicles", "3", "--credentials", creds)...)
	if code != 1 || !strings.Contains(errs, "no password for sim-0003") {
		t.Fatalf("run with a vehicle missing from the file: exit %d:\n%s", code, errs)
	}
}

func TestCompareCmd(t *testing.T) {
	const truth = "../../fleet/testdata/gateway_truth.json"
	code, out, errs := fleetCmd(t, "compare", "--truth", truth, "../../fleet/testdata/gateway_alerts.jsonl")
	if code != 0 || !strings.Contains(out, "agrees with the truth: 10 episodes matched (8 to the nanosecond)") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	code, out, _ = fleetCmd(t, "compare", "--truth", truth, "--tolerance", "10ms", "../../fleet/testdata/gateway_alerts.jsonl")
	if code != 1 || !strings.Contains(out, "DIFFERS") || !strings.Contains(out, "missing     fog:479ddf64:1796174334162032000") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"compare", "x"}, 2, "--truth is required"},
		{[]string{"compare", "--truth", truth}, 2, "give the files of alerts"},
		{[]string{"compare", "--truth", "/nonexistent", "x"}, 1, "/nonexistent"},
		{[]string{"compare", "--truth", truth, "/nonexistent"}, 1, "/nonexistent"},
	} {
		code, _, errs := fleetCmd(t, tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q", tc.args, code, errs)
		}
	}
}
