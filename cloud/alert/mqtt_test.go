package alert

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// startMochi runs a real mochi broker on loopback with its inline client,
// as the gateway does, and returns it with its address.
func startMochi(t testing.TB) (*mqtt.Server, string) {
	t.Helper()
	srv := mqtt.New(&mqtt.Options{InlineClient: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "tcp", Address: "127.0.0.1:0"})
	if err := srv.AddListener(tcp); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, tcp.Address()
}

// subscriber is a real paho v5 client subscribed to some filters.
type subscriber struct {
	c        *paho.Client
	received chan *paho.Publish
}

func subscribe(t testing.TB, addr, id string, filters ...string) *subscriber {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s := &subscriber{received: make(chan *paho.Publish, 1000)}
	s.c = paho.NewClient(paho.ClientConfig{
		Conn:          packets.NewThreadSafeConn(conn),
		PacketTimeout: 5 * time.Second,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(r paho.PublishReceived) (bool, error) {
			s.received <- r.Packet
			return true, nil
		}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.c.Disconnect(&paho.Disconnect{}); conn.Close() })
	var subs []paho.SubscribeOptions
	for _, f := range filters {
		subs = append(subs, paho.SubscribeOptions{Topic: f, QoS: 1})
	}
	if _, err := s.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: subs}); err != nil {
		t.Fatal(err)
	}
	return s
}

// next returns the next message, failing the test after timeout.
func (s *subscriber) next(t testing.TB, what string) *paho.Publish {
	t.Helper()
	select {
	case p := <-s.received:
		return p
	case <-time.After(testTimeout):
		t.Fatalf("%s: nothing received within %v", what, testTimeout)
		return nil
	}
}
