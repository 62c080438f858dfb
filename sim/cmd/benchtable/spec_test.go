package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestFiguresRun checks the figures against scripts/bench, the script
// that runs them: every figure's package is benchmarked there with a
// pattern that selects its benchmark and its references, and every
// package exists. A renamed benchmark or a package left out of the script
// fails here, not at the end of a 6-minute make bench.
func TestFiguresRun(t *testing.T) {
	script, err := os.ReadFile("../../../scripts/bench")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(script), "BENCHES='")
	block, _, ok2 := strings.Cut(block, "'")
	if !ok || !ok2 {
		t.Fatal("scripts/bench has no BENCHES='...' block")
	}
	patterns := map[string]string{} // package → -bench pattern
	for _, line := range strings.Split(block, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			t.Fatalf("scripts/bench line %q: want package, pattern, benchtime", line)
		}
		if _, err := time.ParseDuration(f[2]); err != nil && !regexp.MustCompile(`^\d+x$`).MatchString(f[2]) {
			t.Errorf("%s: benchtime %q", f[0], f[2])
		}
		patterns[strings.Trim(f[0], "./")] = f[1]
	}
	for _, fg := range figures {
		pat, ok := patterns[fg.pkg]
		if !ok {
			t.Errorf("%s: package %s is not in scripts/bench", fg.label, fg.pkg)
			continue
		}
		if st, err := os.Stat("../../../" + fg.pkg); err != nil || !st.IsDir() {
			t.Errorf("%s: no package %s", fg.label, fg.pkg)
		}
		names := []string{fg.bench}
		for _, r := range fg.refs {
			names = append(names, r.bench)
		}
		for _, n := range names {
			if !selects(t, pat, "Benchmark"+n) {
				t.Errorf("%s: scripts/bench pattern %q does not run %s", fg.label, pat, n)
			}
		}
		if fg.unit == "" || fg.label == "" {
			t.Errorf("figure %+v lacks a label or unit", fg)
		}
	}
}

// selects reports whether a -bench pattern runs the benchmark name, the
// way go test matches: the pattern and the name split at "/" and each
// level matched in turn (levels the pattern lacks match everything).
func selects(t *testing.T, pattern, name string) bool {
	t.Helper()
	pats := strings.Split(pattern, "/")
	elems := strings.Split(name, "/")
	for i, p := range pats {
		if i >= len(elems) {
			return true
		}
		re, err := regexp.Compile(p)
		if err != nil {
			t.Fatalf("pattern %q: %v", pattern, err)
		}
		if !re.MatchString(elems[i]) {
			return false
		}
	}
	return true
}

func TestMainUnit(t *testing.T) {
	for _, tc := range []struct {
		metrics map[string]float64
		units   []string
		unit    string
		v       float64
	}{
		{map[string]float64{"MB/s": 1, "lines/s": 2}, []string{"MB/s", "lines/s"}, "lines/s", 2},
		{map[string]float64{"records/s": 3, "B/op": 1}, []string{"B/op", "records/s"}, "records/s", 3},
		{map[string]float64{"B/value": 5, "ns/op": 100}, []string{"ns/op", "B/value"}, "B/value", 5},
		{map[string]float64{"ns/op": 250}, []string{"ns/op"}, "ops/s", 4e6},
		{map[string]float64{"ns/op": 0, "records": 7}, []string{"ns/op", "records"}, "ns/op", 0},
		{map[string]float64{}, nil, "", 0},
	} {
		u, v := mainUnit(&result{metrics: tc.metrics, units: tc.units})
		if u != tc.unit || v != tc.v {
			t.Errorf("mainUnit(%v) = %s %g, want %s %g", tc.metrics, u, v, tc.unit, tc.v)
		}
	}
}

