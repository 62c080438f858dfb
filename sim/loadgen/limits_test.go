package loadgen

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	mqttpackets "github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kanal-dev/kanal/internal/brokertest"
)

// startMochiWith runs mochi on loopback with the capabilities caps sets
// and the hooks (mochi's allow-all one first), and returns its address.
func startMochiWith(t *testing.T, caps func(*mqtt.Capabilities), hooks ...mqtt.Hook) (string, *mqtt.Server) {
	t.Helper()
	b := brokertest.Start(t, brokertest.Options{Capabilities: caps, Hooks: hooks})
	return b.Addr, b.Server
}

// TestInflightWindow delays every PUBACK (the broker's publish hook runs
// on the client's read loop, so a slow hook is a slow gateway): with a
// window of 2 the generator never has more than 2 publishes of a
// connection in flight, skips what is due meanwhile and counts it, and
// every latency shows the delay.
func TestInflightWindow(t *testing.T) {
	const delay = 150 * time.Millisecond
	var mu sync.Mutex
	inflight, most := map[string]int{}, 0
	br := brokertest.Start(t, brokertest.Options{Refuse: func(m brokertest.Message) byte {
		mu.Lock()
		inflight[m.Client]++
		most = max(most, inflight[m.Client])
		mu.Unlock()
		time.Sleep(delay)
		mu.Lock()
		inflight[m.Client]--
		mu.Unlock()
		return 0
	}})
	rep := run(t, Options{Broker: br.URL(), Connections: 5, Rate: 40, Inflight: 2, Duration: time.Second, Profile: smallProfile(t)})
	if rep.Skipped == 0 || rep.Published == 0 || rep.Acked != rep.Published {
		t.Errorf("published %d, acked %d, skipped %d", rep.Published, rep.Acked, rep.Skipped)
	}
	// mochi reads one publish at a time per client: the window shows as
	// publishes waiting in the socket, at most 2 of them
	if most > 1 {
		t.Errorf("%d publishes of one client in the hook at once", most)
	}
	if p50 := time.Duration(rep.Puback.P50 * float64(time.Millisecond)); p50 < delay {
		t.Errorf("PUBACK p50 %v under the broker's delay of %v", p50, delay)
	}
	// the window bounds the rate: at most 2 per delay per connection
	if max := uint64(5 * 2 * (time.Second/delay + 2)); rep.Published > max {
		t.Errorf("published %d with a window of 2 and %v a PUBACK: at most %d", rep.Published, delay, max)
	}
}

