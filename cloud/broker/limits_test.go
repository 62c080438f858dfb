package broker

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/kanal-dev/kanal/internal/await"
	"github.com/kanal-dev/kanal/internal/bytesize"
	"github.com/kanal-dev/kanal/internal/wire"
)

// TestPacketTooLarge: the largest batch the agent may build goes through;
// a bigger packet gets DISCONNECT 0x95, which a paho client sees as the
// server's reason, and the broker logs it once and counts it.
func TestPacketTooLarge(t *testing.T) {
	f := start(t, Options{})
	ops := f.login(t, "ops", "ops:1")
	ops.subscribe(t, wire.StatusTopic("+"))
	cp := &paho.Connect{ClientID: "veh-1", CleanStart: true, KeepAlive: 30, Username: "veh-1", UsernameFlag: true,
		Password: []byte(f.pw["veh-1"]), PasswordFlag: true,
		WillMessage: &paho.WillMessage{Topic: wire.StatusTopic("veh-1"), QoS: 1, Payload: []byte("gone")}}
	v1, _, err := connect(t, tcpDialer(f.s.Addr(ListenerMQTT)), cp)
	if err != nil {
		t.Fatal(err)
	}
	if code := v1.publish(t, wire.BatchTopic("veh-1"), make([]byte, 256*bytesize.KiB)); code >= 0x80 {
		t.Fatalf("a 256 KiB batch: PUBACK %#02x", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	go v1.Publish(ctx, &paho.Publish{Topic: wire.BatchTopic("veh-1"), QoS: 1, Payload: make([]byte, 300_000)})
	if code := v1.waitDisconnect(t, 5*time.Second); code != 0x95 {
		t.Fatalf("DISCONNECT %#02x, want 0x95", code)
	}
	if p := ops.expect(t, wire.StatusTopic("veh-1"), 5*time.Second); string(p.Payload) != "gone" {
		t.Errorf("will %q", p.Payload)
	}
	if got := f.metric(t, f.s.m.disconnects.WithLabelValues("packet_too_large")); got != 1 {
		t.Errorf("disconnects{packet_too_large} = %v", got)
	}
	if n := strings.Count(f.logs.String(), "packet too large"); n != 1 {
		t.Errorf("logged %d times:\n%s", n, f.logs)
	}
	// The broker goes on.
	f.login(t, "veh-2", "veh-2").publish(t, wire.BatchTopic("veh-2"), []byte("small"))
}

// TestPacketTooLargeConnect: an oversized CONNECT is closed without a
// word (no session to tell), before the broker reads its body.
func TestPacketTooLargeConnect(t *testing.T) {
	f := start(t, Options{})
	conn, err := net.Dial("tcp", f.s.Addr(ListenerMQTT))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte{0x10, 0xff, 0xff, 0xff, 0x7f}) // CONNECT of 256 MiB
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := conn.Read(make([]byte, 16)); n != 0 || err == nil {
		t.Fatalf("read %d bytes, %v; want the connection closed", n, err)
	}
	await.Until(t, 5*time.Second, "counted", func() bool { return f.metric(t, f.s.m.disconnects.WithLabelValues("packet_too_large")) == 1 })
}

// TestConnectTimeout: connections that do not send CONNECT in time are
// closed (plain and TLS, silent or stalled halfway).
func TestConnectTimeout(t *testing.T) {
	p := newPKI(t)
	f := start(t, Options{ConnectTimeout: 300 * time.Millisecond, MQTTSListen: "127.0.0.1:0", TLS: TLSOptions{Cert: p.certFile, Key: p.keyFile}})
	for _, tc := range []struct {
		name, addr string
		send       []byte
	}{
		{"silent", f.s.Addr(ListenerMQTT), nil},
		{"half a CONNECT", f.s.Addr(ListenerMQTT), []byte{0x10, 0x20, 0x00, 0x04, 'M', 'Q'}},
		{"silent on TLS, before the handshake", f.s.Addr(ListenerMQTTS), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.Write(tc.send)
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = io.Copy(io.Discard, conn)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("still open after 5s: no CONNECT timeout")
			}
		})
	}
	await.Until(t, 5*time.Second, "counted", func() bool { return f.metric(t, f.s.m.disconnects.WithLabelValues("connect_timeout")) == 3 })
	// A client that logs in in time is not cut by the connect deadline.
	v1 := f.login(t, "veh-1", "veh-1")
	time.Sleep(500 * time.Millisecond)
	if code := v1.publish(t, wire.StatusTopic("veh-1"), []byte("x")); code >= 0x80 {
		t.Fatalf("publish after the connect timeout: %#02x", code)
	}
}

