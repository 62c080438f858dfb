package bridge

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/kanal-dev/kanal/cloud/store"
	"github.com/kanal-dev/kanal/internal/bytesize"
	"github.com/kanal-dev/kanal/internal/wire"
	"github.com/kanal-dev/kanal/uplink"
	"github.com/kanal-dev/kanal/uplink/batch"
)

// TestStoredBeforePuback: a batch gets its PUBACK 0x00 once it is in
// KANAL_BATCHES, exactly as sent, with its message id.
func TestStoredBeforePuback(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	c := client(t, g.addr, "veh-1")
	boot := batch.NewBoot()
	p := encode(t, "veh-1", boot, 1)
	if code := publish(t, c, &paho.Publish{Topic: wire.BatchTopic("veh-1"), Payload: p}); code != 0 {
		t.Fatalf("PUBACK %#x, want 0", code)
	}
	msgs := g.batches(t) // read right after the PUBACK: it is there already
	if len(msgs) != 1 || !bytes.Equal(msgs[0].Data, p) || msgs[0].Subject != wire.BatchSubject("veh-1") ||
		msgs[0].Header.Get(jetstream.MsgIDHeader) != "veh-1:"+boot+":1" {
		t.Fatalf("stream holds %d messages: %+v", len(msgs), msgs)
	}
	if got := testutil.ToFloat64(g.hook.m.publishes.WithLabelValues(resultStored)); got != 1 {
		t.Fatalf("publishes{stored} = %v", got)
	}
	if got := testutil.ToFloat64(g.hook.m.bytes); got != float64(len(p)) {
		t.Fatalf("bytes_total = %v, want %d", got, len(p))
	}
}

// TestSameBatchTwice: sent twice, stored once; again after the duplicate
// window, from a new connection to a restarted gateway: still once, and
// every copy acknowledged with success (the agent then deletes it).
func TestSameBatchTwice(t *testing.T) {
	so := store.Options{DuplicateWindow: 200 * time.Millisecond}
	g := startGateway(t, gatewayOptions{store: so})
	c := client(t, g.addr, "veh-1")
	boot := batch.NewBoot()
	p := encode(t, "veh-1", boot, 1)
	for range 2 {
		if code := publish(t, c, &paho.Publish{Topic: wire.BatchTopic("veh-1"), Payload: p}); code != 0 {
			t.Fatalf("PUBACK %#x, want 0", code)
		}
	}
	time.Sleep(400 * time.Millisecond)
	g2 := startGateway(t, gatewayOptions{store: so, nats: g.nats}) // empty cache
	c2 := client(t, g2.addr, "veh-1")
	if code := publish(t, c2, &paho.Publish{Topic: wire.BatchTopic("veh-1"), Payload: p}); code != 0 {
		t.Fatalf("PUBACK after the window %#x, want 0", code)
	}
	if n := len(g.batches(t)); n != 1 {
		t.Fatalf("%d copies stored, want 1", n)
	}
	if d := testutil.ToFloat64(g.hook.m.publishes.WithLabelValues(resultDuplicate)) +
		testutil.ToFloat64(g2.hook.m.publishes.WithLabelValues(resultDuplicate)); d != 2 {
		t.Fatalf("%v duplicates counted, want 2", d)
	}
}

// schemaTwo is a well-formed payload of a schema this gateway does not read.
func schemaTwo() []byte {
	var hdr []byte
	hdr = protowire.AppendTag(hdr, 1, protowire.VarintType)
	hdr = protowire.AppendVarint(hdr, 2)
	hdr = protowire.AppendTag(hdr, 2, protowire.BytesType)
	hdr = protowire.AppendString(hdr, "veh-1")
	var out []byte
	out = protowire.AppendTag(out, 1, protowire.BytesType)
	out = protowire.AppendBytes(out, hdr)
	return out
}

