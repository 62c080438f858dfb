package broker

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/kanal-dev/kanal/internal/await"
	"github.com/kanal-dev/kanal/internal/wire"
)

// TestACLMatrix runs the authorization through real clients: each row is
// a publish (the PUBACK's code) or a subscription (the SUBACK's code).
func TestACLMatrix(t *testing.T) {
	f := start(t, Options{})
	clients := map[string]*client{
		"veh-1": f.login(t, "veh-1", "veh-1"),
		"veh-2": f.login(t, "veh-2", "veh-2"),
		"svc":   f.login(t, "svc", "svc:1"),
		"ops":   f.login(t, "ops", "ops:1"),
	}
	const cell = "89c25"
	const ok, denied = "ok", "denied"
	for _, tc := range []struct {
		who, action, topic, want string
	}{
		// A vehicle publishes its own batches and status, nothing else.
		{"veh-1", "pub", wire.BatchTopic("veh-1"), ok},
		{"veh-1", "pub", wire.StatusTopic("veh-1"), ok},
		{"veh-1", "pub", wire.BatchTopic("veh-2"), denied},
		{"veh-1", "pub", wire.StatusTopic("veh-2"), denied},
		{"veh-1", "pub", wire.CommandTopic("veh-2"), denied},
		{"veh-1", "pub", wire.CommandTopic("veh-1"), denied},
		{"veh-1", "pub", wire.NoticeTopic(cell), denied},
		{"veh-1", "pub", wire.AlertTopic("fog", cell), denied},
		{"veh-1", "pub", "kanal/v1/vehicles/veh-1/batch/extra", denied},
		{"veh-1", "pub", "other/topic", denied},
		// ... and reads its own commands and cell notices.
		{"veh-1", "sub", wire.CommandTopic("veh-1"), ok},
		{"veh-1", "sub", wire.NoticeTopic(cell), ok},
		{"veh-1", "sub", wire.NoticeTopic("+"), ok},
		{"veh-1", "sub", wire.CommandTopic("veh-2"), denied},
		{"veh-1", "sub", wire.CommandTopic("+"), denied},
		{"veh-1", "sub", "kanal/v1/vehicles/+/#", denied},
		{"veh-1", "sub", "kanal/v1/vehicles/veh-1/#", denied},
		{"veh-1", "sub", wire.BatchTopic("veh-2"), denied},
		{"veh-1", "sub", "kanal/v1/cells/#", denied},
		{"veh-1", "sub", "kanal/#", denied},
		{"veh-1", "sub", "#", denied},
		{"veh-1", "sub", "+/+/+/+/+", denied},
		{"veh-1", "sub", alertsAll, denied},
		{"veh-1", "sub", "$SYS/#", denied},
		{"veh-1", "sub", "$share/veh-1/" + wire.CommandTopic("veh-1"), denied},
		// Traffic services read alerts, publish nothing.
		{"svc", "pub", wire.AlertTopic("fog", cell), denied},
		{"svc", "pub", wire.NoticeTopic(cell), denied},
		{"svc", "pub", wire.CommandTopic("veh-1"), denied},
		{"svc", "pub", wire.StatusTopic("veh-1"), denied},
		{"svc", "sub", alertsAll, ok},
		{"svc", "sub", "kanal/v1/alerts/fog/+", ok},
		{"svc", "sub", "$share/svc/" + alertsAll, ok},
		{"svc", "sub", "$share/ops/" + alertsAll, denied},
		{"svc", "sub", wire.CommandTopic("+"), denied},
		{"svc", "sub", wire.StatusTopic("+"), denied},
		{"svc", "sub", wire.NoticeTopic("+"), denied},
		{"svc", "sub", "kanal/v1/+/fog/" + cell, denied},
		{"svc", "sub", "#", denied},
		// Operators send commands and notices, read status, alerts, notices.
		{"ops", "pub", wire.CommandTopic("veh-1"), ok},
		{"ops", "pub", wire.NoticeTopic(cell), ok},
		{"ops", "pub", wire.AlertTopic("fog", cell), denied},
		{"ops", "pub", wire.BatchTopic("veh-1"), denied},
		{"ops", "pub", wire.StatusTopic("veh-1"), denied},
		{"ops", "sub", wire.StatusTopic("+"), ok},
		{"ops", "sub", alertsAll, ok},
		{"ops", "sub", wire.NoticeTopic("+"), ok},
		{"ops", "sub", wire.CommandTopic("+"), denied},
		{"ops", "sub", wire.BatchTopic("+"), denied},
		{"ops", "sub", "kanal/v1/vehicles/#", denied},
	} {
		t.Run(fmt.Sprintf("%s %s %s", tc.who, tc.action, tc.topic), func(t *testing.T) {
			c := clients[tc.who]
			var code byte
			if tc.action == "pub" {
				code = c.publish(t, tc.topic, []byte("x"))
			} else {
				code = c.subscribe(t, tc.topic)
			}
			got := ok
			if code == 0x87 {
				got = denied
			} else if code >= 0x80 {
				got = fmt.Sprintf("code %#02x", code)
			}
			if got != tc.want {
				t.Errorf("%s (reason code %#02x), want %s", got, code, tc.want)
			}
		})
	}
}

