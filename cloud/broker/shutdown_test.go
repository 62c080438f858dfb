package broker

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/mochi-mqtt/server/v2"
	mpackets "github.com/mochi-mqtt/server/v2/packets"

	"github.com/kanal-dev/kanal/internal/await"
	"github.com/kanal-dev/kanal/internal/wire"
)

// slowBridge holds every batch publish until released, as the bridge does
// while it waits for JetStream.
type slowBridge struct {
	mqtt.HookBase
	entered chan struct{}
	release chan struct{}
}

func (b *slowBridge) ID() string           { return "test-slow-bridge" }
func (b *slowBridge) Provides(e byte) bool { return e == mqtt.OnPublish }
func (b *slowBridge) OnPublish(cl *mqtt.Client, pk mpackets.Packet) (mpackets.Packet, error) {
	if _, leaf, ok := wire.VehicleOf(pk.TopicName); ok && leaf == "batch" {
		b.entered <- struct{}{}
		<-b.release
	}
	return pk, nil
}

// TestShutdown: a publish in flight at shutdown is finished and gets its
// PUBACK; new connections are refused and new publishes get 0x8B.
func TestShutdown(t *testing.T) {
	f := start(t, Options{})
	br := &slowBridge{entered: make(chan struct{}, 1), release: make(chan struct{})}
	if err := f.s.AddHook(br, nil); err != nil {
		t.Fatal(err)
	}
	v1, v2 := f.login(t, "veh-1", "veh-1"), f.login(t, "veh-2", "veh-2")
	acked := make(chan byte, 1)
	go func() { acked <- v1.publish(t, wire.BatchTopic("veh-1"), []byte("in flight")) }()
	<-br.entered
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.s.Shutdown(ctx) }()
	await.Until(t, 5*time.Second, "listener closed", func() bool {
		c, err := net.DialTimeout("tcp", f.s.Addr(ListenerMQTT), time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	// Another client's new publish is turned away with 0x8B.
	go v2.Publish(context.Background(), &paho.Publish{Topic: wire.StatusTopic("veh-2"), QoS: 1, Payload: []byte("late")})
	if code := v2.waitDisconnect(t, 5*time.Second); code != 0x8B {
		t.Errorf("new publish during shutdown: DISCONNECT %#02x, want 0x8B", code)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) with a publish in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(br.release)
	if code := <-acked; code >= 0x80 {
		t.Errorf("the publish in flight: PUBACK %#02x", code)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// TestShutdownDeadline: a publish that never finishes does not hold
// Shutdown past its context.
func TestShutdownDeadline(t *testing.T) {
	f := start(t, Options{})
	br := &slowBridge{entered: make(chan struct{}, 1), release: make(chan struct{})}
	f.s.AddHook(br, nil)
	v1 := f.login(t, "veh-1", "veh-1")
	go v1.Publish(context.Background(), &paho.Publish{Topic: wire.BatchTopic("veh-1"), QoS: 1, Payload: []byte("stuck")})
	<-br.entered
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.s.Shutdown(ctx) }()
	time.Sleep(200 * time.Millisecond)
	close(br.release) // Close waits for the read loops: let the stuck one go
	if err := <-done; err != context.DeadlineExceeded {
		t.Errorf("Shutdown = %v, want the deadline", err)
	}
}

// TestCloseUnderChurn: the broker closes while vehicles keep logging in
// and out, and every Close returns. That traffic is what mochi's own
// closing of a listener's clients can deadlock on (the clients' read lock
// taken twice, a login or logout asking for the write lock in between;
// the broker closes them through mqttlisten.Clients instead). That window
// is nanoseconds wide: this test does not hit it on demand (a full test
// run here did, in sim/loadgen), it guards Close against hanging on
// churn for any reason. Bounded: 10 rounds.
func TestCloseUnderChurn(t *testing.T) {
	for round := range 10 {
		f := start(t, Options{})
		addr := f.s.Addr(ListenerMQTT)
		var stop atomic.Bool
		var logins atomic.Int64
		var wg sync.WaitGroup
		for g := range 6 {
			user := []string{"veh-1", "veh-2"}[g%2]
			wg.Go(func() {
				for i := 0; !stop.Load() && i < 10000; i++ {
					if churnLogin(addr, user, f.pw[user]) {
						logins.Add(1)
					}
				}
			})
		}
		await.Until(t, 10*time.Second, "logins churning", func() bool { return logins.Load() >= 30 })
		closed := make(chan struct{})
		go func() { f.s.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: Close hung with vehicles logging in and out", round)
		}
		stop.Store(true)
		wg.Wait()
	}
}

// churnLogin logs in with MQTT v5 and hangs up, reporting whether the
// CONNACK came; it runs beside the test, so it fails nothing.
func churnLogin(addr, user, pw string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	pk := mpackets.Packet{FixedHeader: mpackets.FixedHeader{Type: mpackets.Connect}, ProtocolVersion: 5,
		Connect: mpackets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: user,
			UsernameFlag: true, Username: []byte(user), PasswordFlag: true, Password: []byte(pw)}}
	var b bytes.Buffer
	if pk.ConnectEncode(&b) != nil {
		return false
	}
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write(b.Bytes()); err != nil {
		return false
	}
	var head [2]byte
	_, err = io.ReadFull(c, head[:])
	return err == nil && head[0] == 0x20
}