// TestRefusals: each way a batch can be refused, with its code, its dead
// letter (reason, authenticated vehicle, detail) or none, and nothing in
// KANAL_BATCHES.
func TestRefusals(t *testing.T) {
	g := startGateway(t, gatewayOptions{hook: Options{MaxPayload: 4 * bytesize.KiB}})
	boot := batch.NewBoot()
	big := bytes.Repeat([]byte{0xaa}, 5000)
	tests := []struct {
		name, client, topic string
		payload             []byte
		code                byte
		reason, detail      string // dead letter; "" for none
		kept                int    // bytes kept in the dead letter
	}{
		{"garbage", "veh-1", wire.BatchTopic("veh-1"), []byte("not a batch"), 0x99, ReasonMalformed, "read batch header", 11},
		{"empty", "veh-1", wire.BatchTopic("veh-1"), nil, 0x99, ReasonMalformed, "no header", 0},
		{"truncated", "veh-1", wire.BatchTopic("veh-1"), encode(t, "veh-1", boot, 1)[:20], 0x99, ReasonMalformed, "read batch header", 20},
		{"unknown schema", "veh-1", wire.BatchTopic("veh-1"), schemaTwo(), 0x99, ReasonSchema, "schema 2", len(schemaTwo())},
		{"another vehicle's batch", "veh-1", wire.BatchTopic("veh-1"), encode(t, "veh-2", boot, 1), 0x99, ReasonVehicleMismatch,
			`names vehicle "veh-2"; the sender is "veh-1"`, len(encode(t, "veh-2", boot, 1))},
		{"too large", "veh-1", wire.BatchTopic("veh-1"), big, 0x99, ReasonTooLarge, "payload of 5000 bytes, over the limit of 4096; the first 4096 bytes kept", 4096},
		{"another vehicle's topic", "veh-1", wire.BatchTopic("veh-2"), encode(t, "veh-2", boot, 1), 0x87, "", "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(g.dead(t))
			c := client(t, g.addr, tc.client)
			if code := publish(t, c, &paho.Publish{Topic: tc.topic, Payload: tc.payload}); code != tc.code {
				t.Fatalf("PUBACK %#x, want %#x", code, tc.code)
			}
			dead := g.dead(t)
			if tc.reason == "" {
				if len(dead) != before {
					t.Fatalf("a dead letter for a %#x", tc.code)
				}
				return
			}
			if len(dead) != before+1 {
				t.Fatalf("%d dead letters, want %d", len(dead), before+1)
			}
			d := dead[len(dead)-1]
			if d.Subject != wire.DeadSubject(tc.reason) || d.Header.Get(store.HeaderReason) != tc.reason ||
				d.Header.Get(store.HeaderVehicle) != tc.client || !strings.Contains(d.Header.Get(store.HeaderDetail), tc.detail) ||
				len(d.Data) != tc.kept || !bytes.Equal(d.Data, tc.payload[:tc.kept]) {
				t.Fatalf("dead letter %s %v with %d bytes; want reason %s, vehicle %s, detail %q, %d bytes",
					d.Subject, d.Header, len(d.Data), tc.reason, tc.client, tc.detail, tc.kept)
			}
		})
	}
	if n := len(g.batches(t)); n != 0 {
		t.Fatalf("%d refused batches stored", n)
	}
	if n := testutil.ToFloat64(g.hook.m.negative.WithLabelValues("0x99")); n != 6 {
		t.Fatalf("negative_pubacks{0x99} = %v, want 6", n)
	}
}

