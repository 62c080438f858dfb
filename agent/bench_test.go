package agent

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kanal-dev/kanal/can"
	"github.com/kanal-dev/kanal/dbc"
	"github.com/kanal-dev/kanal/uplink/spool"
)

// BenchmarkAgentThroughput: frames per second through the whole vehicle
// side short of the network (decode, mapping, privacy, sampling, batch
// encoding and the durable spool with an fsync per batch), replaying a
// drive as fast as possible. The ford row needs ../shared (skipped
// without it).
func BenchmarkAgentThroughput(b *testing.B) {
	for _, tc := range []struct {
		name, log, dbc, mapping string
	}{
		{"drive=city", "../testdata/candumps/drive_city.log", demoDBC, demoMapping},
		{"drive=ford_gt350", "../../shared/candumps/ford_gt350.log", "../../shared/dbc/ford_lincoln_base_pt.dbc", "../testdata/candumps/ford_gt350.mapping.yaml"},
	} {
		for _, fsync := range []spool.FsyncPolicy{spool.FsyncBatch, spool.FsyncNone} {
			b.Run(tc.name+",fsync="+string(fsync), func(b *testing.B) {
				if _, err := os.Stat(tc.log); err != nil {
					b.Skipf("%s not found (../shared is not next to the checkout)", tc.log)
				}
				frames, values := 0, uint64(0)
				for b.Loop() {
					b.StopTimer()
					lr, err := can.OpenLog(tc.log, can.LogReaderOptions{})
					if err != nil {
						b.Fatal(err)
					}
					cfg := Config{Vehicle: "bench-1", Buses: dbc.PipelineOptions{DBC: []string{tc.dbc}, Mapping: tc.mapping},
						Spool: spool.Options{Dir: b.TempDir(), Fsync: fsync}}
					cfg.Uplink.Broker = "mqtt://127.0.0.1:1"
					a, err := New(cfg, Options{Logger: quiet, Registry: prometheus.NewRegistry(), Source: lr})
					if err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					if err := a.read(context.Background(), lr); err != nil {
						b.Fatal(err)
					}
					a.mu.Lock()
					a.bat.Flush()
					a.mu.Unlock()
					b.StopTimer()
					for _, n := range a.counts.framesByBus {
						frames += int(n)
					}
					values += a.counts.sampled
					a.sp.Close()
					lr.Close()
					b.StartTimer()
				}
				s := b.Elapsed().Seconds()
				b.ReportMetric(float64(frames)/s, "frames/s")
				b.ReportMetric(float64(values)/s, "sent-values/s")
			})
		}
	}
}

// BenchmarkRetime is the cost the replay's retiming adds per frame.
func BenchmarkRetime(b *testing.B) {
	now := time.Unix(1_700_000_000, 0)
	r := &retimed{Source: constSource{}, now: func() time.Time { return now }}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r.Next(ctx)
	}
}

type constSource struct{}

func (constSource) Next(context.Context) (can.Timed, error) {
	return can.Timed{Time: time.Unix(1_600_000_000, 0), Bus: "can0"}, nil
}
func (constSource) Close() error { return nil }
