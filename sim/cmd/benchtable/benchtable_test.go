package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// all.log is a captured `make bench` log of this machine (every package of
// scripts/bench, each as `go test -bench` printed it).
func allLog(t testing.TB) string {
	t.Helper()
	data, err := os.ReadFile("testdata/all.log")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		desc    string
		in      string
		results map[string]map[string]float64 // "pkg name" → unit → value
		failed  []string
		skipped map[string]string
	}{
		{desc: "result lines",
			in: "pkg: github.com/kanal-dev/kanal/can\ncpu: Intel(R) Xeon(R) Processor\n" +
				"BenchmarkCandumpParse/reader-2         \t     588\t 351.47 MB/s\t         0.0005108 allocs/line\t   7421781 lines/s\t   65912 B/op\t       8 allocs/op\n" +
				"BenchmarkCandumpParse/baseline=strings-2 \t 217\t 2829909 lines/s\n",
			results: map[string]map[string]float64{
				"github.com/kanal-dev/kanal/can CandumpParse/reader":           {"MB/s": 351.47, "allocs/line": 0.0005108, "lines/s": 7421781, "B/op": 65912, "allocs/op": 8},
				"github.com/kanal-dev/kanal/can CandumpParse/baseline=strings": {"lines/s": 2829909},
			}},
		{desc: "figures cut off by a log line",
			in: "pkg: github.com/kanal-dev/kanal/sim/loadgen/gatewaybench\n" +
				"BenchmarkGateway/target=broker-only-2   time=2026-12-02 level=WARN msg=\"PUBACKs still due\"\n" +
				"level=WARN msg=another\n" +
				"       1\t        26.76 KiB/idle-conn\t     10000 conns\n",
			results: map[string]map[string]float64{
				"github.com/kanal-dev/kanal/sim/loadgen/gatewaybench Gateway/target=broker-only": {"KiB/idle-conn": 26.76, "conns": 10000},
			}},
		{desc: "failed benchmark and package",
			in: "pkg: github.com/kanal-dev/kanal/sim/loadgen/gatewaybench\n" +
				"--- FAIL: BenchmarkGateway/target=broker-only\n    gateway_bench_test.go:100: child did not get ready\n" +
				"--- FAIL: BenchmarkGateway\nFAIL\nexit status 1\nFAIL\tgithub.com/kanal-dev/kanal/sim/loadgen\t7.494s\n",
			failed: []string{"github.com/kanal-dev/kanal/sim/loadgen/gatewaybench Gateway/target=broker-only", "github.com/kanal-dev/kanal/sim/loadgen/gatewaybench Gateway", "github.com/kanal-dev/kanal/sim/loadgen"}},
		{desc: "build failure",
			in: "# github.com/kanal-dev/kanal/cloud/alert [github.com/kanal-dev/kanal/cloud/alert.test]\n" +
				"cloud/alert/x.go:1:1: undefined: y\nFAIL\tgithub.com/kanal-dev/kanal/cloud/alert [build failed]\nFAIL\n",
			failed: []string{"github.com/kanal-dev/kanal/cloud/alert"}},
		{desc: "skipped",
			in: "pkg: github.com/kanal-dev/kanal/uplink/batch\n" +
				"--- SKIP: BenchmarkEncode/drive=ford_gt350,values=changes\n" +
				"    bench_test.go:160: ../../../shared/candumps/ford_gt350.log not found (the real logs live in ../shared)\n",
			skipped: map[string]string{"github.com/kanal-dev/kanal/uplink/batch Encode/drive=ford_gt350,values=changes": "../../../shared/candumps/ford_gt350.log not found (the real logs live in ../shared)"}},
		{desc: "noise",
			in: "Benchmark\nBenchmarkX-2 abc def ghi\nBenchmarkY-2 1 2\nBenchmarkZ-2 1 x ns/op\n--- FAIL: Benchmark\n  12 3 ns/op\nPASS\nok  \tpkg\t1s\n",
			// Z's figures come on a line of their own, as when a log line cut them off
			results: map[string]map[string]float64{" Z": {"ns/op": 3}},
			failed:  []string{" "}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			r, err := parse(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]map[string]float64{}
			for _, res := range r.results {
				got[key(res.pkg, res.name)] = res.metrics
			}
			if len(got) != len(tc.results) {
				t.Errorf("results %v, want %v", got, tc.results)
			}
			for k, want := range tc.results {
				for u, v := range want {
					if got[k][u] != v {
						t.Errorf("%s %s = %g, want %g", k, u, got[k][u], v)
					}
				}
			}
			for _, f := range tc.failed {
				if _, ok := r.failed[f]; !ok {
					t.Errorf("%q not failed: %v", f, r.failed)
				}
			}
			if len(r.failed) != len(tc.failed) {
				t.Errorf("failed %v, want %v", r.failed, tc.failed)
			}
			for k, want := range tc.skipped {
				if r.skipped[k] != want {
					t.Errorf("skip %s: %q, want %q", k, r.skipped[k], want)
				}
			}
		})
	}
}

