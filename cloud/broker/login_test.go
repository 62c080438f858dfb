package broker

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/kanal-dev/kanal/cloud/auth"
	"github.com/kanal-dev/kanal/internal/wire"
)

func TestLoginRefusals(t *testing.T) {
	f := start(t, Options{})
	pw := func(u string) []byte { return []byte(f.pw[u]) }
	for _, tc := range []struct {
		name   string
		cp     paho.Connect
		code   byte
		reason string
	}{
		{"wrong password", paho.Connect{ClientID: "veh-1", Username: "veh-1", UsernameFlag: true, Password: pw("veh-2"), PasswordFlag: true}, 0x86, refusedBadPassword},
		{"empty password", paho.Connect{ClientID: "veh-1", Username: "veh-1", UsernameFlag: true}, 0x86, refusedBadPassword},
		{"unknown user", paho.Connect{ClientID: "veh-9", Username: "veh-9", UsernameFlag: true, Password: pw("veh-1"), PasswordFlag: true}, 0x86, refusedUnknownUser},
		{"no credentials", paho.Connect{ClientID: "veh-1"}, 0x86, refusedNoCredentials},
		{"vehicle as another vehicle", paho.Connect{ClientID: "veh-2", Username: "veh-1", UsernameFlag: true, Password: pw("veh-1"), PasswordFlag: true}, 0x85, refusedClientID},
		{"vehicle without client id", paho.Connect{Username: "veh-1", UsernameFlag: true, Password: pw("veh-1"), PasswordFlag: true}, 0x85, refusedClientID},
		{"vehicle with a suffix", paho.Connect{ClientID: "veh-1:x", Username: "veh-1", UsernameFlag: true, Password: pw("veh-1"), PasswordFlag: true}, 0x85, refusedClientID},
		{"operator as a vehicle", paho.Connect{ClientID: "veh-1", Username: "ops", UsernameFlag: true, Password: pw("ops"), PasswordFlag: true}, 0x85, refusedClientID},
		{"operator without its prefix", paho.Connect{ClientID: "ops", Username: "ops", UsernameFlag: true, Password: pw("ops"), PasswordFlag: true}, 0x85, refusedClientID},
		{"operator as another user", paho.Connect{ClientID: "svc:1", Username: "ops", UsernameFlag: true, Password: pw("ops"), PasswordFlag: true}, 0x85, refusedClientID},
		{"operator with a longer name's prefix", paho.Connect{ClientID: "opsx:1", Username: "ops", UsernameFlag: true, Password: pw("ops"), PasswordFlag: true}, 0x85, refusedClientID},
		{"client id too long", paho.Connect{ClientID: "ops:" + strings.Repeat("x", 300), Username: "ops", UsernameFlag: true, Password: pw("ops"), PasswordFlag: true}, 0x85, refusedClientID},
		{"traffic as a vehicle", paho.Connect{ClientID: "veh-2", Username: "svc", UsernameFlag: true, Password: pw("svc"), PasswordFlag: true}, 0x85, refusedClientID},
		{"will on an alert", paho.Connect{ClientID: "veh-1", Username: "veh-1", UsernameFlag: true, Password: pw("veh-1"), PasswordFlag: true,
			WillMessage: &paho.WillMessage{Topic: wire.AlertTopic("fog", "89c25"), QoS: 1, Payload: []byte("fake")}}, 0x87, refusedWillTopic},
		{"will as another vehicle", paho.Connect{ClientID: "veh-1", Username: "veh-1", UsernameFlag: true, Password: pw("veh-1"), PasswordFlag: true,
			WillMessage: &paho.WillMessage{Topic: wire.StatusTopic("veh-2"), QoS: 1, Payload: []byte("offline")}}, 0x87, refusedWillTopic},
		{"traffic with a will", paho.Connect{ClientID: "svc:1", Username: "svc", UsernameFlag: true, Password: pw("svc"), PasswordFlag: true,
			WillMessage: &paho.WillMessage{Topic: wire.NoticeTopic("89c25"), QoS: 1, Payload: []byte("x")}}, 0x87, refusedWillTopic},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.metric(t, f.s.m.refused.WithLabelValues(tc.reason))
			cp := tc.cp
			cp.CleanStart = true
			if code := f.refused(t, &cp); code != tc.code {
				t.Errorf("CONNACK %#02x, want %#02x", code, tc.code)
			}
			if got := f.metric(t, f.s.m.refused.WithLabelValues(tc.reason)); got != before+1 {
				t.Errorf("refused{%s} went from %v to %v", tc.reason, before, got)
			}
		})
	}
	// And the good ones, after all that.
	f.login(t, "veh-1", "veh-1")
	f.login(t, "svc", "svc:")
	f.login(t, "ops", "ops:console-1")
	c, _, err := connect(t, tcpDialer(f.s.Addr(ListenerMQTT)), &paho.Connect{ClientID: "veh-2", CleanStart: true,
		Username: "veh-2", UsernameFlag: true, Password: pw("veh-2"), PasswordFlag: true,
		WillMessage: &paho.WillMessage{Topic: wire.StatusTopic("veh-2"), QoS: 1, Retain: true, Payload: []byte("offline")}})
	if err != nil {
		t.Fatalf("vehicle with its own will: %v", err)
	}
	c.Disconnect(&paho.Disconnect{})
	if got := f.metric(t, f.s.m.refused.WithLabelValues(refusedOther)); got != 0 {
		t.Errorf("refused{other} = %v", got)
	}
}