// TestNotKeptInTheBroker: a batch with the retained flag and user
// properties is stored and acknowledged with 0x00, reaches no subscriber
// and is not retained; other topics pass through as mochi routes them.
func TestNotKeptInTheBroker(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	got := make(chan string, 16)
	conn, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	sub := paho.NewClient(paho.ClientConfig{Conn: conn, PacketTimeout: 5 * time.Second,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			got <- pr.Packet.Topic
			return true, nil
		}}})
	ctx := testCtx(t, 10*time.Second)
	if _, err := sub.Connect(ctx, &paho.Connect{ClientID: "watcher", CleanStart: true}); err != nil {
		t.Fatal(err)
	}
	defer sub.Disconnect(&paho.Disconnect{})
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "kanal/v1/vehicles/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}

	c := client(t, g.addr, "veh-1")
	p := &paho.Publish{Topic: wire.BatchTopic("veh-1"), Payload: encode(t, "veh-1", batch.NewBoot(), 1), Retain: true,
		Properties: &paho.PublishProperties{User: paho.UserProperties{{Key: "trace", Value: "1"}}}}
	if code := publish(t, c, p); code != 0 {
		t.Fatalf("PUBACK %#x, want 0 (mochi echoes user properties and writes 0x01 unless they are dropped)", code)
	}
	if code := publish(t, c, &paho.Publish{Topic: wire.StatusTopic("veh-1"), Payload: []byte(`{}`)}); code != 0 {
		t.Fatalf("status PUBACK %#x", code)
	}
	select {
	case topic := <-got:
		if topic != wire.StatusTopic("veh-1") {
			t.Fatalf("the subscriber got %s", topic)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the status publish was not routed: the hook blocks other topics")
	}
	select {
	case topic := <-got:
		t.Fatalf("the subscriber got %s too", topic)
	case <-time.After(200 * time.Millisecond):
	}
	if n := len(g.mqtt.Topics.Messages("kanal/#")); n != 0 { // the status publish had no retain flag
		t.Fatalf("%d messages retained under kanal/, want 0", n)
	}
	if n := len(g.batches(t)); n != 1 {
		t.Fatalf("%d batches stored, want 1", n)
	}
}

