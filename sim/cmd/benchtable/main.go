// Command benchtable turns the output of `go test -bench` into the one
// table `make bench` prints: every figure the issues ask for (figures in
// spec.go), each beside its references measured in the same run (with the
// ratio, in the unit's direction: rates higher, sizes, times, memory and
// allocations lower), its target and whether it meets it; then every other
// benchmark of the run beside the baseline of its group (the sibling named
// baseline* or einride). A benchmark that failed, or a figure whose
// benchmark did not run, is marked FAILED or MISSING and makes benchtable
// exit 1 after printing the rest; a missed target is shown, not fatal.
//
// Usage:
//
//	go test -run '^$' -bench . ./can/ ./dbc/ | go run ./sim/cmd/benchtable [-md FILE]
//
// -md FILE also writes the table as Markdown (for the README), headed by
// the date, the machine (CPU model, cores, memory) and the Go version.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, time.Now()))
}

func run(args []string, in io.Reader, out, errOut io.Writer, now time.Time) int {
	fs := flag.NewFlagSet("benchtable", flag.ContinueOnError)
	fs.SetOutput(errOut)
	md := fs.String("md", "", "also write the table as Markdown to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(errOut, "benchtable: unexpected argument %q (the benchmark output comes on standard input)\n", fs.Arg(0))
		return 2
	}
	r, err := parse(in)
	if err != nil {
		fmt.Fprintln(errOut, "benchtable:", err)
		return 1
	}
	t := build(r)
	m := thisMachine(r, now)
	if err := t.writeText(out, m); err != nil {
		fmt.Fprintln(errOut, "benchtable:", err)
		return 1
	}
	if *md != "" {
		f, err := os.Create(*md)
		if err == nil {
			err = t.writeMarkdown(f, m)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintln(errOut, "benchtable:", err)
			return 1
		}
	}
	if t.bad {
		fmt.Fprintln(errOut, "benchtable: some benchmarks FAILED or are MISSING (see the status column; the full log has the details)")
		return 1
	}
	return 0
}
