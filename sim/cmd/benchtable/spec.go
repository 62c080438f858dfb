package main

import "strings"

// figure is one row the issues ask for: a metric of a benchmark, beside
// its references measured in the same run and its target.
type figure struct {
	label string
	pkg   string // import path below the module, e.g. "uplink/batch"
	bench string
	unit  string
	refs  []ref
	also  []string // more units of the same benchmark, shown beside
	tgt   target
	// pending: the benchmark may not exist yet; until it does the row says
	// so and does not fail the table.
	pending string
}

// ref is a reference benchmark of a figure, in the same unit.
type ref struct {
	bench string
	label string
}

// target is a figure's goal: op is "≥", ">", "≤" or "<"; "" means none.
type target struct {
	op string
	v  float64
}

func (t target) met(v float64) bool {
	switch t.op {
	case "≥":
		return v >= t.v
	case ">":
		return v > t.v
	case "≤":
		return v <= t.v
	case "<":
		return v < t.v
	}
	return true
}

func (t target) String() string {
	if t.op == "" {
		return ""
	}
	return t.op + " " + human(t.v)
}

// figures are the rows of issue 12's `make bench`, with the targets of
// issues 9 and 10, in the order of the data flow. scripts/bench runs the
// benchmarks they name.
var figures = []figure{
	{label: "candump parse", pkg: "can", bench: "CandumpParse/reader", unit: "lines/s",
		refs: []ref{{"CandumpParse/baseline=strings", "strings/strconv"}}, also: []string{"allocs/line"}},
	{label: "decode", pkg: "dbc", bench: "Decode/plan", unit: "frames/s",
		refs: []ref{{"Decode/einride", "einride"}}, also: []string{"allocs/frame", "values/s"}},
	{label: "bytes per signal value, demo city drive", pkg: "uplink/batch", bench: "Encode/drive=demo_city,values=changes/kanal", unit: "B/value",
		refs: []ref{{"Encode/drive=demo_city,values=changes/baseline-jsonl", "JSON Lines"}, {"Encode/drive=demo_city,values=changes/baseline-rowpb-zstd", "row-wise protobuf+zstd"}},
		tgt:  target{"≤", 8}},
	{label: "bytes per signal value, Ford GT350 log", pkg: "uplink/batch", bench: "Encode/drive=ford_gt350,values=changes/kanal", unit: "B/value",
		refs: []ref{{"Encode/drive=ford_gt350,values=changes/baseline-jsonl", "JSON Lines"}, {"Encode/drive=ford_gt350,values=changes/baseline-rowpb-zstd", "row-wise protobuf+zstd"}},
		tgt:  target{"≤", 8}},
	{label: "agent CPU at 4,000 frames/s", pkg: "cmd/edge-agent", bench: "AgentRealtime", unit: "cpu-%", tgt: target{"<", 2}},
	{label: "agent peak RSS at 4,000 frames/s", pkg: "cmd/edge-agent", bench: "AgentRealtime", unit: "peak-rss-MB", tgt: target{"<", 30}},
	{label: "agent throughput, fsync per batch", pkg: "agent", bench: "AgentThroughput/drive=city,fsync=batch", unit: "frames/s",
		refs: []ref{{"AgentThroughput/drive=city,fsync=none", "no fsync"}}, also: []string{"sent-values/s"}},
	{label: "spool appends, fsync per batch", pkg: "uplink/spool", bench: "Append/fsync=batch,priority=false", unit: "batches/s",
		refs: []ref{{"Append/fsync=none,priority=false", "no fsync"}}},
	{label: "gateway connections held", pkg: "sim/loadgen/gatewaybench", bench: "Gateway/target=gateway", refs: mochiAlone, unit: "conns", tgt: target{"≥", 10000}},
	{label: "gateway signal values stored", pkg: "sim/loadgen/gatewaybench", bench: "Gateway/target=gateway", refs: mochiAlone, unit: "values/s", tgt: target{"≥", 500000}, also: []string{"batches/s"}},
	{label: "gateway PUBACK p50", pkg: "sim/loadgen/gatewaybench", bench: "Gateway/target=gateway", refs: mochiAlone, unit: "p50-ms"},
	{label: "gateway PUBACK p99", pkg: "sim/loadgen/gatewaybench", bench: "Gateway/target=gateway", refs: mochiAlone, unit: "p99-ms", tgt: target{"<", 50}, also: []string{"max-ms", "not-acked", "conn-errors"}},
	{label: "gateway RSS per idle connection", pkg: "sim/loadgen/gatewaybench", bench: "Gateway/target=gateway", refs: mochiAlone, unit: "KiB/idle-conn", also: []string{"gw-µs/batch", "loadgen-µs/batch"}},
	{label: "frame to warning alert p99, gateway load test", pkg: "sim/loadgen/gatewaybench", bench: "Gateway/target=gateway", unit: "alert-p99-ms",
		tgt: target{"<", 100}, also: []string{"alert-p50-ms"}},
	{label: "frame to warning alert p99, fleet load", pkg: "cloud/alert", bench: "AlertLatency/kind=warning,load=1000/s", unit: "p99-ms",
		refs: []ref{{"AlertLatency/kind=warning,load=0/s", "no load"}}, tgt: target{"<", 100}, also: []string{"p50-ms"},
		pending: "cloud/alert BenchmarkAlertLatency"},
	{label: "frame to fog alert p99, fleet load", pkg: "cloud/alert", bench: "AlertLatency/kind=fog,load=1000/s", unit: "p99-ms",
		refs: []ref{{"AlertLatency/kind=fog,load=0/s", "no load"}}, tgt: target{"<", 100}, also: []string{"p50-ms"},
		pending: "cloud/alert BenchmarkAlertLatency"},
}

// mochiAlone is the gateway benchmark's reference: the same load on a
// bare mochi broker that stores nothing.
var mochiAlone = []ref{{"Gateway/target=broker-only", "mochi alone"}}

// higherIsBetter tells a unit's direction: rates (.../s) and connections
// up; sizes, times, shares, memory, allocations and errors down.
func higherIsBetter(unit string) bool {
	return strings.HasSuffix(unit, "/s") || unit == "conns"
}

// rateUnits are the preferred main units of a benchmark no figure names,
// in order; then any other rate, then B/value, then ns/op as ops/s.
var rateUnits = []string{"lines/s", "frames/s", "values/s", "msgs/s", "batches/s", "MB/s"}
