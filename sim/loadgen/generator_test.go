package loadgen

import (
	"cmp"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	mqttpackets "github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/internal/brokertest"
	"github.com/kanal-dev/kanal/internal/wire"
	"github.com/kanal-dev/kanal/uplink/batch"
)

// TestRun holds a few hundred connections on a real mochi broker for two
// seconds and checks every batch the broker got against the report and
// the profile: each vehicle's batches under its own client id and topic,
// one boot per connection, seqs 1..n without a gap, the values of the
// profile second the seq picks, and counts that add up.
func TestRun(t *testing.T) {
	for _, mode := range []PayloadMode{PayloadHeader, PayloadEncode} {
		t.Run("payload="+string(mode), func(t *testing.T) {
			br := brokertest.Start(t, brokertest.Options{})
			prof := smallProfile(t)
			const conns, rate, secs = 300, 4, 2
			rep := run(t, Options{Broker: br.URL(), Connections: conns, Rate: rate, Duration: secs * time.Second,
				Profile: prof, Payload: mode, VehiclePrefix: "tv"})
			if rep.Connected != conns || rep.Held != conns || rep.PeakHeld != conns || len(rep.ConnectFailures) > 0 || len(rep.Lost) > 0 {
				t.Fatalf("connections: %+v", rep)
			}
			// the schedule is exact; what went out depends on the CPU the
			// race detector and a busy machine leave (half of it, at least)
			want := uint64(conns * rate * secs)
			if rep.Scheduled < want-want/100 || rep.Scheduled > want {
				t.Errorf("scheduled %d, want %d", rep.Scheduled, want)
			}
			if rep.Published+rep.Skipped < want/2 || rep.Published+rep.Skipped > rep.Scheduled {
				t.Errorf("published %d and skipped %d of %d scheduled", rep.Published, rep.Skipped, rep.Scheduled)
			}
			if rep.Acked != rep.Published || rep.Unacked != 0 || rep.NackedTotal() != 0 {
				t.Errorf("published %d, acked %d, nacked %v, unacked %d", rep.Published, rep.Acked, rep.Nacked, rep.Unacked)
			}
			if l := rep.Puback; l.Count != rep.Published || l.P50 <= 0 || l.P50 > l.P99 || l.P99 > l.Max {
				t.Errorf("latency %+v for %d publishes", l, rep.Published)
			}
			if rep.Seconds < secs || rep.BatchesPerSecond <= 0 || rep.ValuesPerSecond != float64(rep.ValuesAcked)/rep.Seconds {
				t.Errorf("rates: %.2f s, %.0f batches/s, %.0f values/s", rep.Seconds, rep.BatchesPerSecond, rep.ValuesPerSecond)
			}
			msgs := br.Messages("kanal/v1/vehicles/")
			if uint64(len(msgs)) != rep.Acked {
				t.Fatalf("broker stored %d batches, report acked %d", len(msgs), rep.Acked)
			}
			values := checkBatches(t, msgs, prof, mode)
			if values != rep.ValuesAcked {
				t.Errorf("broker got %d values, report acked %d", values, rep.ValuesAcked)
			}
		})
	}
}

// checkBatches decodes every message and checks it; it returns the
// number of values.
func checkBatches(t *testing.T, msgs []brokertest.Message, prof *Profile, mode PayloadMode) uint64 {
	t.Helper()
	dec, err := batch.NewDecoder(batch.DecoderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	type vehicle struct {
		boot string
		seqs []uint64
	}
	byVehicle := map[string]*vehicle{}
	var values uint64
	for _, m := range msgs {
		b, err := dec.Decode(m.Payload)
		if err != nil {
			t.Fatalf("%s: %v", m.Topic, err)
		}
		h := b.Header
		if m.Topic != wire.BatchTopic(h.Vehicle) || m.Client != h.Vehicle || m.Retain {
			t.Fatalf("batch of %s from client %s on %s (retain %v)", h.Vehicle, m.Client, m.Topic, m.Retain)
		}
		if d := m.At.UnixNano() - h.SentAt; d < 0 || d > int64(10*time.Second) {
			t.Errorf("%s seq %d: sent_at %d is %v before the broker got it", h.Vehicle, h.Seq, h.SentAt, time.Duration(d))
		}
		v := byVehicle[h.Vehicle]
		if v == nil {
			v = &vehicle{boot: h.Boot}
			byVehicle[h.Vehicle] = v
		}
		if h.Boot != v.boot {
			t.Fatalf("%s: boots %s and %s on one connection", h.Vehicle, v.boot, h.Boot)
		}
		v.seqs = append(v.seqs, h.Seq)
		values += uint64(len(b.Values))
		var idx int
		fmt.Sscanf(h.Vehicle, "tv-%d", &idx)
		want := prof.Seconds[(uint64(idx-1)+h.Seq-1)%uint64(len(prof.Seconds))]
		checkValues(t, h, b.Values, want, mode)
	}
	for id, v := range byVehicle {
		slices.Sort(v.seqs)
		for i, s := range v.seqs {
			if s != uint64(i+1) {
				t.Fatalf("%s: seqs %v, want 1..%d", id, v.seqs, len(v.seqs))
			}
		}
	}
	return values
}

// checkValues compares a decoded batch with the profile second it was made
// from: the same values, at the same times (PayloadHeader) or moved into
// the second before the send time (PayloadEncode).
func checkValues(t *testing.T, h batch.Header, got, want []catalog.Value, mode PayloadMode) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s seq %d: %d values, want %d", h.Vehicle, h.Seq, len(got), len(want))
	}
	sorted := slices.Clone(want)
	slices.SortStableFunc(sorted, func(a, b catalog.Value) int { return cmp.Compare(a.ID, b.ID) })
	var shift int64
	if mode == PayloadEncode {
		base := slices.MinFunc(want, func(a, b catalog.Value) int { return cmp.Compare(a.Time, b.Time) }).Time
		base -= base % int64(time.Second)
		shift = h.SentAt - int64(time.Second) - base
	}
	for i := range got {
		w := sorted[i]
		w.Time += shift
		if got[i] != w {
			t.Fatalf("%s seq %d: value %d is %+v, want %+v", h.Vehicle, h.Seq, i, got[i], w)
		}
	}
}

