package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// row is one line of the table.
type row struct {
	figure    string
	measured  string // value and unit
	reference string // the references, each with its ratio
	target    string
	status    string // ok, missed, FAILED, MISSING, skipped ..., pending ...
	also      string
	bench     string // package and benchmark
	bad       bool   // makes the table fail
}

// Status words. FAILED and MISSING fail the table; a missed target does
// not (the figure is measured, it is just not good enough yet).
const (
	statusOK      = "ok"
	statusMissed  = "missed"
	statusFailed  = "FAILED"
	statusMissing = "MISSING"
)

// table is the rows of a run: the figures of the issues first, then every
// other benchmark the run measured.
type table struct {
	rows []row
	bad  bool
}

// build makes the table of run r.
func build(r *runLog) *table {
	t := &table{}
	used := map[*result]bool{}
	for _, f := range figures {
		t.add(f.row(r, used))
	}
	for _, res := range r.results {
		if !used[res] {
			t.add(extraRow(r, res))
		}
	}
	// failures no row shows: a benchmark that failed before printing a
	// result, a package that did not build
	keys := make([]string, 0, len(r.failed))
	for k := range r.failed {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		pkg, name, _ := strings.Cut(k, " ")
		if !t.failureShown(short(pkg), name) {
			t.add(row{figure: name, status: statusFailed, also: r.failed[k], bench: strings.TrimSpace(short(pkg) + " " + name), bad: true})
		}
	}
	return t
}

// failureShown reports whether a FAILED row is about pkg's benchmark name
// (a part of it, or any benchmark of pkg when name is "").
func (t *table) failureShown(pkg, name string) bool {
	for _, r := range t.rows {
		if r.status != statusFailed {
			continue
		}
		p, n, _ := strings.Cut(r.bench, " ")
		if p == pkg && (name == "" || n == name || strings.HasPrefix(n, name+"/") || strings.HasPrefix(name, n+"/")) {
			return true
		}
	}
	return false
}

func (t *table) add(r row) {
	t.rows = append(t.rows, r)
	t.bad = t.bad || r.bad
}

// short is an import path below the module.
func short(pkg string) string {
	if i := strings.Index(pkg, "/kanal/"); i >= 0 {
		return pkg[i+len("/kanal/"):]
	}
	return pkg
}

// find returns the result of pkg's benchmark name.
func (r *runLog) find(pkg, name string) *result {
	for _, res := range r.results {
		if res.name == name && (res.pkg == pkg || strings.HasSuffix(res.pkg, "/"+pkg)) {
			return res
		}
	}
	return nil
}

// why returns the failure or skip recorded for pkg's benchmark name (or
// a benchmark it is part of), or its package's failure.
func (r *runLog) why(pkg, name string) (status, detail string) {
	if line, ok := mostSpecific(r.failed, pkg, name, true); ok {
		return statusFailed, line
	}
	if msg, ok := mostSpecific(r.skipped, pkg, name, false); ok {
		return "skipped", msg
	}
	return statusMissing, ""
}

// mostSpecific returns the entry of m (keyed "pkg name", or "pkg" alone
// for a package's own line when wholePkg) that explains benchmark name of
// pkg best: its own line over its parent's, and any of those over the
// package's. Maps iterate in random order, so the choice is by key length,
// then by key, never by the first match.
func mostSpecific(m map[string]string, pkg, name string, wholePkg bool) (string, bool) {
	best, found := "", false
	for k := range m {
		p, n, _ := strings.Cut(k, " ")
		if p != pkg && !strings.HasSuffix(p, "/"+pkg) {
			continue
		}
		if !(n == name || strings.HasPrefix(name, n+"/") || (n == "" && wholePkg)) {
			continue
		}
		if !found || len(k) > len(best) || (len(k) == len(best) && k < best) {
			best, found = k, true
		}
	}
	return m[best], found
}