// TestGatewayAlone: a log with the reference but not the gateway's own
// result has the gateway figures MISSING (failing the table), and the
// reference's result shown as a row of its own.
func TestGatewayAlone(t *testing.T) {
	var keep []string
	for _, l := range strings.Split(allLog(t), "\n") {
		if !strings.HasPrefix(l, "BenchmarkGateway/target=gateway") {
			keep = append(keep, l)
		}
	}
	r, err := parse(strings.NewReader(strings.Join(keep, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	tb := build(r)
	if got := rowOf(t, tb, "gateway signal values stored"); got.status != statusMissing || !tb.bad {
		t.Errorf("row %+v", got)
	}
	if got := rowOf(t, tb, "Gateway/target=broker-only"); got.measured != "592k values/s" {
		t.Errorf("stand-in row %+v", got)
	}
}

func TestWriteText(t *testing.T) {
	tb := &table{rows: []row{
		{figure: "a", measured: "1 x/s", status: statusOK, bench: "p A"},
		{figure: "b|c", status: statusMissing, bench: "p B"},
	}}
	m := machine{date: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), cpu: "Some CPU", cores: 2, memory: "1.0 GiB", goVer: "go1.26 linux/amd64"}
	var b strings.Builder
	if err := tb.writeText(&b, m); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if lines[0] != "Kanal benchmarks: 2026-01-02 03:04 UTC, Some CPU, 2 cores, 1.0 GiB memory, go1.26 linux/amd64" || len(lines) != 5 {
		t.Fatalf("%q", lines)
	}
	// empty cells print as "-", columns line up
	if f := strings.Fields(lines[4]); len(f) != 8 || f[1] != "-" {
		t.Errorf("row %q", lines[4])
	}
	if strings.Index(lines[2], "measured") != strings.Index(lines[3], "1 x/s") {
		t.Errorf("columns do not line up:\n%s", b.String())
	}
	b.Reset()
	if err := tb.writeMarkdown(&b, m); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `| b\|c |  |  |  | MISSING |  | `+"`p B`"+` |`) {
		t.Errorf("markdown:\n%s", b.String())
	}
}

func TestThisMachine(t *testing.T) {
	m := thisMachine(&runLog{cpu: "from the log", goos: "linux", goarch: "amd64"}, time.Unix(0, 0))
	if m.cores < 1 || !strings.HasSuffix(m.goVer, " linux/amd64") || m.cpu == "" {
		t.Errorf("%+v", m)
	}
	if _, err := os.Stat("/proc/meminfo"); err == nil && !strings.HasSuffix(m.memory, " GiB") {
		t.Errorf("memory %q", m.memory)
	}
	if _, err := os.Stat("/proc/cpuinfo"); err != nil && m.cpu != "from the log" {
		t.Errorf("cpu %q without /proc", m.cpu)
	}
}

// TestWhy: a figure's benchmark failed itself, as part of its parent, or
// with its package; was skipped, itself or as part of its parent; or is
// simply not there.
func TestWhy(t *testing.T) {
	const pkg = "github.com/kanal-dev/kanal/uplink/batch"
	for _, tc := range []struct {
		desc    string
		failed  map[string]string
		skipped map[string]string
		status  string
	}{
		{"itself failed", map[string]string{pkg + " Encode/a/kanal": "x"}, nil, statusFailed},
		{"parent failed", map[string]string{pkg + " Encode": "x"}, nil, statusFailed},
		{"package failed", map[string]string{pkg: "FAIL"}, nil, statusFailed},
		{"another package failed", map[string]string{"github.com/kanal-dev/kanal/can": "FAIL"}, nil, statusMissing},
		{"a sibling failed", map[string]string{pkg + " Encode/b": "x"}, nil, statusMissing},
		{"a name prefix is no parent", map[string]string{pkg + " Enc": "x"}, nil, statusMissing},
		{"skipped", nil, map[string]string{pkg + " Encode/a": "no log"}, "skipped"},
		{"not there", nil, nil, statusMissing},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			r := &runLog{failed: tc.failed, skipped: tc.skipped}
			if r.failed == nil {
				r.failed = map[string]string{}
			}
			if status, _ := r.why("uplink/batch", "Encode/a/kanal"); status != tc.status {
				t.Errorf("status %q, want %q", status, tc.status)
			}
		})
	}
}

// TestWhyMostSpecific: when a benchmark, its parent and its package all
// failed, the row shows the benchmark's own line, every time (the failures
// are a map, and map order is random).
func TestWhyMostSpecific(t *testing.T) {
	const pkg = "github.com/kanal-dev/kanal/uplink/batch"
	r := &runLog{failed: map[string]string{
		pkg:                   "FAIL pkg",
		pkg + " Encode":       "--- FAIL: BenchmarkEncode",
		pkg + " Encode/a":     "--- FAIL: BenchmarkEncode/a",
		pkg + " Encode/a/kan": "--- FAIL: a name prefix, no parent",
	}}
	for i := 0; i < 100; i++ {
		if status, detail := r.why("uplink/batch", "Encode/a/kanal"); status != statusFailed || detail != "--- FAIL: BenchmarkEncode/a" {
			t.Fatalf("run %d: %q %q, want the benchmark's parent line", i, status, detail)
		}
	}
}

// TestMarkdownOnFailure: a failing run still writes its Markdown, with the
// FAILED rows in it.
func TestMarkdownOnFailure(t *testing.T) {
	md := t.TempDir() + "/bench.md"
	in := "pkg: github.com/kanal-dev/kanal/can\n--- FAIL: BenchmarkCandumpParse/reader\nFAIL\tgithub.com/kanal-dev/kanal/can\t1s\n"
	var out, errOut strings.Builder
	if code := run([]string{"-md", md}, strings.NewReader(in), &out, &errOut, time.Unix(0, 0)); code != 1 {
		t.Fatalf("exit %d", code)
	}
	data, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "| candump parse |  |  |  | FAILED | --- FAIL: BenchmarkCandumpParse/reader |") ||
		!strings.Contains(string(data), "| gateway PUBACK p99 |  |  | < 50 | MISSING |") {
		t.Errorf("markdown:\n%s", data)
	}
	if !strings.Contains(errOut.String(), "FAILED or are MISSING") {
		t.Errorf("stderr: %s", errOut.String())
	}
}
