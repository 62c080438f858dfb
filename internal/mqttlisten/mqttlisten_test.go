package mqttlisten

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/packets"
)

// start runs a broker on a loopback port with the listener wrapped.
func start(t *testing.T) (*mqtt.Server, string) {
	t.Helper()
	srv := mqtt.New(&mqtt.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	tcp := NewTCP(srv, "tcp", "127.0.0.1:0")
	if err := srv.AddListener(tcp); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	return srv, tcp.Address()
}

// connect logs in as id with MQTT v5 and returns the connection after the
// CONNACK.
func connect(addr, id string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 5,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: id}}
	if err := pk.ConnectEncode(&buf); err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write(buf.Bytes()); err != nil {
		c.Close()
		return nil, err
	}
	var head [2]byte // CONNACK and a remaining length under 128
	if _, err := io.ReadFull(c, head[:]); err != nil || head[0]>>4 != packets.Connack || head[1] >= 128 {
		c.Close()
		return nil, io.ErrUnexpectedEOF
	}
	if _, err := io.CopyN(io.Discard, c, int64(head[1])); err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// TestCloseDisconnects: Close sends the logged-in clients DISCONNECT with
// 0x8B, as mochi's own closing does.
func TestCloseDisconnects(t *testing.T) {
	srv, addr := start(t)
	var conns []net.Conn
	for _, id := range []string{"a", "b", "c"} {
		c, err := connect(addr, id)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(c)
		// DISCONNECT, remaining length, reason code 0x8B, properties
		if len(b) < 3 || b[0] != packets.Disconnect<<4 || b[2] != packets.ErrServerShuttingDown.Code {
			t.Errorf("client %d read % x on Close, want DISCONNECT 0x8B", i, b)
		}
	}
}

// TestCloseUnderChurn: the broker closes while clients keep connecting
// and disconnecting, and every Close returns. With mochi's own TCP
// listener in its place this test panics within a few runs ("WaitGroup is
// reused before previous Wait has returned"); mochi's deadlock in
// GetByListener has a window too narrow to hit on demand. Bounded: 30
// rounds of at most a few seconds each.
func TestCloseUnderChurn(t *testing.T) {
	rounds := 30
	if testing.Short() {
		rounds = 5
	}
	for round := range rounds {
		srv, addr := start(t)
		var stop atomic.Bool
		var wg sync.WaitGroup
		var logins atomic.Int64
		for g := range 8 {
			wg.Go(func() {
				for i := 0; !stop.Load() && i < 10000; i++ {
					c, err := connect(addr, string(rune('a'+g))+"-"+time.Now().Format("150405.000000000"))
					if err != nil {
						continue
					}
					logins.Add(1)
					c.Close()
				}
			})
		}
		for logins.Load() < 50 && !stop.Load() { // churning
			time.Sleep(time.Millisecond)
		}
		closed := make(chan struct{})
		go func() { srv.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: Close hung with clients connecting and disconnecting", round)
		}
		stop.Store(true)
		wg.Wait()
	}
}