// TestNegativePubacks refuses some batches with bare reason codes, which
// mochi sends back as negative PUBACKs: the report counts each by code,
// and the rest are acked.
func TestNegativePubacks(t *testing.T) {
	var quota, unspecified atomic.Uint64
	br := brokertest.Start(t, brokertest.Options{Refuse: func(m brokertest.Message) byte {
		h, err := batch.ReadHeader(m.Payload)
		switch {
		case err != nil:
			t.Errorf("refuse: %v", err)
		case h.Seq%3 == 0:
			quota.Add(1)
			return 0x97
		case h.Seq%5 == 0:
			unspecified.Add(1)
			return 0x80
		}
		return 0
	}})
	rep := run(t, Options{Broker: br.URL(), Connections: 200, Rate: 5, Duration: 2 * time.Second, Profile: smallProfile(t)})
	if quota.Load() == 0 || unspecified.Load() == 0 {
		t.Fatalf("refused %d and %d", quota.Load(), unspecified.Load())
	}
	want := map[string]uint64{"0x97 quota exceeded": quota.Load(), "0x80 unspecified error": unspecified.Load()}
	if fmt.Sprint(rep.Nacked) != fmt.Sprint(want) {
		t.Errorf("nacked %v, want %v", rep.Nacked, want)
	}
	stored := uint64(len(br.Messages("kanal/")))
	if rep.Acked != stored || rep.Published != rep.Acked+rep.NackedTotal() || rep.Unacked != 0 {
		t.Errorf("published %d, acked %d (broker stored %d), nacked %d, unacked %d", rep.Published, rep.Acked, stored, rep.NackedTotal(), rep.Unacked)
	}
	if rep.Puback.Count != rep.Published {
		t.Errorf("%d latencies for %d publishes", rep.Puback.Count, rep.Published)
	}
}

