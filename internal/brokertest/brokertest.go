// Package brokertest runs a real mochi MQTT broker on loopback for tests of
// the agent's uplink, the simulator and the load generator, before and
// beside the gateway: by default it accepts everyone, records every
// PUBLISH it receives, and can answer chosen publishes with a negative
// PUBACK; a test can give it users, its own hooks and capabilities. Nothing
// here mocks MQTT: clients talk to mochi over TCP.
package brokertest

import (
	"bytes"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/kanal-dev/kanal/internal/await"
	"github.com/kanal-dev/kanal/internal/mqttlisten"
)

// Message is one PUBLISH the broker received from a client.
type Message struct {
	Client  string
	Topic   string
	Payload []byte
	Retain  bool
	At      time.Time
}

// Options configures a Broker.
type Options struct {
	// Addr is the TCP address to listen on; "" picks a free loopback port.
	// Give the Addr of a closed Broker to restart "the same" broker.
	Addr string
	// Refuse, when set, is asked about every PUBLISH: a non-zero code is
	// sent back as the PUBACK's reason code (a bare packets.Code, the only
	// form mochi turns into a negative PUBACK) and the message is not
	// recorded.
	Refuse func(m Message) byte

	// Users, when set, are the only logins accepted (user name to
	// password), each allowed to publish and subscribe anywhere.
	Users map[string]string
	// Auth, when set, is the authentication hook instead (with AuthConfig
	// as its config): mochi's own auth.Hook with rules, or a test's.
	Auth       mqtt.Hook
	AuthConfig any
	// Hooks are added after the recorder, each with a nil config.
	Hooks []mqtt.Hook
	// Capabilities, when set, changes mochi's default capabilities.
	Capabilities func(*mqtt.Capabilities)
	// Discard records nothing: for load tests, where a record of every
	// message would grow without bound (and its collections would be what
	// the test measures).
	Discard bool
}

// Broker is a running mochi server.
type Broker struct {
	Server *mqtt.Server
	Addr   string

	opts  Options
	close sync.Once
	mu    sync.Mutex
	msgs  []Message
	wake  chan struct{}
}

// Start starts a broker and stops it when the test ends.
func Start(t testing.TB, opts Options) *Broker {
	t.Helper()
	await.WatchHangs(t)
	b := &Broker{opts: opts, wake: make(chan struct{})}
	caps := mqtt.NewDefaultServerCapabilities()
	if opts.Capabilities != nil {
		opts.Capabilities(caps)
	}
	srv := mqtt.New(&mqtt.Options{InlineClient: true, Capabilities: caps, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	authHook, authConfig := opts.Auth, opts.AuthConfig
	switch {
	case authHook != nil:
	case opts.Users != nil:
		var rules auth.AuthRules
		for u, p := range opts.Users {
			rules = append(rules, auth.AuthRule{Username: auth.RString(u), Password: auth.RString(p), Allow: true})
		}
		authHook, authConfig = new(auth.Hook), &auth.Options{Ledger: &auth.Ledger{Auth: rules,
			ACL: auth.ACLRules{{Filters: auth.Filters{"#": auth.ReadWrite}}}}}
	default:
		authHook = new(auth.AllowHook)
	}
	if err := srv.AddHook(authHook, authConfig); err != nil {
		t.Fatal(err)
	}
	if !opts.Discard || opts.Refuse != nil {
		if err := srv.AddHook(&recorder{b: b}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range opts.Hooks {
		if err := srv.AddHook(h, nil); err != nil {
			t.Fatal(err)
		}
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var err error
	for range 50 { // a restarted broker's port may be in TIME_WAIT for a moment
		tcp := mqttlisten.NewTCP(srv, "tcp", addr) // closes cleanly, unlike mochi's
		if err = srv.AddListener(tcp); err == nil {
			b.Addr = tcp.Address()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("broker listen %s: %v", addr, err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	b.Server = srv
	t.Cleanup(func() { b.Close() })
	return b
}

// URL is the broker's mqtt:// URL.
func (b *Broker) URL() string { return "mqtt://" + b.Addr }

// Close stops the broker and drops every connection.
func (b *Broker) Close() { b.close.Do(func() { b.Server.Close() }) }

// Messages returns the messages received on topics starting with prefix.
func (b *Broker) Messages(prefix string) []Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Message
	for _, m := range b.msgs {
		if len(m.Topic) >= len(prefix) && m.Topic[:len(prefix)] == prefix {
			out = append(out, m)
		}
	}
	return out
}

// WaitFor waits until cond holds for the messages on topics starting with
// prefix, or fails the test after timeout.
func (b *Broker) WaitFor(t testing.TB, prefix string, timeout time.Duration, what string, cond func([]Message) bool) []Message {
	t.Helper()
	deadline := time.After(timeout)
	for {
		b.mu.Lock()
		wake := b.wake
		b.mu.Unlock()
		msgs := b.Messages(prefix)
		if cond(msgs) {
			return msgs
		}
		select {
		case <-wake:
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatalf("broker: %s not seen within %v (%d messages on %s*)", what, timeout, len(msgs), prefix)
		}
	}
}

// Publish sends a message from the broker itself (commands, notices).
func (b *Broker) Publish(t testing.TB, topic string, payload []byte) {
	t.Helper()
	if err := b.Server.Publish(topic, payload, false, 1); err != nil {
		t.Fatal(err)
	}
}

type recorder struct {
	mqtt.HookBase
	b *Broker
}

func (r *recorder) ID() string { return "kanal-brokertest" }

func (r *recorder) Provides(e byte) bool { return e == mqtt.OnPublish }

// OnPublish records the message, or refuses it with a bare reason code.
func (r *recorder) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	m := Message{Client: cl.ID, Topic: pk.TopicName, Payload: bytes.Clone(pk.Payload), Retain: pk.FixedHeader.Retain, At: time.Now()}
	if r.b.opts.Refuse != nil {
		if code := r.b.opts.Refuse(m); code != 0 {
			return pk, packets.Code{Code: code, Reason: "refused by the test"}
		}
	}
	b := r.b
	if b.opts.Discard {
		return pk, nil
	}
	b.mu.Lock()
	b.msgs = append(b.msgs, m)
	close(b.wake)
	b.wake = make(chan struct{})
	b.mu.Unlock()
	return pk, nil
}
