package loadgen

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// Report is what a run measured. Counts cover the whole run; rates are per
// second of Seconds, from the first publish to the last PUBACK.
type Report struct {
	Broker  string `json:"broker"`
	Profile string `json:"profile"`
	Payload string `json:"payload_mode"`
	// ValuesPerBatch is the profile's mean; PayloadBytes the mean size of
	// the payloads sent.
	ValuesPerBatch float64 `json:"values_per_batch"`
	PayloadBytes   float64 `json:"payload_bytes"`

	// Connections were asked for; Connected logged in; Held were open at
	// the end of the run (PeakHeld at most at once).
	Connections    int     `json:"connections"`
	Connected      int     `json:"connected"`
	Held           int     `json:"held"`
	PeakHeld       int     `json:"peak_held"`
	ConnectSeconds float64 `json:"connect_seconds"`
	// ConnectFailures counts the logins that failed, by reason ("connection
	// refused", "connack 0x86 bad user name or password", ...); Lost the
	// connections that ended before Close, by reason.
	ConnectFailures map[string]uint64 `json:"connect_failures,omitempty"`
	Lost            map[string]uint64 `json:"lost,omitempty"`

	// Rate is the target of each connection, batches/s; Seconds how long
	// the publishing took, drain included.
	Rate    float64 `json:"rate"`
	Seconds float64 `json:"seconds"`
	// Scheduled is how many publishes the schedule called for (connections
	// × rate × duration, the lost connections' included). Published went
	// out; Acked came back with a success PUBACK (reason
	// code under 0x80); Nacked with a negative one, by code ("0x97 quota
	// exceeded"); Unacked got neither before the connection was lost or the
	// drain timed out. Published = Acked + Nacked + Unacked after a run.
	// Skipped publishes were due while the connection's inflight window was
	// full, and not sent: a gateway slower than the load. Scheduled minus
	// Published and Skipped were due on lost connections, or not sent in
	// time by a generator short of CPU.
	Scheduled uint64            `json:"scheduled"`
	Published uint64            `json:"published"`
	Acked     uint64            `json:"acked"`
	Nacked    map[string]uint64 `json:"nacked,omitempty"`
	Unacked   uint64            `json:"unacked"`
	Skipped   uint64            `json:"skipped"`
	// ValuesAcked is the signal values in the acknowledged batches.
	ValuesAcked uint64 `json:"values_acked"`
	// BatchesPerSecond and ValuesPerSecond are the acknowledged ones.
	BatchesPerSecond float64 `json:"batches_per_second"`
	ValuesPerSecond  float64 `json:"values_per_second"`
	// Puback is the latency from the write of a PUBLISH to its PUBACK,
	// negative ones included.
	Puback Latency `json:"puback_ms"`
}

// Latency summarizes a Histogram, in milliseconds.
type Latency struct {
	Count uint64  `json:"count"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
}

func latencyOf(h *Histogram) Latency {
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	return Latency{Count: h.Count(), Mean: ms(h.Mean()), P50: ms(h.Quantile(0.5)), P90: ms(h.Quantile(0.9)),
		P99: ms(h.Quantile(0.99)), P999: ms(h.Quantile(0.999)), Max: ms(h.Max())}
}

// NackedTotal returns the number of negative PUBACKs.
func (r *Report) NackedTotal() uint64 { return sum(r.Nacked) }

// ConnectFailuresTotal returns the number of failed logins.
func (r *Report) ConnectFailuresTotal() uint64 { return sum(r.ConnectFailures) }

// LostTotal returns the number of connections lost before Close.
func (r *Report) LostTotal() uint64 { return sum(r.Lost) }

func sum(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

// WriteText writes the report for people.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "broker         %s\n", r.Broker)
	fmt.Fprintf(&b, "profile        %s, %.1f values per batch, %.0f bytes per payload (%s)\n", r.Profile, r.ValuesPerBatch, r.PayloadBytes, r.Payload)
	fmt.Fprintf(&b, "connections    %d held of %d (%d connected, peak %d) in %.1f s\n", r.Held, r.Connections, r.Connected, r.PeakHeld, r.ConnectSeconds)
	writeCounts(&b, "connect failed", r.ConnectFailures)
	writeCounts(&b, "lost", r.Lost)
	fmt.Fprintf(&b, "publishes      %d of %d scheduled at %g/s per connection over %.1f s: %d acked, %d nacked, %d unacked, %d skipped (window full)\n",
		r.Published, r.Scheduled, r.Rate, r.Seconds, r.Acked, r.NackedTotal(), r.Unacked, r.Skipped)
	writeCounts(&b, "nacked", r.Nacked)
	fmt.Fprintf(&b, "acknowledged   %.0f batches/s, %.0f values/s\n", r.BatchesPerSecond, r.ValuesPerSecond)
	l := r.Puback
	fmt.Fprintf(&b, "PUBACK ms      p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f  mean %.2f  (%d)\n", l.P50, l.P90, l.P99, l.P999, l.Max, l.Mean, l.Count)
	_, err := io.WriteString(w, b.String())
	return err
}

func writeCounts(b *strings.Builder, what string, m map[string]uint64) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(b, "%-14s %d × %s\n", what, m[k], k)
	}
}

// ackReason names the PUBACK reason codes of MQTT v5 (3.4.2.1).
var ackReason = map[byte]string{
	0x10: "no matching subscribers",
	0x80: "unspecified error",
	0x83: "implementation specific error",
	0x87: "not authorized",
	0x90: "topic name invalid",
	0x91: "packet identifier in use",
	0x97: "quota exceeded",
	0x99: "payload format invalid",
}

// connReason names the CONNACK and DISCONNECT reason codes of MQTT v5
// (3.2.2.2, 3.14.2.1) a gateway sends.
var connReason = map[byte]string{
	0x00: "normal",
	0x80: "unspecified error",
	0x81: "malformed packet",
	0x82: "protocol error",
	0x83: "implementation specific error",
	0x84: "unsupported protocol version",
	0x85: "client identifier not valid",
	0x86: "bad user name or password",
	0x87: "not authorized",
	0x88: "server unavailable",
	0x89: "server busy",
	0x8A: "banned",
	0x8B: "server shutting down",
	0x8D: "keep alive timeout",
	0x8E: "session taken over",
	0x93: "receive maximum exceeded",
	0x95: "packet too large",
	0x96: "message rate too high",
	0x97: "quota exceeded",
	0x98: "administrative action",
	0x99: "payload format invalid",
	0x9C: "use another server",
	0x9F: "connection rate exceeded",
}

func codeName(names map[byte]string, code byte) string {
	if n, ok := names[code]; ok {
		return fmt.Sprintf("0x%02x %s", code, n)
	}
	return fmt.Sprintf("0x%02x", code)
}
