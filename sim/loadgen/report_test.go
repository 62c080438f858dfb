package loadgen

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
)

func TestReportText(t *testing.T) {
	r := &Report{Broker: "127.0.0.1:1883", Profile: "synthetic, 300 signals", Payload: "header", ValuesPerBatch: 148, PayloadBytes: 1228,
		Connections: 10, Connected: 9, Held: 8, PeakHeld: 9, ConnectSeconds: 1.5,
		ConnectFailures: map[string]uint64{"connection refused": 1}, Lost: map[string]uint64{"closed by the broker": 1},
		Rate: 1, Seconds: 10, Scheduled: 100, Published: 90, Acked: 80, Nacked: map[string]uint64{"0x97 quota exceeded": 6}, Unacked: 4,
		ValuesAcked: 11840, BatchesPerSecond: 8, ValuesPerSecond: 1184, Puback: Latency{Count: 86, P50: 0.5, P99: 12.25, Max: 20}}
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"connections    8 held of 10 (9 connected, peak 9) in 1.5 s",
		"connect failed 1 × connection refused",
		"lost           1 × closed by the broker",
		"90 of 100 scheduled at 1/s per connection over 10.0 s: 80 acked, 6 nacked, 4 unacked, 0 skipped",
		"nacked         6 × 0x97 quota exceeded",
		"acknowledged   8 batches/s, 1184 values/s",
		"p50 0.50", "p99 12.25", "max 20.00",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"held":8`, `"values_per_second":1184`, `"puback_ms":{"count":86,`, `"p99":12.25`, `"nacked":{"0x97 quota exceeded":6}`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("JSON lacks %s: %s", want, data)
		}
	}
	var back Report
	if err := json.Unmarshal(data, &back); err != nil || fmt.Sprint(back) != fmt.Sprint(*r) {
		t.Errorf("JSON round trip: %v\n%+v\n%+v", err, back, *r)
	}
	if r.NackedTotal() != 6 || r.LostTotal() != 1 || r.ConnectFailuresTotal() != 1 {
		t.Error("totals")
	}
}

func TestReasonOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, "connection refused"},
		{&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.EADDRNOTAVAIL)}, "no free local port (EADDRNOTAVAIL: see LoopbackAddrs)"},
		{fmt.Errorf("socket: %w", syscall.EMFILE), "too many open files (RLIMIT_NOFILE)"},
		{&net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, "timeout"},
		{io.EOF, "closed by the broker"},
		{io.ErrUnexpectedEOF, "closed by the broker"},
		{&net.OpError{Op: "write", Err: os.NewSyscallError("write", syscall.EPIPE)}, "broken pipe"},
		{&reasonError{"connack 0x86 bad user name or password"}, "connack 0x86 bad user name or password"},
		{fmt.Errorf("read 127.0.0.1:5555: %w", errors.New("something odd")), "something odd"},
		{errors.New(strings.Repeat("x", 100)), strings.Repeat("x", 60)},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := reasonOf(tc.err); got != tc.want {
				t.Errorf("reasonOf(%v) = %q", tc.err, got)
			}
		})
	}
	if codeName(ackReason, 0x97) != "0x97 quota exceeded" || codeName(ackReason, 0xA5) != "0xa5" {
		t.Error("codeName")
	}
}
