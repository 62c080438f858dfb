package spool

import (
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// metric returns the value of the metric name with the given reason label
// ("" for none) from reg, and whether it exists.
func metric(t *testing.T, reg prometheus.Gatherer, name, reason string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if reason != "" && labelValue(m, "reason") != reason {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount()), true
			}
		}
	}
	return 0, false
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	dir := t.TempDir()
	opts := budgetOpts
	opts.Metrics = reg
	s := open(t, dir, opts)
	recs := appendN(t, s, 40, 250, func(i int) bool { return i == 39 })
	if err := s.Ack(recs[39].ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Quarantine(recs[38].ID, "payload format invalid"); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	for _, m := range []struct {
		name, reason string
		want         float64
	}{
		{"kanal_spool_records", "", float64(st.Records)},
		{"kanal_spool_bytes", "", float64(st.Bytes)},
		{"kanal_spool_disk_bytes", "", float64(dirBytes(t, dir))},
		{"kanal_spool_appended_total", "", 40},
		{"kanal_spool_acked_total", "", 1},
		{"kanal_spool_dropped_total", DropBudget, float64(st.Dropped[DropBudget])},
		{"kanal_spool_dropped_total", DropBudgetPriority, 0},
		{"kanal_spool_corrupt_total", "", 0},
		{"kanal_spool_torn_tails_total", "", 0},
		{"kanal_spool_quarantined_total", "", 1},
		{"kanal_spool_fsync_seconds", "", 0}, // FsyncNone
	} {
		got, ok := metric(t, reg, m.name, m.reason)
		if !ok || got != m.want {
			t.Errorf("%s{%s} = %v (present %v), want %v", m.name, m.reason, got, ok, m.want)
		}
	}
	if st.Dropped[DropBudget] == 0 || st.Records == 0 {
		t.Fatalf("the test should have dropped some and kept some: %+v", st)
	}
	if age, _ := metric(t, reg, "kanal_spool_oldest_age_seconds", ""); age <= 0 || age > st.OldestAge.Seconds()+60 {
		t.Errorf("oldest age %v, want about %v", age, st.OldestAge.Seconds())
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}

	// Close unregisters, so the agent can reopen its spool on the same registry.
	s.Close()
	if _, ok := metric(t, reg, "kanal_spool_records", ""); ok {
		t.Error("metrics still registered after Close")
	}
	logs := &logRecorder{}
	opts.Logger = slog.New(logs)
	s = open(t, dir, opts)
	if n := logs.count("spool metrics not registered"); n != 0 {
		t.Error("reopen on the same registry failed to register")
	}
	if got, _ := metric(t, reg, "kanal_spool_records", ""); got != float64(st.Records) {
		t.Errorf("after reopen: records %v, want %d", got, st.Records)
	}
	// A second spool on the same registry logs and works without metrics.
	s2 := open(t, t.TempDir(), opts)
	if n := logs.count("spool metrics not registered"); n != 1 {
		t.Errorf("a clash was logged %d times, want 1", n)
	}
	if _, err := s2.Append([]byte("x"), false); err != nil {
		t.Fatal(err)
	}
}

// Each policy fsyncs when it says it does, counted by the fsync histogram.
func TestFsyncPolicies(t *testing.T) {
	fsyncs := func(t *testing.T, policy FsyncPolicy, interval time.Duration, prio bool) (*Spool, *prometheus.Registry) {
		reg := prometheus.NewRegistry()
		s := open(t, t.TempDir(), Options{Fsync: policy, FsyncInterval: interval, Metrics: reg})
		appendN(t, s, 3, 100, func(int) bool { return prio })
		return s, reg
	}
	count := func(t *testing.T, reg prometheus.Gatherer) float64 {
		n, _ := metric(t, reg, "kanal_spool_fsync_seconds", "")
		return n
	}
	t.Run("batch", func(t *testing.T) {
		if _, reg := fsyncs(t, FsyncBatch, 0, false); count(t, reg) < 3 {
			t.Errorf("%v fsyncs for 3 appends", count(t, reg))
		}
	})
	t.Run("none", func(t *testing.T) {
		if _, reg := fsyncs(t, FsyncNone, 0, true); count(t, reg) != 0 {
			t.Errorf("%v fsyncs", count(t, reg))
		}
	})
	t.Run("interval, priority", func(t *testing.T) {
		if _, reg := fsyncs(t, FsyncInterval, time.Hour, true); count(t, reg) < 3 {
			t.Errorf("%v fsyncs for 3 priority appends: each must be durable when Append returns", count(t, reg))
		}
	})
	t.Run("interval", func(t *testing.T) {
		s, reg := fsyncs(t, FsyncInterval, 5*time.Millisecond, false)
		synced := func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			a := s.active()
			return a.synced == a.written
		}
		deadline := time.Now().Add(10 * time.Second)
		for (count(t, reg) == 0 || !synced()) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if count(t, reg) == 0 || !synced() {
			t.Fatal("the active segment was not fsynced within 10s")
		}
	})
}