// row fills figure f from run r, marking the results it uses.
func (f *figure) row(r *runLog, used map[*result]bool) row {
	out := row{figure: f.label, target: f.tgt.String(), bench: f.pkg + " " + f.bench}
	res := r.find(f.pkg, f.bench)
	v, ok := 0.0, false
	if res != nil {
		used[res] = true
		v, ok = res.metrics[f.unit]
	}
	if !ok {
		status, detail := r.why(f.pkg, f.bench)
		if res != nil && status == statusMissing {
			detail = "no " + f.unit + " in its result"
		}
		if status == statusMissing && f.pending != "" && res == nil {
			status, detail = "pending", "waits for "+f.pending
		}
		out.status, out.also = status, detail
		out.bad = status == statusFailed || status == statusMissing
		return out
	}
	out.measured = human(v) + " " + f.unit
	var refs []string
	for _, rf := range f.refs {
		rr := r.find(f.pkg, rf.bench)
		if rr == nil {
			refs = append(refs, rf.label+": missing")
			status, _ := r.why(f.pkg, rf.bench)
			out.bad = out.bad || status != "skipped"
			continue
		}
		used[rr] = true
		rv, ok := rr.metrics[f.unit]
		if !ok {
			refs = append(refs, rf.label+": no "+f.unit)
			continue
		}
		refs = append(refs, fmt.Sprintf("%s %s (%s)", human(rv), rf.label, ratio(v, rv, f.unit)))
	}
	out.reference = strings.Join(refs, "; ")
	var also []string
	for _, u := range f.also {
		if av, ok := res.metrics[u]; ok {
			s := human(av) + " " + u
			if len(f.refs) > 0 {
				if rr := r.find(f.pkg, f.refs[0].bench); rr != nil {
					if rv, ok := rr.metrics[u]; ok {
						s += " (" + f.refs[0].label + " " + human(rv) + ")"
					}
				}
			}
			also = append(also, s)
		}
	}
	out.also = strings.Join(also, ", ")
	switch {
	case out.bad:
		out.status = statusMissing
	case f.tgt.met(v):
		out.status = statusOK
	default:
		out.status = statusMissed
	}
	if f.tgt.op == "" && !out.bad {
		out.status = ""
	}
	return out
}

// extraRow shows a benchmark no figure names: its main rate beside the
// baseline of its group (the sibling named baseline* or einride).
func extraRow(r *runLog, res *result) row {
	unit, v := mainUnit(res)
	out := row{figure: res.name, bench: short(res.pkg) + " " + res.name}
	if unit == "" {
		return out
	}
	out.measured = human(v) + " " + unit
	if b := baselineOf(r, res); b != nil && b != res {
		if bv, ok := b.metrics[unit]; ok {
			out.reference = fmt.Sprintf("%s %s (%s)", human(bv), leaf(b.name), ratio(v, bv, unit))
		}
	}
	var also []string
	for _, u := range res.units {
		if u != unit && u != "ns/op" && (strings.HasSuffix(u, "/s") || strings.HasPrefix(u, "allocs/") || u == "B/value") {
			also = append(also, human(res.metrics[u])+" "+u)
		}
	}
	out.also = strings.Join(also, ", ")
	return out
}

func leaf(name string) string { return name[strings.LastIndexByte(name, '/')+1:] }

// group is a benchmark's name without its last element.
func group(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[:i]
	}
	return name
}

func baselineOf(r *runLog, res *result) *result {
	if !strings.Contains(res.name, "/") {
		return nil
	}
	for _, o := range r.results {
		if o.pkg == res.pkg && group(o.name) == group(res.name) {
			if l := leaf(o.name); strings.HasPrefix(l, "baseline") || l == "einride" {
				return o
			}
		}
	}
	return nil
}

// mainUnit picks the figure of a benchmark no figure names.
func mainUnit(res *result) (string, float64) {
	for _, u := range rateUnits {
		if v, ok := res.metrics[u]; ok {
			return u, v
		}
	}
	for _, u := range res.units {
		if strings.HasSuffix(u, "/s") {
			return u, res.metrics[u]
		}
	}
	if v, ok := res.metrics["B/value"]; ok {
		return "B/value", v
	}
	if ns := res.metrics["ns/op"]; ns > 0 {
		return "ops/s", 1e9 / ns
	}
	if len(res.units) > 0 {
		return res.units[0], res.metrics[res.units[0]]
	}
	return "", 0
}