// TestPerAddressLimit: the connection over the limit is closed at accept;
// one closed makes room again.
func TestPerAddressLimit(t *testing.T) {
	f := start(t, Options{MaxConnsPerAddress: 2})
	a := f.login(t, "veh-1", "veh-1")
	b, err := net.Dial("tcp", f.s.Addr(ListenerMQTT)) // counts before CONNECT too
	if err != nil {
		t.Fatal(err)
	}
	await.Until(t, 5*time.Second, "second connection counted", func() bool {
		f.s.addrs.mu.Lock()
		defer f.s.addrs.mu.Unlock()
		for _, n := range f.s.addrs.open {
			return n == 2
		}
		return false
	})
	for range 3 {
		c, err := net.Dial("tcp", f.s.Addr(ListenerMQTT))
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) && !isReset(err) {
			t.Fatalf("over the limit: read %d, %v; want closed", n, err)
		}
		c.Close()
	}
	if got := f.metric(t, f.s.m.disconnects.WithLabelValues("per_address_limit")); got != 3 {
		t.Errorf("disconnects{per_address_limit} = %v", got)
	}
	if n := strings.Count(f.logs.String(), "too many from one address"); n != 1 {
		t.Errorf("logged %d times", n)
	}
	if code := a.publish(t, wire.StatusTopic("veh-1"), []byte("x")); code >= 0x80 {
		t.Fatalf("the first client was disturbed: %#02x", code)
	}
	b.Close()
	await.Until(t, 5*time.Second, "room again", func() bool {
		c, _, err := connect(t, tcpDialer(f.s.Addr(ListenerMQTT)), &paho.Connect{ClientID: "veh-2", CleanStart: true, KeepAlive: 30,
			Username: "veh-2", UsernameFlag: true, Password: []byte(f.pw["veh-2"]), PasswordFlag: true})
		if err == nil {
			c.Disconnect(&paho.Disconnect{})
		}
		return err == nil
	})
}

func isReset(err error) bool { return err != nil && strings.Contains(err.Error(), "connection reset") }

// TestRateLimit: a client over its publish rate gets DISCONNECT 0x96, its
// last will goes out, and it is counted and logged once.
func TestRateLimit(t *testing.T) {
	f := start(t, Options{PublishRate: 5, PublishBurst: 5})
	ops := f.login(t, "ops", "ops:1")
	ops.subscribe(t, wire.StatusTopic("+"))
	v1, _, err := connect(t, tcpDialer(f.s.Addr(ListenerMQTT)), &paho.Connect{ClientID: "veh-1", CleanStart: true, KeepAlive: 30,
		Username: "veh-1", UsernameFlag: true, Password: []byte(f.pw["veh-1"]), PasswordFlag: true,
		WillMessage: &paho.WillMessage{Topic: wire.StatusTopic("veh-1"), QoS: 1, Payload: []byte("gone")}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for range 20 {
		if _, err := v1.Publish(ctx, &paho.Publish{Topic: wire.BatchTopic("veh-1"), QoS: 0, Payload: []byte("b")}); err != nil {
			break
		}
	}
	if code := v1.waitDisconnect(t, 5*time.Second); code != 0x96 {
		t.Fatalf("DISCONNECT %#02x, want 0x96", code)
	}
	if p := ops.expect(t, wire.StatusTopic("veh-1"), 5*time.Second); string(p.Payload) != "gone" {
		t.Errorf("will %q", p.Payload)
	}
	if got := f.metric(t, f.s.m.disconnects.WithLabelValues("rate_limit")); got != 1 {
		t.Errorf("disconnects{rate_limit} = %v", got)
	}
	if n := strings.Count(f.logs.String(), "reason=rate_limit"); n != 1 {
		t.Errorf("logged %d times:\n%s", n, f.logs)
	}
	// A client within its rate is not cut.
	v2 := f.login(t, "veh-2", "veh-2")
	for range 5 {
		if code := v2.publish(t, wire.StatusTopic("veh-2"), []byte("s")); code >= 0x80 {
			t.Fatalf("PUBACK %#02x", code)
		}
	}
}

// TestFloodDoesNotStarveOthers: one client publishing as fast as it can
// (no rate limit) does not keep another's QoS 1 publishes from being
// acknowledged; each must come back within the publish timeout.
func TestFloodDoesNotStarveOthers(t *testing.T) {
	f := start(t, Options{PublishRate: -1})
	flooder := f.login(t, "veh-1", "veh-1")
	other := f.login(t, "veh-2", "veh-2")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var flooded int
	wg.Go(func() {
		payload := make([]byte, 1024)
		for ctx.Err() == nil {
			if _, err := flooder.Publish(ctx, &paho.Publish{Topic: wire.BatchTopic("veh-1"), QoS: 0, Payload: payload}); err != nil {
				return
			}
			flooded++
		}
	})
	for i := range 50 {
		if code := other.publish(t, wire.BatchTopic("veh-2"), []byte{byte(i)}); code >= 0x80 {
			t.Errorf("publish %d: %#02x", i, code)
		}
	}
	cancel()
	wg.Wait()
	if flooded < 100 {
		t.Errorf("the flood sent only %d publishes: not a flood", flooded)
	}
}

// TestCloseWithSilentConnection: Close does not wait for a connection
// that never sent CONNECT (mochi's own Close would, without a timeout).
func TestCloseWithSilentConnection(t *testing.T) {
	f := start(t, Options{ConnectTimeout: time.Hour})
	conn, err := net.Dial("tcp", f.s.Addr(ListenerMQTT))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	f.login(t, "veh-1", "veh-1")
	done := make(chan struct{})
	go func() { f.s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waits for a silent connection")
	}
}
