package bridge

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/cloud/store"
	"github.com/kanal-dev/kanal/cloud/store/storetest"
	"github.com/kanal-dev/kanal/internal/mqttlisten"
	"github.com/kanal-dev/kanal/internal/wire"
	"github.com/kanal-dev/kanal/uplink/batch"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func testCtx(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// gateway is a real mochi broker with an allow-all auth hook and the
// bridge, storing into a real nats-server.
type gateway struct {
	nats  *server.Server
	js    jetstream.JetStream
	store *store.Store
	hook  *Hook
	reg   *prometheus.Registry
	mqtt  *mqtt.Server
	addr  string
	once  sync.Once
}

// close stops the broker, dropping its connections (once).
func (g *gateway) close() { g.once.Do(func() { g.mqtt.Close() }) }

type gatewayOptions struct {
	store store.Options
	hook  Options
	nats  *server.Server // nil starts one
}

func startGateway(t testing.TB, o gatewayOptions) *gateway {
	t.Helper()
	g := &gateway{nats: o.nats, reg: prometheus.NewRegistry()}
	if g.nats == nil {
		g.nats = storetest.RunServer(t, storetest.ServerOptions{})
	}
	_, g.js = storetest.Connect(t, g.nats.ClientURL())
	if err := store.Ensure(testCtx(t, 10*time.Second), g.js, o.store); err != nil {
		t.Fatal(err)
	}
	o.store.Logger, o.store.Metrics = quiet, g.reg
	var err error
	if g.store, err = store.New(g.js, o.store); err != nil {
		t.Fatal(err)
	}
	o.hook.Store, o.hook.Logger, o.hook.Metrics = g.store, quiet, g.reg
	if g.hook, err = New(o.hook); err != nil {
		t.Fatal(err)
	}
	g.mqtt = mqtt.New(&mqtt.Options{InlineClient: true, Logger: quiet})
	if err := g.mqtt.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	if err := g.mqtt.AddHook(g.hook, nil); err != nil {
		t.Fatal(err)
	}
	tcp := mqttlisten.NewTCP(g.mqtt, "tcp", "127.0.0.1:0") // closes cleanly, unlike mochi's
	if err := g.mqtt.AddListener(tcp); err != nil {
		t.Fatal(err)
	}
	if err := g.mqtt.Serve(); err != nil {
		t.Fatal(err)
	}
	g.addr = tcp.Address()
	t.Cleanup(g.close)
	return g
}

// url is the gateway's mqtt:// URL, for the agent.
func (g *gateway) url() string { return "mqtt://" + g.addr }

// client is a paho v5 client connected to addr as id.
func client(t testing.TB, addr, id string) *paho.Client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: conn, PacketTimeout: 10 * time.Second})
	ctx := testCtx(t, 10*time.Second)
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	t.Cleanup(func() {
		c.Disconnect(&paho.Disconnect{})
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
		}
	})
	return c
}

// publish sends a QoS 1 publish and returns the PUBACK's reason code.
func publish(t testing.TB, c *paho.Client, p *paho.Publish) byte {
	t.Helper()
	if p.QoS == 0 {
		p.QoS = 1
	}
	resp, err := c.Publish(testCtx(t, 10*time.Second), p)
	if resp == nil {
		t.Fatalf("publish on %s: no PUBACK: %v", p.Topic, err)
	}
	return resp.ReasonCode
}

// encode returns a real batch payload.
func encode(t testing.TB, vehicle, boot string, seq uint64) []byte {
	t.Helper()
	enc, err := batch.NewEncoder(batch.EncoderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := batch.Batch{Header: batch.Header{Vehicle: vehicle, Boot: boot, Seq: seq, SentAt: time.Now().UnixNano()},
		Values: []catalog.Value{{ID: 1, Time: 1, Num: float64(seq)}, {ID: 2, Time: 2, Num: 0.5}}}
	p, err := enc.Encode(nil, &b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// batches returns the messages of KANAL_BATCHES.
func (g *gateway) batches(t testing.TB) []storetest.Message {
	t.Helper()
	return storetest.Read(t, g.js, wire.BatchesStream)
}

// dead returns the messages of KANAL_DEAD.
func (g *gateway) dead(t testing.TB) []storetest.Message {
	t.Helper()
	return storetest.Read(t, g.js, wire.DeadStream)
}
