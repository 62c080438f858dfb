// Command benchtable turns `go test -bench` output into the one table that
// `make bench` prints: each benchmark with its rate metrics (lines/s,
// frames/s, values/s, MB/s) and allocations, and for every group of
// sub-benchmarks the ratio of each to the group's baseline (the sub-benchmark
// whose name starts with "baseline" or is "einride"), measured in the same run.
//
// Usage: go test -run '^$' -bench . -benchmem ./... | go run ./sim/cmd/benchtable
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
)

// row is one benchmark result line.
type row struct {
	pkg     string
	name    string // without the Benchmark prefix and -GOMAXPROCS suffix
	metrics map[string]float64
}

// rateUnits are the metrics that say "more is better", in display order.
var rateUnits = []string{"lines/s", "frames/s", "values/s", "msgs/s", "MB/s"}

func main() {
	rows, failed, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	print(os.Stdout, rows)
	if failed {
		os.Exit(1)
	}
}

func parse(r io.Reader) ([]row, bool, error) {
	var (
		rows   []row
		pkg    string
		failed bool
	)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "pkg: "):
			pkg = strings.TrimPrefix(line, "pkg: ")
		case strings.HasPrefix(line, "FAIL"), strings.HasPrefix(line, "--- FAIL"), strings.HasPrefix(line, "panic:"):
			failed = true
			fmt.Fprintln(os.Stderr, line)
		case strings.HasPrefix(line, "Benchmark"):
			if r, ok := parseRow(pkg, line); ok {
				rows = append(rows, r)
			}
		}
	}
	return rows, failed, sc.Err()
}

func parseRow(pkg, line string) (row, bool) {
	f := strings.Fields(line)
	if len(f) < 4 {
		return row{}, false
	}
	name := strings.TrimPrefix(f[0], "Benchmark")
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			name = name[:i]
		}
	}
	r := row{pkg: pkg[strings.LastIndexByte(pkg, '/')+1:], name: name, metrics: map[string]float64{}}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return row{}, false
		}
		r.metrics[f[i+1]] = v
	}
	return r, true
}

func print(w io.Writer, rows []row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "package\tbenchmark\trate\tunit\tvs baseline\tallocs/unit\tB/op\talso\t")
	base := baselines(rows)
	for _, r := range rows {
		unit, rate := rateOf(r)
		ratio := ""
		if b, ok := base[group(r.name)]; ok && unit != "" && b.metrics[unit] > 0 {
			ratio = fmt.Sprintf("%.2f×", rate/b.metrics[unit])
		}
		allocs := "-"
		for _, k := range []string{"allocs/line", "allocs/frame", "allocs/msg"} {
			if v, ok := r.metrics[k]; ok {
				allocs = trim(v)
				break
			}
		}
		if allocs == "-" {
			if v, ok := r.metrics["allocs/op"]; ok {
				allocs = trim(v) + "/op"
			}
		}
		// The other rates of the row (values/s beside frames/s, MB/s).
		var also []string
		for _, u := range rateUnits {
			if v, ok := r.metrics[u]; ok && u != unit {
				also = append(also, human(v)+" "+u)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.pkg, r.name, human(rate), unit, ratio, allocs, trim(r.metrics["B/op"]), strings.Join(also, ", "))
	}
	tw.Flush()
}

// group is a benchmark's name without its last element: Decode/plan → Decode.
func group(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[:i]
	}
	return name
}

func baselines(rows []row) map[string]row {
	m := map[string]row{}
	for _, r := range rows {
		leaf := r.name[strings.LastIndexByte(r.name, '/')+1:]
		if strings.HasPrefix(leaf, "baseline") || leaf == "einride" {
			m[group(r.name)] = r
		}
	}
	return m
}

func rateOf(r row) (string, float64) {
	for _, u := range rateUnits {
		if v, ok := r.metrics[u]; ok {
			return u, v
		}
	}
	if ns := r.metrics["ns/op"]; ns > 0 {
		return "ops/s", 1e9 / ns
	}
	return "", 0
}

func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return trim(v)
}

func trim(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64)
}
