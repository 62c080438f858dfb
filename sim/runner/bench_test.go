package runner

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/internal/brokertest"
	"github.com/kanal-dev/kanal/sim/fleet"
)

// BenchmarkRun runs fleets of real agents in real time against a mochi
// broker in the same process, and reports what a simulated vehicle costs
// once all are connected: CPU per vehicle (frames, agent and broker
// together) as a share of a core, heap and resident memory per vehicle,
// and how far the slowest vehicle fell behind the clock.
// KANAL_SIM_BENCH_VEHICLES=1000 runs one fleet of that size instead of
// the two small ones.
func BenchmarkRun(b *testing.B) {
	sizes := []int{50, 200}
	if s := os.Getenv("KANAL_SIM_BENCH_VEHICLES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("KANAL_SIM_BENCH_VEHICLES=%q: %v", s, err)
		}
		sizes = []int{n}
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("vehicles=%d,speed=1,duration=15s", n), func(b *testing.B) {
			for b.Loop() {
				br := brokertest.Start(b, brokertest.Options{})
				f, err := fleet.New(fleet.Options{DBC: demoDBC, Vehicles: n, Duration: 15 * time.Second, Start: time.Now(),
					Fog: fleet.FogOptions{Banks: 1}, WarningRate: 1})
				if err != nil {
					b.Fatal(err)
				}
				o := benchOptions(b, f, br.URL())
				var lag time.Duration
				var heap, rss float64
				var cpu0, cpu1 time.Duration
				var wall0, wall1 time.Time
				runtime.GC()
				var m0 runtime.MemStats
				runtime.ReadMemStats(&m0)
				rss0 := residentBytes()
				o.ProgressEvery = time.Second
				o.Progress = func(p Progress) {
					lag = max(lag, p.Lag)
					switch {
					case wall0.IsZero() && p.Connected == n:
						// steady state from here: every agent built and connected
						cpu0, wall0 = cpuTime(), time.Now()
						var m runtime.MemStats
						runtime.ReadMemStats(&m)
						heap = float64(m.HeapInuse-m0.HeapInuse) / float64(n)
					case !wall0.IsZero() && wall1.IsZero() && p.Ended > 0:
						cpu1, wall1 = cpuTime(), time.Now()
						rss = float64(residentBytes()-rss0) / float64(n)
					}
				}
				res, err := Run(b.Context(), o)
				if err != nil {
					b.Fatal(err)
				}
				if res.Unacked != 0 || wall1.IsZero() {
					b.Fatalf("%d batches unacknowledged; steady state measured: %v", res.Unacked, !wall1.IsZero())
				}
				b.ReportMetric(100*(cpu1-cpu0).Seconds()/wall1.Sub(wall0).Seconds()/float64(n), "%core/vehicle")
				b.ReportMetric(heap, "heap-B/vehicle")
				b.ReportMetric(rss, "rss-B/vehicle")
				b.ReportMetric(lag.Seconds(), "max-lag-s")
				b.ReportMetric(float64(res.Frames)/res.Wall.Seconds(), "frames/s")
			}
		})
	}
}

func benchOptions(b *testing.B, f *fleet.Fleet, broker string) Options {
	o := Options{Fleet: f, Broker: broker, Dir: b.TempDir(), Mapping: demoMapping, Speed: speed(1), Logger: quiet}
	o.Spool.Fsync = "none"
	return o
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// residentBytes is the process's resident set, from /proc (0 elsewhere).
func residentBytes() int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(data))
	if len(fields) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(fields[1], 10, 64)
	return pages * int64(os.Getpagesize())
}
