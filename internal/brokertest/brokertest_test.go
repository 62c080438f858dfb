package brokertest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/mochi-mqtt/server/v2"
	mqttpackets "github.com/mochi-mqtt/server/v2/packets"
)

// login connects a paho v5 client and returns it with the CONNACK's code.
func login(t *testing.T, addr, user, password string) (*paho.Client, byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: packets.NewThreadSafeConn(conn), PacketTimeout: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cp := &paho.Connect{ClientID: "c-" + user, CleanStart: true, KeepAlive: 30}
	if user != "" {
		cp.Username, cp.UsernameFlag, cp.Password, cp.PasswordFlag = user, true, []byte(password), true
	}
	ack, err := c.Connect(ctx, cp)
	if ack == nil {
		conn.Close()
		if err == nil {
			t.Fatal("no CONNACK")
		}
		return nil, 0xFF
	}
	t.Cleanup(func() { c.Disconnect(&paho.Disconnect{}) })
	return c, ack.ReasonCode
}

func publish(t *testing.T, c *paho.Client, topic string) byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte("x")})
	if resp == nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
	return resp.ReasonCode
}

// TestRecordAndRefuse: everyone is let in, every PUBLISH is recorded, and
// Refuse answers chosen ones with a negative PUBACK.
func TestRecordAndRefuse(t *testing.T) {
	b := Start(t, Options{Refuse: func(m Message) byte {
		if m.Topic == "no" {
			return 0x97
		}
		return 0
	}})
	c, code := login(t, b.Addr, "", "")
	if code != 0 {
		t.Fatalf("CONNACK 0x%02x", code)
	}
	if rc := publish(t, c, "a/b"); rc != 0 {
		t.Errorf("PUBACK 0x%02x", rc)
	}
	if rc := publish(t, c, "no"); rc != 0x97 {
		t.Errorf("refused PUBACK 0x%02x, want 0x97", rc)
	}
	msgs := b.WaitFor(t, "a/", 5*time.Second, "the publish", func(m []Message) bool { return len(m) == 1 })
	if msgs[0].Topic != "a/b" || string(msgs[0].Payload) != "x" || msgs[0].Client != "c-" {
		t.Errorf("recorded %+v", msgs[0])
	}
	if n := len(b.Messages("")); n != 1 {
		t.Errorf("%d messages recorded, want the one not refused", n)
	}
}

// TestUsers: with Users, only those logins are accepted.
func TestUsers(t *testing.T) {
	b := Start(t, Options{Users: map[string]string{"veh-1": "pw"}})
	if _, code := login(t, b.Addr, "veh-1", "pw"); code != 0 {
		t.Errorf("the user: CONNACK 0x%02x", code)
	}
	if _, code := login(t, b.Addr, "veh-1", "wrong"); code == 0 {
		t.Error("a wrong password was let in")
	}
	if _, code := login(t, b.Addr, "", ""); code == 0 {
		t.Error("an anonymous login was let in")
	}
}

// TestDiscardHooksCapabilities: Discard records nothing, the test's hooks
// see every publish, and Capabilities reach mochi.
func TestDiscardHooksCapabilities(t *testing.T) {
	seen := make(chan string, 10)
	b := Start(t, Options{Discard: true, Hooks: []mqtt.Hook{&topicHook{seen: seen}},
		Capabilities: func(c *mqtt.Capabilities) { c.MaximumPacketSize = 4096 }})
	if b.Server.Options.Capabilities.MaximumPacketSize != 4096 {
		t.Errorf("MaximumPacketSize %d", b.Server.Options.Capabilities.MaximumPacketSize)
	}
	c, _ := login(t, b.Addr, "", "")
	publish(t, c, "t")
	select {
	case topic := <-seen:
		if topic != "t" {
			t.Errorf("hook saw %q", topic)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the test's hook saw nothing")
	}
	if n := len(b.Messages("")); n != 0 {
		t.Errorf("Discard recorded %d messages", n)
	}
}

type topicHook struct {
	mqtt.HookBase
	seen chan string
}

func (h *topicHook) ID() string           { return "test-topics" }
func (h *topicHook) Provides(e byte) bool { return e == mqtt.OnPublish }
func (h *topicHook) OnPublish(cl *mqtt.Client, pk mqttpackets.Packet) (mqttpackets.Packet, error) {
	if !cl.Net.Inline {
		h.seen <- pk.TopicName
	}
	return pk, nil
}