// TestBrokerLimits: the CONNACK's Receive Maximum narrows the window, its
// Server Keep Alive replaces the asked one, and a Maximum Packet Size under
// the profile's largest batch refuses the login (the agent must never
// build a batch over the limit, and the generator neither).
func TestBrokerLimits(t *testing.T) {
	t.Run("receive maximum", func(t *testing.T) {
		addr, _ := startMochiWith(t, func(c *mqtt.Capabilities) { c.ReceiveMaximum = 1 })
		g := newConnected(t, Options{Broker: addr, Connections: 3, Inflight: 8})
		for _, c := range g.conns {
			if c.window != 1 {
				t.Errorf("%s: window %d under a Receive Maximum of 1", c.vehicle, c.window)
			}
		}
	})
	t.Run("server keep alive", func(t *testing.T) {
		addr, _ := startMochiWith(t, nil, &keepAliveHook{seconds: 2})
		g := newConnected(t, Options{Broker: addr, Connections: 3, Idle: true, Duration: 4 * time.Second})
		for _, c := range g.conns {
			if c.keep != 2*time.Second {
				t.Errorf("%s: keep-alive %v, the broker said 2s", c.vehicle, c.keep)
			}
		}
		rep, err := g.Run(testCtx(t, 30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if rep.Held != 3 || len(rep.Lost) > 0 {
			t.Errorf("held %d, lost %v: pings at the broker's keep-alive keep them", rep.Held, rep.Lost)
		}
	})
	t.Run("maximum packet size", func(t *testing.T) {
		// mochi enforces its maximum without announcing it; the gateway
		// announces it in CONNACK, as this hook does
		addr, _ := startMochiWith(t, func(c *mqtt.Capabilities) { c.MaximumPacketSize = 300 }, &maxSizeHook{size: 300})
		g, err := New(Options{Broker: addr, Connections: 2, Profile: smallProfile(t), Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		if err := g.Connect(testCtx(t, 20*time.Second)); err == nil {
			t.Fatal("logged in to a broker that takes packets of 300 bytes")
		}
		want := fmt.Sprintf("broker's maximum packet size 300 is below the largest batch (%d bytes)", g.maxPacket)
		if got := fmt.Sprint(g.Snapshot().ConnectFailures); got != fmt.Sprintf("map[%s:2]", want) {
			t.Errorf("failures %s", got)
		}
	})
}

// newConnected makes a generator with a small profile and connects it.
func newConnected(t *testing.T, opts Options) *Generator {
	t.Helper()
	if opts.Profile == nil {
		opts.Profile = smallProfile(t)
	}
	opts.Logger = quiet
	g, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	if err := g.Connect(testCtx(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	return g
}

// keepAliveHook makes mochi set the keep-alive of every client, as a
// gateway may (MQTT v5 Server Keep Alive).
type keepAliveHook struct {
	mqtt.HookBase
	seconds uint16
}

func (h *keepAliveHook) ID() string           { return "test-keepalive" }
func (h *keepAliveHook) Provides(b byte) bool { return b == mqtt.OnConnect }
func (h *keepAliveHook) OnConnect(cl *mqtt.Client, _ mqttpackets.Packet) error {
	cl.State.Keepalive, cl.State.ServerKeepalive = h.seconds, true
	return nil
}

// maxSizeHook announces a Maximum Packet Size in every CONNACK.
type maxSizeHook struct {
	mqtt.HookBase
	size uint32
}

func (h *maxSizeHook) ID() string           { return "test-maxsize" }
func (h *maxSizeHook) Provides(b byte) bool { return b == mqtt.OnPacketEncode }
func (h *maxSizeHook) OnPacketEncode(_ *mqtt.Client, pk mqttpackets.Packet) mqttpackets.Packet {
	if pk.FixedHeader.Type == mqttpackets.Connack {
		pk.Properties.MaximumPacketSize = h.size
	}
	return pk
}

// TestMaxPacket: the generator's idea of its largest PUBLISH is never
// below a real one.
func TestMaxPacket(t *testing.T) {
	var largest atomic.Int64
	br := brokertest.Start(t, brokertest.Options{Refuse: func(m brokertest.Message) byte {
		// fixed header (≤ 5), topic length and topic, packet id, properties length
		n := int64(5 + 2 + len(m.Topic) + 2 + 1 + len(m.Payload))
		for old := largest.Load(); n > old && !largest.CompareAndSwap(old, n); old = largest.Load() {
		}
		return 0
	}})
	g := newConnected(t, Options{Broker: br.URL(), Connections: 10, Rate: 20, Duration: time.Second})
	if _, err := g.Run(testCtx(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if largest.Load() == 0 || largest.Load() > g.maxPacket {
		t.Errorf("largest PUBLISH %d bytes, the generator expected at most %d", largest.Load(), g.maxPacket)
	}
}

// TestDisconnected: a broker that cuts clients with a DISCONNECT reason
// code has them counted lost by that code.
func TestDisconnected(t *testing.T) {
	addr, srv := startMochiWith(t, nil)
	reg := prometheus.NewRegistry()
	g := newConnected(t, Options{Broker: addr, Connections: 6, Rate: 5, Duration: time.Second, Metrics: reg})
	n := 0
	for _, cl := range srv.Clients.GetAll() {
		if !cl.Net.Inline && n < 4 {
			srv.DisconnectClient(cl, mqttpackets.ErrMessageRateTooHigh)
			n++
		}
	}
	rep, err := g.Run(testCtx(t, 30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(rep.Lost); got != "map[disconnect 0x96 message rate too high:4]" || rep.Held != 2 {
		t.Errorf("lost %s, held %d", got, rep.Held)
	}
	if got := testutil.ToFloat64(g.m.lost.WithLabelValues("disconnect 0x96 message rate too high")); got != 4 {
		t.Errorf("lost metric %g", got)
	}
	if rep.Published == 0 || rep.Published != rep.Acked+rep.Unacked {
		t.Errorf("published %d, acked %d, unacked %d", rep.Published, rep.Acked, rep.Unacked)
	}
}

// TestCancel ends a run early: Run returns the context's error and the
// report so far, and Close still ends every connection.
func TestCancel(t *testing.T) {
	br := brokertest.Start(t, brokertest.Options{})
	g := newConnected(t, Options{Broker: br.URL(), Connections: 20, Rate: 10, Duration: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	done := make(chan struct{})
	var rep *Report
	var err error
	go func() {
		defer close(done)
		rep, err = g.Run(ctx)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not end when its context did")
	}
	if !errors.Is(err, context.Canceled) || rep == nil || rep.Published == 0 {
		t.Fatalf("run: %v, %+v", err, rep)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if g.held.Load() != 0 {
		t.Errorf("%d connections held after Close", g.held.Load())
	}
	if err := g.Close(); err != nil { // twice is harmless
		t.Fatal(err)
	}
}

// TestConnectPacing: ConnectRate spaces the logins, ConnectConcurrency
// bounds them, and a second Connect is refused.
func TestConnectPacing(t *testing.T) {
	var mu sync.Mutex
	var current, most int
	hook := &loginHook{check: func(string, string) bool {
		mu.Lock()
		current++
		most = max(most, current)
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		current--
		mu.Unlock()
		return true
	}}
	addr, _ := startMochiWith(t, nil, hook)
	g := newConnected(t, Options{Broker: addr, Connections: 12, ConnectRate: 40, ConnectConcurrency: 2})
	rep := g.Snapshot()
	if rep.Held != 12 {
		t.Fatalf("held %d", rep.Held)
	}
	// 12 logins at 40 a second cannot take less than 11/40 s
	if rep.ConnectSeconds < 0.25 {
		t.Errorf("12 logins at 40/s in %.2f s", rep.ConnectSeconds)
	}
	if most > 2 {
		t.Errorf("%d logins at once with a concurrency of 2", most)
	}
	if err := g.Connect(testCtx(t, time.Second)); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("second Connect: %v", err)
	}
}

func TestOptionDefaults(t *testing.T) {
	o := Options{Broker: "mqtt://127.0.0.1:1883"}
	if err := o.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if o.Broker != "127.0.0.1:1883" || o.Connections != DefaultConnections || o.Rate != DefaultRate || o.Duration != DefaultDuration ||
		o.DrainTimeout != DefaultDrainTimeout || o.VehiclePrefix != DefaultVehiclePrefix || o.FirstVehicle != 1 ||
		o.Inflight != DefaultInflight || o.ConnectConcurrency != DefaultConnectConcurrency || o.ConnectTimeout != DefaultConnectTimeout ||
		o.KeepAlive != DefaultKeepAlive || o.WriteTimeout != DefaultWriteTimeout || o.Writers < 2 || o.Payload != PayloadHeader ||
		o.Profile == nil || o.Logger == nil {
		t.Errorf("defaults: %+v", o)
	}
	if v := o.Profile.Values(); v < 100 {
		t.Errorf("default profile has %.0f values a batch", v)
	}
	for in, want := range map[string]string{"[::1]:1883": "[::1]:1883", "tcp://h:5": "h:5", "mqtt://h:1883": "h:1883"} {
		if got, err := brokerAddr(in); err != nil || got != want {
			t.Errorf("brokerAddr(%q) = %q, %v", in, got, err)
		}
	}
	if VehicleID("load", 7) != "load-000007" || VehicleID("x", 1234567) != "x-1234567" {
		t.Error("VehicleID")
	}
	var empty Profile
	if empty.Values() != 0 {
		t.Error("empty profile has values")
	}
}