// TestConnectFailures: logins that fail are counted by reason and do not
// stop the others.
func TestConnectFailures(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		g, err := New(Options{Broker: addr, Connections: 5, Profile: smallProfile(t), Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		err = g.Connect(testCtx(t, 20*time.Second))
		if err == nil || !strings.Contains(err.Error(), "no vehicle connected") {
			t.Fatalf("connect: %v", err)
		}
		if rep := g.Snapshot(); fmt.Sprint(rep.ConnectFailures) != "map[connection refused:5]" || rep.Held != 0 {
			t.Errorf("failures %v, held %d", rep.ConnectFailures, rep.Held)
		}
	})
	t.Run("bad password", func(t *testing.T) {
		// mochi's own auth ledger: only even vehicles know their password
		var rules auth.AuthRules
		for i := 2; i <= 10; i += 2 {
			v := VehicleID("pw", i)
			rules = append(rules, auth.AuthRule{Username: auth.RString(v), Password: auth.RString("secret-" + v), Allow: true})
		}
		addr := startMochi(t, &auth.Options{Ledger: &auth.Ledger{Auth: rules}})
		pw := func(v string) string {
			var n int
			fmt.Sscanf(v, "pw-%d", &n)
			if n%2 == 1 {
				return "wrong"
			}
			return "secret-" + v
		}
		rep := run(t, Options{Broker: "mqtt://" + addr, Connections: 10, VehiclePrefix: "pw", Password: pw,
			Rate: 5, Duration: time.Second, Profile: smallProfile(t)})
		if fmt.Sprint(rep.ConnectFailures) != "map[connack 0x86 bad user name or password:5]" || rep.Connected != 5 || rep.Held != 5 {
			t.Errorf("failures %v, connected %d, held %d", rep.ConnectFailures, rep.Connected, rep.Held)
		}
		if rep.Acked == 0 || rep.Acked != rep.Published {
			t.Errorf("published %d, acked %d", rep.Published, rep.Acked)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		// a listener that accepts and never answers CONNECT
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var held []net.Conn
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				held = append(held, c)
				mu.Unlock()
			}
		}()
		t.Cleanup(func() {
			l.Close()
			mu.Lock()
			for _, c := range held {
				c.Close()
			}
			mu.Unlock()
		})
		g, err := New(Options{Broker: l.Addr().String(), Connections: 3, ConnectTimeout: 300 * time.Millisecond, Profile: smallProfile(t), Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		start := time.Now()
		if err := g.Connect(testCtx(t, 20*time.Second)); err == nil {
			t.Fatal("connected to a silent listener")
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("connect took %v with a 300ms timeout", d)
		}
		if got := fmt.Sprint(g.Snapshot().ConnectFailures); got != "map[timeout:3]" {
			t.Errorf("failures %s", got)
		}
	})
}

// startMochi runs a mochi broker with its auth hook on loopback.
func startMochi(t *testing.T, ao *auth.Options) string {
	t.Helper()
	return brokertest.Start(t, brokertest.Options{Auth: new(auth.Hook), AuthConfig: ao}).Addr
}

// TestBrokerGone closes the broker mid-run: every connection is counted
// lost, the run ends on time, and the counts still add up.
func TestBrokerGone(t *testing.T) {
	br := brokertest.Start(t, brokertest.Options{})
	g, err := New(Options{Broker: br.URL(), Connections: 50, Rate: 10, Duration: 2 * time.Second, Profile: smallProfile(t), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ctx := testCtx(t, 30*time.Second)
	if err := g.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(500*time.Millisecond, br.Close)
	start := time.Now()
	rep, err := g.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second+g.opts.DrainTimeout {
		t.Errorf("run took %v", d)
	}
	if rep.LostTotal() != 50 || rep.Held != 0 {
		t.Errorf("lost %v, held %d", rep.Lost, rep.Held)
	}
	if rep.Acked == 0 || rep.Published != rep.Acked+rep.NackedTotal()+rep.Unacked {
		t.Errorf("published %d, acked %d, nacked %d, unacked %d", rep.Published, rep.Acked, rep.NackedTotal(), rep.Unacked)
	}
	if rep.Seconds < 1.9 {
		t.Errorf("seconds %.2f: the run lasted its duration", rep.Seconds)
	}
}

// TestIdle holds connections without publishing for longer than mochi's
// keep-alive timeout (1.5 × 2 s): only the pings keep them.
func TestIdle(t *testing.T) {
	br := brokertest.Start(t, brokertest.Options{})
	g, err := New(Options{Broker: br.URL(), Connections: 20, Idle: true, KeepAlive: 2 * time.Second,
		Duration: 4 * time.Second, Profile: smallProfile(t), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	rep, err := g.Run(testCtx(t, 30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Held != 20 || len(rep.Lost) > 0 || rep.Published != 0 || rep.Rate != 0 {
		t.Errorf("held %d, lost %v, published %d, rate %g", rep.Held, rep.Lost, rep.Published, rep.Rate)
	}
	if n := br.Server.Clients.Len(); n != 21 { // and the inline client
		t.Errorf("broker has %d clients", n)
	}
	g.Close()
	deadline := time.Now().Add(10 * time.Second)
	for br.Server.Clients.Len() > 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := br.Server.Clients.Len(); n != 1 {
		t.Errorf("after Close the broker has %d clients", n)
	}
}

// TestLocalAddrs spreads connections over source addresses of 127/8.
func TestLocalAddrs(t *testing.T) {
	br := brokertest.Start(t, brokertest.Options{})
	g, err := New(Options{Broker: br.URL(), Connections: 9, LocalAddrs: LoopbackAddrs(3), Profile: smallProfile(t), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := g.Connect(testCtx(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	hosts := map[string]int{}
	for _, cl := range br.Server.Clients.GetAll() {
		if cl.Net.Inline {
			continue
		}
		h, _, _ := net.SplitHostPort(cl.Net.Remote)
		hosts[h]++
	}
	if fmt.Sprint(hosts) != "map[127.0.0.1:3 127.0.0.2:3 127.0.0.3:3]" {
		t.Errorf("remote addresses %v", hosts)
	}
}

func TestLoopbackAddrs(t *testing.T) {
	addrs := LoopbackAddrs(600)
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] || !strings.HasPrefix(a, "127.") || strings.HasSuffix(a, ".0") || strings.HasSuffix(a, ".255") {
			t.Fatalf("address %s", a)
		}
		seen[a] = true
	}
	if len(addrs) != 600 || addrs[0] != "127.0.0.1" || addrs[253] != "127.0.0.254" || addrs[254] != "127.0.1.1" {
		t.Errorf("%d addresses: %s ... %s, %s", len(addrs), addrs[0], addrs[253], addrs[254])
	}
}

// TestSnapshotWhileRunning reads the report while connections and
// publishes are busy (for the race detector), and checks the metrics.
func TestSnapshotWhileRunning(t *testing.T) {
	br := brokertest.Start(t, brokertest.Options{})
	reg := prometheus.NewRegistry()
	g, err := New(Options{Broker: br.URL(), Connections: 50, Rate: 10, Duration: time.Second, Profile: smallProfile(t), Logger: quiet, Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 200 {
			g.Snapshot()
			time.Sleep(5 * time.Millisecond)
		}
	}()
	rep, err := g.Run(testCtx(t, 30*time.Second)) // connects first
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Run(testCtx(t, time.Second)); err == nil {
		t.Error("second Run did not fail")
	}
	for name, want := range map[string]float64{
		"kanal_loadgen_connections":        50,
		"kanal_loadgen_published_total":    float64(rep.Published),
		"kanal_loadgen_acked_total":        float64(rep.Acked),
		"kanal_loadgen_values_acked_total": float64(rep.ValuesAcked),
	} {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, mf := range mfs {
			if mf.GetName() == name {
				found = true
				m := mf.GetMetric()[0]
				got := m.GetGauge().GetValue() + m.GetCounter().GetValue()
				if got != want {
					t.Errorf("%s = %g, want %g", name, got, want)
				}
			}
		}
		if !found {
			t.Errorf("%s not registered", name)
		}
	}
	if n := testutil.CollectAndCount(reg, "kanal_loadgen_puback_seconds"); n != 1 {
		t.Errorf("latency histogram: %d series", n)
	}
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		desc string
		opts Options
		want string // in the error; "" means valid
	}{
		{"defaults", Options{Broker: "127.0.0.1:1883"}, ""},
		{"url", Options{Broker: "mqtt://localhost:1883"}, ""},
		{"no broker", Options{}, "broker: required"},
		{"tls", Options{Broker: "mqtts://localhost:8883"}, `scheme "mqtts" not supported`},
		{"no port", Options{Broker: "localhost"}, "broker"},
		{"bad port", Options{Broker: "localhost:99999"}, "bad port"},
		{"connections", Options{Broker: "h:1", Connections: -1}, "connections -1"},
		{"rate", Options{Broker: "h:1", Rate: -2}, "rate -2"},
		{"duration", Options{Broker: "h:1", Duration: -time.Second}, "duration -1s"},
		{"keepalive", Options{Broker: "h:1", KeepAlive: time.Millisecond}, "keepalive 1ms"},
		{"prefix", Options{Broker: "h:1", VehiclePrefix: "a/b"}, `vehicle_prefix "a/b"`},
		{"long prefix", Options{Broker: "h:1", VehiclePrefix: strings.Repeat("x", 60)}, "vehicle_prefix"},
		{"inflight", Options{Broker: "h:1", Inflight: 5000}, "inflight 5000"},
		{"concurrency", Options{Broker: "h:1", ConnectConcurrency: -1}, "connect_concurrency -1"},
		{"local addr", Options{Broker: "h:1", LocalAddrs: []string{"127.0.0.1", "nope"}}, `local_addrs[1] "nope"`},
		{"payload", Options{Broker: "h:1", Payload: "json"}, `payload "json"`},
		{"empty profile", Options{Broker: "h:1", Profile: &Profile{}}, "profile: no seconds"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := New(tc.opts)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// startMochiFunc runs a mochi broker whose logins check() decides.
func startMochiFunc(t *testing.T, check func(user, password string) bool) string {
	t.Helper()
	return brokertest.Start(t, brokertest.Options{Auth: &loginHook{check: check}}).Addr
}

type loginHook struct {
	mqtt.HookBase
	check func(user, password string) bool
}

func (h *loginHook) ID() string { return "test-login" }

func (h *loginHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (h *loginHook) OnConnectAuthenticate(cl *mqtt.Client, pk mqttpackets.Packet) bool {
	return h.check(string(pk.Connect.Username), string(pk.Connect.Password))
}

func (h *loginHook) OnACLCheck(*mqtt.Client, string, bool) bool { return true }