// TestOnlyV5AtQoS1: an MQTT 3.1.1 client and a QoS 0 publish get no PUBACK
// and nothing stored: mochi would acknowledge a v3.1.1 client whatever the
// hook says, and QoS 0 has nothing to hold back.
func TestOnlyV5AtQoS1(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	payload := encode(t, "veh-old", batch.NewBoot(), 1)

	conn, err := net.DialTimeout("tcp", g.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	write := func(pk packets.Packet) {
		t.Helper()
		var buf bytes.Buffer
		var err error
		switch pk.FixedHeader.Type {
		case packets.Connect:
			err = pk.ConnectEncode(&buf)
		case packets.Publish:
			err = pk.PublishEncode(&buf)
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(buf.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 4,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: "veh-old"}})
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	connack := make([]byte, 4)
	if _, err := io.ReadFull(conn, connack); err != nil || connack[0]>>4 != packets.Connack || connack[3] != 0 {
		t.Fatalf("CONNACK % x, %v", connack, err)
	}
	write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, ProtocolVersion: 4,
		TopicName: wire.BatchTopic("veh-old"), PacketID: 7, Payload: payload})
	conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	var one [1]byte
	if n, err := conn.Read(one[:]); n != 0 || !isTimeout(err) {
		t.Fatalf("the v3.1.1 publish got an answer (%d bytes, %v), want none", n, err)
	}

	c := client(t, g.addr, "veh-1")
	if _, err := c.Publish(testCtx(t, 5*time.Second), &paho.Publish{Topic: wire.BatchTopic("veh-1"), QoS: 0, Payload: encode(t, "veh-1", batch.NewBoot(), 1)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(g.batches(t)); n != 0 {
		t.Fatalf("%d batches stored from v3.1.1 and QoS 0", n)
	}
	if n := testutil.ToFloat64(g.hook.m.publishes.WithLabelValues(resultProtocol)); n != 2 {
		t.Fatalf("publishes{protocol} = %v, want 2", n)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestIdentityOption: the identity may come from elsewhere than the client
// id (the auth hook's username, a certificate).
func TestIdentityOption(t *testing.T) {
	g := startGateway(t, gatewayOptions{hook: Options{Identity: func(cl *mqtt.Client) string { return "veh-" + cl.ID }}})
	c := client(t, g.addr, "7")
	if code := publish(t, c, &paho.Publish{Topic: wire.BatchTopic("veh-7"), Payload: encode(t, "veh-7", batch.NewBoot(), 1)}); code != 0 {
		t.Fatalf("PUBACK %#x, want 0", code)
	}
	if code := publish(t, c, &paho.Publish{Topic: wire.BatchTopic("7"), Payload: encode(t, "7", batch.NewBoot(), 1)}); code != 0x87 {
		t.Fatalf("PUBACK on the client id's topic %#x, want 0x87", code)
	}
}

// TestStop: Stop waits for nothing when idle and makes later batches 0x80,
// which the agent retries.
func TestStop(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	c := client(t, g.addr, "veh-1")
	done := make(chan error)
	go func() { done <- g.hook.Stop() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Stop hangs")
	}
	if code := publish(t, c, &paho.Publish{Topic: wire.BatchTopic("veh-1"), Payload: encode(t, "veh-1", batch.NewBoot(), 1)}); code != 0x80 {
		t.Fatalf("PUBACK after Stop %#x, want 0x80", code)
	}
}

func TestNewRefuses(t *testing.T) {
	s := &store.Store{}
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"no store", Options{}, "Store is required"},
		{"negative", Options{Store: s, MaxPayload: -1}, "max_payload"},
		{"huge", Options{Store: s, MaxPayload: 65 * bytesize.MiB}, "max_payload 65MiB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	if h, err := New(Options{Store: s}); err != nil || h.max != int(DefaultMaxPayload) {
		t.Fatalf("defaults: %v", err)
	}
}

// TestStorageRefusals: JetStream refusing a batch (a limit an operator set)
// is 0x97, retried by the agent, and stored once the limit is gone; a
// payload refused for good whose dead letter cannot be stored gets 0x80,
// not 0x99, so the agent keeps it until KANAL_DEAD takes it.
func TestStorageRefusals(t *testing.T) {
	g := startGateway(t, gatewayOptions{store: store.Options{PublishTimeout: 500 * time.Millisecond}})
	ctx := testCtx(t, 20*time.Second)
	st, err := g.js.Stream(ctx, wire.BatchesStream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	cfg.MaxMsgSize = 64
	if _, err := g.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	c := client(t, g.addr, "veh-1")
	p := encode(t, "veh-1", batch.NewBoot(), 1)
	if code := publish(t, c, &paho.Publish{Topic: wire.BatchTopic("veh-1"), Payload: p}); code != 0x97 {
		t.Fatalf("PUBACK %#x over the stream's max_msg_size, want 0x97", code)
	}
	if err := store.Ensure(ctx, g.js, store.Options{}); err != nil {
		t.Fatal(err)
	}
	if code := publish(t, c, &paho.Publish{Topic: wire.BatchTopic("veh-1"), Payload: p}); code != 0 {
		t.Fatalf("PUBACK %#x once the limit is gone, want 0", code)
	}

	if err := g.js.DeleteStream(ctx, wire.DeadStream); err != nil {
		t.Fatal(err)
	}
	if code := publish(t, c, &paho.Publish{Topic: wire.BatchTopic("veh-1"), Payload: []byte("junk")}); code != 0x80 {
		t.Fatalf("PUBACK %#x for junk without KANAL_DEAD, want 0x80", code)
	}
	if n := testutil.ToFloat64(g.hook.m.publishes.WithLabelValues(resultDeadFailed)); n != 1 {
		t.Fatalf("publishes{dead_failed} = %v, want 1", n)
	}
	if err := store.Ensure(ctx, g.js, store.Options{}); err != nil {
		t.Fatal(err)
	}
	if code := publish(t, c, &paho.Publish{Topic: wire.BatchTopic("veh-1"), Payload: []byte("junk")}); code != 0x99 {
		t.Fatalf("PUBACK %#x for junk with KANAL_DEAD back, want 0x99", code)
	}
	if n := len(g.dead(t)); n != 1 {
		t.Fatalf("%d dead letters, want 1", n)
	}
}

// TestMaxPayloadIsTheAgents: the default limit is the agent's, so nothing
// the agent builds is refused as too large.
func TestMaxPayloadIsTheAgents(t *testing.T) {
	if DefaultMaxPayload != uplink.MaxBatchBytes {
		t.Fatalf("DefaultMaxPayload %s, the agent's MaxBatchBytes %s", DefaultMaxPayload, uplink.MaxBatchBytes)
	}
}