// rowOf returns the row of a figure, failing the test without one.
func rowOf(t *testing.T, tb *table, figure string) row {
	t.Helper()
	for _, r := range tb.rows {
		if r.figure == figure {
			return r
		}
	}
	var names []string
	for _, r := range tb.rows {
		names = append(names, r.figure)
	}
	t.Fatalf("no row %q in %q", figure, names)
	return row{}
}

// TestTable builds the table of the captured log and of variants of it:
// a benchmark gone, failed, skipped, a target missed.
func TestTable(t *testing.T) {
	full := allLog(t)
	cut := func(prefix string) string { // the log without the lines starting with prefix
		var out []string
		for _, l := range strings.Split(full, "\n") {
			if !strings.HasPrefix(l, prefix) {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\n")
	}
	type want struct{ figure, measured, reference, status, also string }
	for _, tc := range []struct {
		desc string
		in   string
		bad  bool
		rows []want
	}{
		{desc: "captured", in: full, rows: []want{
			{"candump parse", "8.10M lines/s", "3.18M strings/strconv (2.55× faster)", "", "0.000511 allocs/line (strings/strconv 2)"},
			{"decode", "31.95M frames/s", "11.02M einride (2.90× faster)", "", "0 allocs/frame (einride 0), 264.68M values/s (einride 91.31M)"},
			{"bytes per signal value, demo city drive", "5.39 B/value", "80.8 JSON Lines (14.99× smaller); 9.87 row-wise protobuf+zstd (1.83× smaller)", "ok", ""},
			{"agent CPU at 4,000 frames/s", "2.93 cpu-%", "", "missed", ""},
			{"agent peak RSS at 4,000 frames/s", "19.3 peak-rss-MB", "", "ok", ""},
			{"agent throughput, fsync per batch", "296k frames/s", "1.39M no fsync (4.69× slower)", "", "52815 sent-values/s (no fsync 248k)"},
			{"spool appends, fsync per batch", "3622 batches/s", "447k no fsync (123.38× slower)", "", ""},
			{"gateway connections held", "10000 conns", "10000 mochi alone (same)", "ok", ""},
			{"gateway signal values stored", "592k values/s", "592k mochi alone (same)", "ok", "4000 batches/s (mochi alone 4000)"},
			{"gateway PUBACK p50", "1.48 p50-ms", "0.25 mochi alone (5.90× more)", "", ""},
			{"gateway PUBACK p99", "38.8 p99-ms", "2.16 mochi alone (17.94× more)", "ok", "92.1 max-ms (mochi alone 11.2), 0 not-acked (mochi alone 0), 0 conn-errors (mochi alone 0)"},
			{"gateway RSS per idle connection", "28.4 KiB/idle-conn", "27.5 mochi alone (1.03× larger)", "", "313 gw-µs/batch (mochi alone 75.1), 75.4 loadgen-µs/batch (mochi alone 85.2)"},
			{"frame to warning alert p99, fleet load", "15.9 p99-ms", "6.69 no load (2.38× more)", "ok", "4.57 p50-ms (no load 1.18)"},
			{"frame to fog alert p99, fleet load", "11.2 p99-ms", "3.79 no load (2.96× more)", "ok", "2.46 p50-ms (no load 0.964)"},
			{"Append/fsync=interval,priority=true", "3927 batches/s", "", "", "8.05 MB/s, 0 allocs/op"},
		}},
		{desc: "gateway missing", in: cut("BenchmarkGateway"), bad: true, rows: []want{
			{figure: "gateway connections held", status: statusMissing},
			{figure: "decode", measured: "31.95M frames/s"},
		}},
		{desc: "alert not there yet", in: cut("BenchmarkAlertLatency"), rows: []want{
			{figure: "frame to fog alert p99, fleet load", status: "pending", also: "waits for cloud/alert BenchmarkAlertLatency"},
		}},
		{desc: "alert does not build", in: cut("BenchmarkAlertLatency") + "\nFAIL\tgithub.com/kanal-dev/kanal/cloud/alert [build failed]\n", bad: true, rows: []want{
			{figure: "frame to fog alert p99, fleet load", status: statusFailed, also: "FAIL\tgithub.com/kanal-dev/kanal/cloud/alert [build failed]"},
		}},
		{desc: "gateway failed", in: cut("BenchmarkGateway/target=gateway") + "\npkg: github.com/kanal-dev/kanal/sim/loadgen/gatewaybench\n--- FAIL: BenchmarkGateway/target=gateway\n    x_test.go:1: child died\n", bad: true, rows: []want{
			{figure: "gateway PUBACK p99", status: statusFailed, also: "--- FAIL: BenchmarkGateway/target=gateway"},
		}},
		{desc: "gateway's reference missing", in: cut("BenchmarkGateway/target=broker-only"), bad: true, rows: []want{
			{figure: "gateway PUBACK p99", measured: "38.8 p99-ms", reference: "mochi alone: missing", status: statusMissing},
		}},
		{desc: "ford skipped", in: cut("BenchmarkEncode/drive=ford") + "\npkg: github.com/kanal-dev/kanal/uplink/batch\n--- SKIP: BenchmarkEncode/drive=ford_gt350,values=changes\n    bench_test.go:160: ford_gt350.log not found\n", rows: []want{
			{figure: "bytes per signal value, Ford GT350 log", status: "skipped", also: "ford_gt350.log not found"},
		}},
		{desc: "a benchmark no figure names fails", in: full + "\npkg: github.com/kanal-dev/kanal/can\n--- FAIL: BenchmarkCandumpWrite\n", bad: true, rows: []want{
			{figure: "CandumpWrite", status: statusFailed},
		}},
		{desc: "a reference missing", in: cut("BenchmarkDecode/einride"), bad: true, rows: []want{
			{figure: "decode", measured: "31.95M frames/s", reference: "einride: missing", status: statusMissing},
		}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			r, err := parse(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			tb := build(r)
			if tb.bad != tc.bad {
				t.Errorf("bad = %v, want %v", tb.bad, tc.bad)
			}
			for _, w := range tc.rows {
				got := rowOf(t, tb, w.figure)
				for _, c := range []struct{ name, got, want string }{
					{"measured", got.measured, w.measured}, {"reference", got.reference, w.reference},
					{"status", got.status, w.status}, {"also", got.also, w.also},
				} {
					if c.want != "" && c.got != c.want || c.want == "" && tc.desc == "captured" && c.got != "" {
						t.Errorf("%s: %s %q, want %q", w.figure, c.name, c.got, c.want)
					}
				}
			}
		})
	}
}

func TestHumanAndRatio(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{{0, "0"}, {0.0005108, "0.000511"}, {2, "2"}, {5.393, "5.39"}, {26.76, "26.8"}, {571.5, "572"}, {10000, "10000"},
		{99999, "99999"}, {148000, "148k"}, {1479242, "1.48M"}, {-3, "-3"}} {
		if got := human(tc.v); got != tc.want {
			t.Errorf("human(%g) = %q, want %q", tc.v, got, tc.want)
		}
	}
	for _, tc := range []struct {
		v, ref float64
		unit   string
		want   string
	}{
		{7.42e6, 2.83e6, "lines/s", "2.62× faster"},
		{1e6, 2e6, "frames/s", "2.00× slower"},
		{5.39, 80.8, "B/value", "14.99× smaller"},
		{30, 20, "peak-rss-MB", "1.50× larger"},
		{26.8, 4.5, "p99-ms", "5.96× more"},
		{1, 2, "cpu-%", "2.00× less"},
		{3, 0, "lines/s", "-"},
		{20000, 10000, "conns", "2.00× better"},
	} {
		if got := ratio(tc.v, tc.ref, tc.unit); got != tc.want {
			t.Errorf("ratio(%g, %g, %s) = %q, want %q", tc.v, tc.ref, tc.unit, got, tc.want)
		}
	}
	for unit, up := range map[string]bool{"lines/s": true, "conns": true, "B/value": false, "cpu-%": false, "p99-ms": false, "KiB/idle-conn": false, "allocs/frame": false} {
		if higherIsBetter(unit) != up {
			t.Errorf("higherIsBetter(%s) = %v", unit, !up)
		}
	}
	for _, tc := range []struct {
		t    target
		v    float64
		want bool
	}{{target{"≥", 10000}, 10000, true}, {target{"≥", 10000}, 9999, false}, {target{"<", 50}, 50, false}, {target{"≤", 8}, 8, true}, {target{">", 1}, 2, true}, {target{}, 1, true}} {
		if tc.t.met(tc.v) != tc.want {
			t.Errorf("%v met(%g) = %v", tc.t, tc.v, !tc.want)
		}
	}
}

// TestRun runs the command on the captured log: the text table on
// standard output, the Markdown file with its header line, exit codes.
func TestRun(t *testing.T) {
	now := time.Date(2026, 12, 2, 9, 30, 0, 0, time.UTC)
	md := filepath.Join(t.TempDir(), "bench.md")
	var out, errOut bytes.Buffer
	if code := run([]string{"-md", md}, strings.NewReader(allLog(t)), &out, &errOut, now); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	text := out.String()
	for _, want := range []string{"Kanal benchmarks: 2026-12-02 09:30 UTC, ", " cores, ", "go1.", "linux/amd64",
		"figure", "candump parse", "8.10M lines/s", "2.55× faster", "≥ 10000", "sim/loadgen/gatewaybench Gateway/target=gateway"} {
		if !strings.Contains(text, want) {
			t.Errorf("table lacks %q:\n%s", want, text)
		}
	}
	data, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	mdText := string(data)
	for _, want := range []string{"Measured with `make bench` on 2026-12-02 09:30 UTC, ", "| figure | measured | reference, same run | target | status | also | benchmark |",
		"|---|--:|", "| candump parse | 8.10M lines/s | 3.18M strings/strconv (2.55× faster) |", "`can CandumpParse/reader`"} {
		if !strings.Contains(mdText, want) {
			t.Errorf("markdown lacks %q:\n%s", want, mdText)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(mdText), "\n")[2:] {
		if strings.HasPrefix(line, "|---") {
			continue
		}
		if strings.Count(line, " | ")-strings.Count(line, `\|`) != 6 {
			t.Errorf("markdown row with the wrong number of cells: %s", line)
		}
	}

	out.Reset()
	errOut.Reset()
	failing := allLog(t) + "\npkg: github.com/kanal-dev/kanal/can\n--- FAIL: BenchmarkCandumpWrite\nFAIL\tgithub.com/kanal-dev/kanal/can\t1s\n"
	if code := run(nil, strings.NewReader(failing), &out, &errOut, now); code != 1 || !strings.Contains(out.String(), "FAILED") || !strings.Contains(out.String(), "candump parse") {
		t.Errorf("failing run: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	if code := run([]string{"extra"}, strings.NewReader(""), &out, &errOut, now); code != 2 {
		t.Errorf("argument: exit %d", code)
	}
	if code := run([]string{"-md", filepath.Join(t.TempDir(), "no", "such", "dir.md")}, strings.NewReader(allLog(t)), &out, &errOut, now); code != 1 {
		t.Errorf("unwritable markdown: exit %d", code)
	}
}

// FuzzParse: no log makes benchtable panic or print a broken table.
func FuzzParse(f *testing.F) {
	full := allLog(f)
	f.Add(full)
	for _, part := range strings.SplitAfter(full, "PASS\n") {
		f.Add(part)
	}
	f.Add("BenchmarkX-2\n  1 2 ns/op\n--- FAIL: BenchmarkX\nFAIL\tpkg\t1s\n--- SKIP: BenchmarkY\n    y_test.go:1: why\n")
	f.Fuzz(func(t *testing.T, in string) {
		r, err := parse(strings.NewReader(in))
		if err != nil {
			return // a line over the scanner's limit
		}
		tb := build(r)
		m := machine{date: time.Unix(0, 0), cpu: "cpu", cores: 2, memory: "1 GiB", goVer: "go"}
		var out bytes.Buffer
		if err := tb.writeText(&out, m); err != nil {
			t.Fatal(err)
		}
		if err := tb.writeMarkdown(&out, m); err != nil {
			t.Fatal(err)
		}
		for _, row := range tb.rows {
			if row.status == statusFailed && !tb.bad {
				t.Fatalf("a FAILED row in a table that does not fail: %+v", row)
			}
		}
	})
}
