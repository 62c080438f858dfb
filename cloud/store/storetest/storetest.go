// Package storetest runs real nats-servers with JetStream in the test's
// process, on loopback and temporary directories, for every test that needs
// JetStream (the store, the bridge, the gateway, the alert engine, the
// twins, the API and the commands): one server, or a cluster of several
// joined by routes. It also reads a stream back into a ledger of message ids,
// the check behind every exactly-once test. Nothing here mocks NATS.
package storetest

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ServerOptions configures RunServer.
type ServerOptions struct {
	// Dir is the JetStream store directory; "" is a new t.TempDir(). Give a
	// stopped server's Dir (and Port) to restart "the same" server.
	Dir string
	// Port is the client port; 0 picks a free one.
	Port int
	// Name is the server name; "" is "kanal-test".
	Name string
}

// RunServer starts a nats-server with JetStream and shuts it down when the
// test ends. Shutting it down earlier (s.Shutdown) is how a test stops
// JetStream mid-stream.
func RunServer(t testing.TB, o ServerOptions) *server.Server {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.Port == 0 {
		o.Port = server.RANDOM_PORT
	}
	if o.Name == "" {
		o.Name = "kanal-test"
	}
	opts := &server.Options{ServerName: o.Name, Host: "127.0.0.1", Port: o.Port,
		JetStream: true, StoreDir: o.Dir, NoLog: true, NoSigs: true}
	return start(t, opts)
}

// RunCluster starts n nats-servers with JetStream joined in one cluster on
// loopback, each with its own store directory, and waits until JetStream
// answers on it (a meta leader is elected). JetStream wants every node to
// have its routes configured, so the cluster ports are picked first.
func RunCluster(t testing.TB, n int) []*server.Server {
	t.Helper()
	routes := make([]string, n)
	ports := make([]int, n)
	for i := range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		routes[i] = fmt.Sprintf("nats://127.0.0.1:%d", ports[i])
		l.Close()
	}
	servers := make([]*server.Server, n)
	for i := range n {
		opts := &server.Options{ServerName: fmt.Sprintf("kanal-%d", i), Host: "127.0.0.1", Port: server.RANDOM_PORT,
			JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
			Cluster: server.ClusterOpts{Name: "kanal-test", Host: "127.0.0.1", Port: ports[i]},
			Routes:  server.RoutesFromStr(strings.Join(routes, ","))}
		servers[i] = start(t, opts)
	}
	_, js := Connect(t, URLs(servers...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		actx, acancel := context.WithTimeout(ctx, time.Second)
		_, err := js.AccountInfo(actx)
		acancel()
		if err == nil {
			return servers
		}
		select {
		case <-ctx.Done():
			t.Fatalf("nats cluster of %d: jetstream not ready: %v", n, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func start(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	fixed := opts.Port != server.RANDOM_PORT // NewServer writes the port it got into its options
	for attempt := 0; ; attempt++ {
		s, err := server.NewServer(opts.Clone())
		if err != nil {
			t.Fatalf("nats-server %s: %v", opts.ServerName, err)
		}
		s.Start()
		if s.ReadyForConnections(10 * time.Second) {
			t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
			return s
		}
		s.Shutdown()
		s.WaitForShutdown()
		// a restarted server's port may be in TIME_WAIT for a moment;
		// anything else is not going to get better
		if !fixed || attempt == 20 {
			t.Fatalf("nats-server %s not ready", opts.ServerName)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// URLs returns the client URLs of servers, for Connect.
func URLs(servers ...*server.Server) []string {
	urls := make([]string, len(servers))
	for i, s := range servers {
		urls[i] = s.ClientURL()
	}
	return urls
}

// Connect opens a NATS connection to urls that reconnects forever, quickly,
// as a gateway's does, and closes it when the test ends.
func Connect(t testing.TB, urls ...string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(strings.Join(urls, ","),
		nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond), nats.ReconnectJitter(0, 0),
		nats.Timeout(2*time.Second), nats.RetryOnFailedConnect(false))
	if err != nil {
		t.Fatalf("connect to nats %v: %v", urls, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// Message is one message read back from a stream.
type Message struct {
	Seq     uint64
	Subject string
	Header  nats.Header
	Data    []byte
}

// Read returns every message of stream, in order, bounded by a deadline.
func Read(t testing.TB, js jetstream.JetStream, stream string) []Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("read stream %s: %v", stream, err)
	}
	want := st.CachedInfo().State.Msgs
	var out []Message
	if want == 0 {
		return out
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("read stream %s: %v", stream, err)
	}
	var lastErr error
	for uint64(len(out)) < want {
		batch, err := cons.Fetch(int(min(500, want-uint64(len(out)))), jetstream.FetchMaxWait(time.Second))
		if err != nil {
			t.Fatalf("read stream %s: %v", stream, err)
		}
		for m := range batch.Messages() {
			md, err := m.Metadata()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, Message{Seq: md.Sequence.Stream, Subject: m.Subject(), Header: m.Headers(), Data: m.Data()})
		}
		if err := batch.Error(); err != nil {
			lastErr = err // a fetch that timed out: try again until the deadline
		}
		if ctx.Err() != nil {
			t.Fatalf("read stream %s: %d of %d messages before the deadline (last error: %v)", stream, len(out), want, lastErr)
		}
	}
	return out
}

// Ledger counts the messages of stream by Nats-Msg-Id: an exactly-once
// test wants every id it sent with a count of 1.
func Ledger(t testing.TB, js jetstream.JetStream, stream string) map[string]int {
	t.Helper()
	ledger := map[string]int{}
	for _, m := range Read(t, js, stream) {
		ledger[m.Header.Get(jetstream.MsgIDHeader)]++
	}
	return ledger
}