// ratio says how much better v is than the reference rv, in the unit's
// direction: "2.41× faster", "22.9× smaller", "1.20× more" when worse,
// "same" within half a percent.
func ratio(v, rv float64, unit string) string {
	if v == 0 || rv == 0 || math.IsNaN(v) || math.IsNaN(rv) {
		return "-"
	}
	better := v / rv
	if !higherIsBetter(unit) {
		better = rv / v
	}
	words := [2]string{"better", "worse"}
	switch {
	case strings.HasSuffix(unit, "/s"):
		words = [2]string{"faster", "slower"}
	case strings.HasPrefix(unit, "B/"), strings.HasSuffix(unit, "MB"), strings.HasPrefix(unit, "KiB"):
		words = [2]string{"smaller", "larger"}
	case strings.HasSuffix(unit, "-ms"), strings.HasSuffix(unit, "ms"), strings.HasSuffix(unit, "cpu-%"), strings.HasPrefix(unit, "allocs"):
		words = [2]string{"less", "more"}
	}
	switch {
	case math.Abs(better-1) < 0.005:
		return "same"
	case better >= 1:
		return fmt.Sprintf("%.2f× %s", better, words[0])
	}
	return fmt.Sprintf("%.2f× %s", 1/better, words[1])
}

// human prints a figure with about three significant digits.
func human(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case a >= 1e5:
		return fmt.Sprintf("%.0fk", v/1e3)
	case a >= 100:
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	case a >= 10:
		return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
	case a == 0:
		return "0"
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// machine describes where the run happened: date, CPU model, cores,
// memory, Go version.
type machine struct {
	date   time.Time
	cpu    string
	cores  int
	memory string
	goVer  string
}

func (m machine) String() string {
	return fmt.Sprintf("%s, %s, %d cores, %s memory, %s", m.date.UTC().Format("2006-01-02 15:04 MST"), m.cpu, m.cores, m.memory, m.goVer)
}

// thisMachine reads /proc for the CPU model and memory; the run's own
// "cpu:" line stands in where /proc has none.
func thisMachine(r *runLog, now time.Time) machine {
	m := machine{date: now, cpu: r.cpu, cores: runtime.NumCPU(), memory: "unknown", goVer: runtime.Version()}
	if r.goos != "" {
		m.goVer += " " + r.goos + "/" + r.goarch
	}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				if err == nil {
					m.memory = fmt.Sprintf("%.1f GiB", kb/(1<<20))
				}
			}
		}
	}
	if m.cpu == "" {
		m.cpu = "unknown CPU"
	}
	return m
}

var header = []string{"figure", "measured", "reference, same run", "target", "status", "also", "benchmark"}

func (r row) cells() []string {
	return []string{r.figure, r.measured, r.reference, r.target, r.status, r.also, r.bench}
}

// writeText prints the table for a terminal.
func (t *table) writeText(w io.Writer, m machine) error {
	fmt.Fprintf(w, "Kanal benchmarks: %s\n\n", m)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range t.rows {
		c := r.cells()
		for i := range c {
			if c[i] == "" {
				c[i] = "-"
			}
		}
		fmt.Fprintln(tw, strings.Join(c, "\t"))
	}
	return tw.Flush()
}

// writeMarkdown writes the table as Markdown, for the README.
func (t *table) writeMarkdown(w io.Writer, m machine) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured with `make bench` on %s.\n\n", m)
	b.WriteString("| " + strings.Join(header, " | ") + " |\n")
	b.WriteString("|---|--:|---|---|---|---|---|\n")
	for _, r := range t.rows {
		c := r.cells()
		for i := range c {
			c[i] = strings.ReplaceAll(c[i], "|", `\|`)
		}
		if c[6] != "" {
			c[6] = "`" + c[6] + "`"
		}
		b.WriteString("| " + strings.Join(c, " | ") + " |\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