// TestDelivery checks what reaches whom: an operator's command reaches
// its vehicle only; a notice reaches every vehicle of the cell; the alert
// of the gateway's inline client reaches traffic services.
func TestDelivery(t *testing.T) {
	f := start(t, Options{})
	v1, v2 := f.login(t, "veh-1", "veh-1"), f.login(t, "veh-2", "veh-2")
	svc, ops := f.login(t, "svc", "svc:1"), f.login(t, "ops", "ops:1")
	for _, s := range []struct {
		c      *client
		filter string
	}{{v1, wire.CommandTopic("veh-1")}, {v2, wire.CommandTopic("veh-2")}, {v1, wire.NoticeTopic("+")}, {v2, wire.NoticeTopic("c2")},
		{svc, alertsAll}, {ops, wire.StatusTopic("+")}} {
		if code := s.c.subscribe(t, s.filter); code >= 0x80 {
			t.Fatalf("subscribe %s: %#02x", s.filter, code)
		}
	}
	ops.publish(t, wire.CommandTopic("veh-1"), []byte("cmd for 1"))
	if p := v1.expect(t, wire.CommandTopic("veh-1"), 5*time.Second); string(p.Payload) != "cmd for 1" {
		t.Fatalf("command %q", p.Payload)
	}
	ops.publish(t, wire.NoticeTopic("c2"), []byte("fog ahead"))
	v1.expect(t, wire.NoticeTopic("c2"), 5*time.Second)
	v2.expect(t, wire.NoticeTopic("c2"), 5*time.Second)
	if err := f.s.Publish(wire.AlertTopic("fog", "c2"), []byte("alert"), false, 1); err != nil {
		t.Fatal(err)
	}
	svc.expect(t, wire.AlertTopic("fog", "c2"), 5*time.Second)
	v1.publish(t, wire.StatusTopic("veh-1"), []byte("online"))
	ops.expect(t, wire.StatusTopic("veh-1"), 5*time.Second)
	v2.quiet(t, 200*time.Millisecond) // never veh-1's command
}

// TestSessionTakeover: a vehicle's session with a queued command can be
// resumed by that vehicle only; nobody else can use its client id, take
// the session or read the command, whether it is online or not.
func TestSessionTakeover(t *testing.T) {
	f := start(t, Options{})
	expiry := uint32(600)
	owner := func() *paho.Connect {
		return &paho.Connect{ClientID: "veh-1", CleanStart: false, KeepAlive: 30, Username: "veh-1", UsernameFlag: true,
			Password: []byte(f.pw["veh-1"]), PasswordFlag: true, Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}}
	}
	v1, _, err := connect(t, tcpDialer(f.s.Addr(ListenerMQTT)), owner())
	if err != nil {
		t.Fatal(err)
	}
	if code := v1.subscribe(t, wire.CommandTopic("veh-1")); code != 1 {
		t.Fatalf("subscribe: %#02x", code)
	}
	// Online: others cannot log in with its client id, and it stays.
	thieves := []struct{ user, cid string }{{"veh-2", "veh-1"}, {"ops", "veh-1"}, {"svc", "veh-1"}}
	for _, th := range thieves {
		if code := f.refused(t, &paho.Connect{ClientID: th.cid, CleanStart: false, Username: th.user, UsernameFlag: true,
			Password: []byte(f.pw[th.user]), PasswordFlag: true, Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}}); code != 0x85 {
			t.Errorf("%s as %s: CONNACK %#02x, want 0x85", th.user, th.cid, code)
		}
	}
	if code := v1.publish(t, wire.StatusTopic("veh-1"), []byte("still here")); code >= 0x80 {
		t.Fatalf("the owner was disturbed: %#02x", code)
	}
	// Offline, with a command queued.
	v1.Disconnect(&paho.Disconnect{})
	time.Sleep(100 * time.Millisecond)
	ops := f.login(t, "ops", "ops:1")
	if code := ops.publish(t, wire.CommandTopic("veh-1"), []byte("queued")); code >= 0x80 {
		t.Fatalf("command: %#02x", code)
	}
	for _, th := range thieves {
		if code := f.refused(t, &paho.Connect{ClientID: th.cid, CleanStart: false, Username: th.user, UsernameFlag: true,
			Password: []byte(f.pw[th.user]), PasswordFlag: true}); code != 0x85 {
			t.Errorf("%s as %s offline: CONNACK %#02x, want 0x85", th.user, th.cid, code)
		}
	}
	// The owner resumes its session and gets the command: it was there to steal.
	v1b, ack, err := connect(t, tcpDialer(f.s.Addr(ListenerMQTT)), owner())
	if err != nil {
		t.Fatal(err)
	}
	if !ack.SessionPresent {
		t.Error("the owner's session was not kept")
	}
	if p := v1b.expect(t, wire.CommandTopic("veh-1"), 5*time.Second); string(p.Payload) != "queued" {
		t.Errorf("queued command %q", p.Payload)
	}
}

