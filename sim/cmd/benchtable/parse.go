package main

import (
	"bufio"
	"io"
	"strconv"
	"strings"
)

// result is one benchmark's figures, from its result line.
type result struct {
	pkg     string // import path
	name    string // without the Benchmark prefix and the -GOMAXPROCS suffix
	metrics map[string]float64
	units   []string // in the order the line gave them
}

// runLog is what a `go test -bench` log says: results, failures and skips,
// and the machine line of the first package.
type runLog struct {
	results []*result
	// failed holds benchmarks that failed (pkg + " " + name) and packages
	// that failed as a whole (pkg), with the first line that said so.
	failed map[string]string
	// skipped holds skipped benchmarks (pkg + " " + name) with the reason.
	skipped map[string]string
	cpu     string // the "cpu:" line
	goos    string
	goarch  string
}

func key(pkg, name string) string { return pkg + " " + name }

// parse reads the output of one or more `go test -bench` runs, one package
// after another, as `go test` prints it: "pkg:" lines, result lines
// ("BenchmarkX-2  N  v unit  v unit ..."), "--- FAIL" and "--- SKIP"
// lines and their indented messages, "FAIL pkg" lines. Anything else is
// ignored. A result line that other output cut in two (the name printed
// when the benchmark starts, its figures when it ends, a log line of the
// benchmark in between) is joined again. It never fails: a line it cannot
// read is not a result.
func parse(r io.Reader) (*runLog, error) {
	out := &runLog{failed: map[string]string{}, skipped: map[string]string{}}
	var (
		pkg     string
		pending string // a benchmark name whose figures have not come yet
		skipKey string // the last --- SKIP, whose reason is on the next line
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if skipKey != "" {
			if trimmed != "" && line != trimmed { // the indented reason
				out.skipped[skipKey] = reason(trimmed)
			}
			skipKey = ""
		}
		switch {
		case strings.HasPrefix(line, "pkg: "):
			pkg = strings.TrimSpace(strings.TrimPrefix(line, "pkg: "))
			pending = ""
		case strings.HasPrefix(line, "cpu: "):
			if out.cpu == "" {
				out.cpu = strings.TrimSpace(strings.TrimPrefix(line, "cpu: "))
			}
		case strings.HasPrefix(line, "goos: "):
			out.goos = strings.TrimSpace(strings.TrimPrefix(line, "goos: "))
		case strings.HasPrefix(line, "goarch: "):
			out.goarch = strings.TrimSpace(strings.TrimPrefix(line, "goarch: "))
		case strings.HasPrefix(trimmed, "--- FAIL: Benchmark"):
			name := benchName(strings.Fields(trimmed)[2])
			if _, ok := out.failed[key(pkg, name)]; !ok {
				out.failed[key(pkg, name)] = trimmed
			}
		case strings.HasPrefix(trimmed, "--- SKIP: Benchmark"):
			skipKey = key(pkg, benchName(strings.Fields(trimmed)[2]))
			out.skipped[skipKey] = "skipped"
		case strings.HasPrefix(line, "FAIL\t") || strings.HasPrefix(line, "FAIL "):
			f := strings.Fields(line)
			if len(f) >= 2 {
				if _, ok := out.failed[f[1]]; !ok {
					out.failed[f[1]] = line
				}
			}
		case strings.HasPrefix(line, "Benchmark"):
			f := strings.Fields(line)
			if r, ok := parseFigures(pkg, f[0], f[1:]); ok {
				out.results = append(out.results, r)
				pending = ""
			} else {
				pending = f[0]
			}
		case pending != "" && startsWithCount(trimmed):
			if r, ok := parseFigures(pkg, pending, strings.Fields(trimmed)); ok {
				out.results = append(out.results, r)
				pending = ""
			}
		}
	}
	return out, sc.Err()
}

// reason shortens a skip message to its text, without the file:line.
func reason(s string) string {
	if i := strings.Index(s, ": "); i > 0 && strings.Contains(s[:i], ".go:") {
		s = s[i+2:]
	}
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

// benchName strips "Benchmark" and the -GOMAXPROCS suffix.
func benchName(s string) string {
	name := strings.TrimPrefix(s, "Benchmark")
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			name = name[:i]
		}
	}
	return name
}

func startsWithCount(s string) bool {
	f := strings.Fields(s)
	if len(f) < 3 {
		return false
	}
	_, err := strconv.ParseUint(f[0], 10, 64)
	return err == nil
}

// parseFigures reads "N v unit v unit ..." after a benchmark's name.
func parseFigures(pkg, name string, f []string) (*result, bool) {
	if len(f) < 3 || len(f)%2 != 1 {
		return nil, false
	}
	if _, err := strconv.ParseUint(f[0], 10, 64); err != nil {
		return nil, false
	}
	r := &result{pkg: pkg, name: benchName(name), metrics: map[string]float64{}}
	for i := 1; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return nil, false
		}
		if _, dup := r.metrics[f[i+1]]; !dup {
			r.units = append(r.units, f[i+1])
		}
		r.metrics[f[i+1]] = v
	}
	return r, true
}