func TestLoginMQTT311Refused(t *testing.T) {
	f := start(t, Options{})
	conn, err := net.Dial("tcp", f.s.Addr(ListenerMQTT))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if code := rawConnect(t, conn, 4, "veh-1", "veh-1", f.pw["veh-1"]); code != 0x01 {
		t.Fatalf("MQTT 3.1.1 CONNACK return code %#02x, want 0x01 (unacceptable protocol version)", code)
	}
	if got := f.metric(t, f.s.m.refused.WithLabelValues(refusedProtocol)); got != 1 {
		t.Errorf("refused{protocol} = %v", got)
	}
	// v5 on the same kind of raw connection works.
	conn2, _ := net.Dial("tcp", f.s.Addr(ListenerMQTT))
	defer conn2.Close()
	if code := rawConnect(t, conn2, 5, "veh-1", "veh-1", f.pw["veh-1"]); code != 0 {
		t.Fatalf("v5 CONNACK %#02x", code)
	}
}

func TestConnackProperties(t *testing.T) {
	f := start(t, Options{})
	_, ack, err := connect(t, tcpDialer(f.s.Addr(ListenerMQTT)), &paho.Connect{CleanStart: true, KeepAlive: 0,
		Username: "ops", UsernameFlag: true, Password: []byte(f.pw["ops"]), PasswordFlag: true})
	if err != nil {
		t.Fatal(err)
	}
	p := ack.Properties
	if p == nil || !strings.HasPrefix(p.AssignedClientID, "ops:") || len(p.AssignedClientID) < 10 {
		t.Errorf("assigned client id %+v, want ops:<random>", p)
	}
	if p.ServerKeepAlive == nil || *p.ServerKeepAlive != 300 {
		t.Errorf("server keep-alive %v, want 300 for a client asking for none", p.ServerKeepAlive)
	}
	if p.MaximumPacketSize == nil || *p.MaximumPacketSize != uint32(DefaultMaxPacketSize) {
		t.Errorf("maximum packet size %v, want %d", p.MaximumPacketSize, DefaultMaxPacketSize)
	}
	if p.ReceiveMaximum == nil || *p.ReceiveMaximum != DefaultReceiveMaximum {
		t.Errorf("receive maximum %v", p.ReceiveMaximum)
	}
	if p.MaximumQoS == nil || *p.MaximumQoS != 1 {
		t.Errorf("maximum QoS %v, want 1", p.MaximumQoS)
	}
	if p.TopicAliasMaximum != nil && *p.TopicAliasMaximum != 0 {
		t.Errorf("topic alias maximum %v, want 0", *p.TopicAliasMaximum)
	}
	// A keep-alive under the cap is the client's own.
	_, ack, err = connect(t, tcpDialer(f.s.Addr(ListenerMQTT)), &paho.Connect{ClientID: "veh-1", CleanStart: true, KeepAlive: 30,
		Username: "veh-1", UsernameFlag: true, Password: []byte(f.pw["veh-1"]), PasswordFlag: true})
	if err != nil {
		t.Fatal(err)
	}
	if ack.Properties != nil && ack.Properties.ServerKeepAlive != nil {
		t.Errorf("server keep-alive %d for a client under the cap", *ack.Properties.ServerKeepAlive)
	}
}

// TestLoginBusy: in a login storm a login that finds no free hasher
// within HashWait gets 0x89 (server busy) and may retry, instead of
// queueing without end.
func TestLoginBusy(t *testing.T) {
	f := start(t, Options{}, func(o *auth.Options) { o.MaxHashers, o.HashWait, o.CacheTTL = 1, 30*time.Millisecond, -1 })
	if _, err := auth.AddUser(f.file, "slow", auth.RoleOperator, auth.AddOptions{Cost: 12, Replace: true}); err != nil {
		t.Fatal(err) // about 0.25 s per verification on the reference machine, far over HashWait
	}
	if err := f.s.Reload(); err != nil {
		t.Fatal(err)
	}
	codes := make(chan byte, 3)
	for range 3 {
		go func() {
			codes <- f.refused(t, &paho.Connect{ClientID: "slow:1", CleanStart: true,
				Username: "slow", UsernameFlag: true, Password: []byte("wrong"), PasswordFlag: true})
		}()
	}
	busy := 0
	for range 3 {
		switch c := <-codes; c {
		case 0x89:
			busy++
		case 0x86:
		default:
			t.Errorf("CONNACK %#02x", c)
		}
	}
	if busy == 0 {
		t.Error("no login was refused as busy")
	}
	if got := f.metric(t, f.s.m.refused.WithLabelValues(refusedBusy)); got != float64(busy) {
		t.Errorf("refused{busy} = %v, want %d", got, busy)
	}
}