func TestRetain(t *testing.T) {
	f := start(t, Options{})
	v1 := f.login(t, "veh-1", "veh-1")
	ops := f.login(t, "ops", "ops:1")
	pub := func(c *client, topic string, payload []byte) {
		ctx, cancel := contextWithTimeout()
		defer cancel()
		if _, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Retain: true, Payload: payload}); err != nil {
			t.Fatalf("publish %s: %v", topic, err)
		}
	}
	pub(v1, wire.BatchTopic("veh-1"), []byte("batch"))
	pub(v1, wire.StatusTopic("veh-1"), []byte("online"))
	pub(ops, wire.CommandTopic("veh-1"), []byte("reboot"))
	pub(ops, wire.NoticeTopic("c1"), []byte(strings.Repeat("n", int(DefaultMaxRetained)+1)))
	pub(ops, wire.NoticeTopic("c2"), []byte("fog"))
	for topic, want := range map[string]bool{
		wire.BatchTopic("veh-1"): false, wire.StatusTopic("veh-1"): true, wire.CommandTopic("veh-1"): false,
		wire.NoticeTopic("c1"): false, wire.NoticeTopic("c2"): true,
	} {
		if got := len(f.s.Topics.Messages(topic)) == 1; got != want {
			t.Errorf("%s retained: %v, want %v", topic, got, want)
		}
	}
}

// TestACLDenialLoggedOnce: a client that keeps publishing where it may
// not is counted each time and logged once.
func TestACLDenialLoggedOnce(t *testing.T) {
	f := start(t, Options{})
	v1 := f.login(t, "veh-1", "veh-1")
	for range 5 {
		if code := v1.publish(t, wire.BatchTopic("veh-2"), []byte("x")); code != 0x87 {
			t.Fatalf("PUBACK %#02x", code)
		}
	}
	if got := f.metric(t, f.s.m.aclDenied.WithLabelValues("vehicle", "publish")); got != 5 {
		t.Errorf("acl_denied = %v, want 5", got)
	}
	if n := strings.Count(f.logs.String(), "denied by the ACL"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, f.logs)
	}
}

func TestConnectionsGauge(t *testing.T) {
	f := start(t, Options{})
	v1 := f.login(t, "veh-1", "veh-1")
	f.login(t, "veh-2", "veh-2")
	f.login(t, "ops", "ops:1")
	gauge := func(role string) float64 { return f.metric(t, f.s.m.connections.WithLabelValues(role)) }
	if gauge("vehicle") != 2 || gauge("operator") != 1 || gauge("traffic") != 0 {
		t.Fatalf("connections %v %v %v", gauge("vehicle"), gauge("operator"), gauge("traffic"))
	}
	v1.Disconnect(&paho.Disconnect{})
	await.Until(t, 5*time.Second, "gauge down", func() bool { return gauge("vehicle") == 1 })
	await.Until(t, 5*time.Second, "disconnect counted", func() bool {
		return f.metric(t, f.s.m.disconnects.WithLabelValues("client")) == 1
	})
}
