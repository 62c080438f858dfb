package alert

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/kanal-dev/kanal/internal/brokertest"
	mqtt "github.com/mochi-mqtt/server/v2"
)

// startMochi runs a real mochi broker on loopback with its inline client,
// as the gateway does, and returns it with its address.
func startMochi(t testing.TB) (*mqtt.Server, string) {
	t.Helper()
	b := brokertest.Start(t, brokertest.Options{})
	return b.Server, b.Addr
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
