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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kanal-dev/kanal/internal/await"
	"github.com/kanal-dev/kanal/internal/freeport"
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
// JetStream mid-stream. Its port comes from below the ephemeral range, as
// the cluster ports do, so that a restart on it (Port: the old one) does
// not find it taken by another test's outgoing connection.
func RunServer(t testing.TB, o ServerOptions) *server.Server {
	t.Helper()
	await.WatchHangs(t)
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.Name == "" {
		o.Name = "kanal-test"
	}
	fixed := o.Port != 0
	for attempt := 1; ; attempt++ {
		port := o.Port
		if !fixed {
			ports, err := pickPorts(1)
			if err != nil {
				t.Fatal(err)
			}
			port = ports[0]
		}
		s, err := start(&server.Options{ServerName: o.Name, Host: "127.0.0.1", Port: port,
			JetStream: true, StoreDir: o.Dir, NoSigs: true})
		if err == nil {
			t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
			return s
		}
		// a picked port taken in the meantime: pick another; a given one
		// may be free again in a moment
		if attempt == 20 {
			t.Fatal(err)
		}
		if fixed {
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// RunCluster starts n nats-servers with JetStream joined in one cluster on
// loopback, each with its own store directory, and waits until JetStream
// answers on it (a meta leader is elected). JetStream wants every node to
// have its routes configured, so the cluster ports are picked before any
// node starts. Between the pick and the start another process may take a
// port (a client's ephemeral port, most often, which is why the picks come
// from below the ephemeral range): then the whole cluster starts again on
// new ports.
func RunCluster(t testing.TB, n int) []*server.Server {
	t.Helper()
	await.WatchHangs(t)
	var servers []*server.Server
	var err error
	for attempt := 1; ; attempt++ {
		if servers, err = startCluster(t, n); err == nil {
			break
		}
		if attempt == 5 {
			t.Fatalf("nats cluster of %d, %d attempts: %v", n, attempt, err)
		}
		t.Logf("nats cluster of %d, attempt %d: %v; again on other ports", n, attempt, err)
	}
	for _, s := range servers {
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
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

// startCluster starts the n nodes of a cluster on freshly picked cluster
// ports, or stops those it started and says why one did not start.
func startCluster(t testing.TB, n int) ([]*server.Server, error) {
	ports, err := pickPorts(n)
	if err != nil {
		return nil, err
	}
	routes := make([]string, n)
	for i, p := range ports {
		routes[i] = fmt.Sprintf("nats://127.0.0.1:%d", p)
	}
	servers := make([]*server.Server, 0, n)
	for i := range n {
		opts := &server.Options{ServerName: fmt.Sprintf("kanal-%d", i), Host: "127.0.0.1", Port: server.RANDOM_PORT,
			JetStream: true, StoreDir: t.TempDir(), NoSigs: true,
			Cluster: server.ClusterOpts{Name: "kanal-test", Host: "127.0.0.1", Port: ports[i]},
			Routes:  server.RoutesFromStr(strings.Join(routes, ","))}
		s, err := start(opts)
		if err != nil {
			for _, s := range servers {
				s.Shutdown()
				s.WaitForShutdown()
			}
			return nil, err
		}
		servers = append(servers, s)
	}
	return servers, nil
}

// pickPorts is freeport.Ports; a test makes it pick a taken port.
var pickPorts = freeport.Ports

// readyWait bounds a server's start: a slow machine under -race starts one
// in well under a second, and a failed listener is seen at once in its log.
const readyWait = 20 * time.Second

// start starts a server and waits until it takes connections, or returns
// the errors it logged (a port taken, a bad store directory) once it has
// stopped it again. Servers log nothing else: the tests would drown in it.
func start(opts *server.Options) (*server.Server, error) {
	opts = opts.Clone() // NewServer writes the ports it got into its options
	opts.NoLog = false
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats-server %s: %w", opts.ServerName, err)
	}
	log := &errorLog{}
	s.SetLogger(log, false, false)
	s.Start()
	deadline := time.Now().Add(readyWait)
	for !s.ReadyForConnections(100 * time.Millisecond) {
		if log.fatal() || time.Now().After(deadline) {
			s.Shutdown()
			s.WaitForShutdown()
			why := log.String()
			if why == "" {
				why = fmt.Sprintf("nothing logged within %s", readyWait)
			}
			return nil, fmt.Errorf("nats-server %s not ready: %s", opts.ServerName, why)
		}
	}
	return s, nil
}

// errorLog is a nats-server logger that keeps the first fatal errors and
// errors and drops everything else.
type errorLog struct {
	mu             sync.Mutex
	fatals, errors []string
}

func (l *errorLog) add(fatal bool, format string, v []any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	to := &l.errors
	if fatal {
		to = &l.fatals
	}
	if len(*to) < 5 {
		*to = append(*to, fmt.Sprintf(format, v...))
	}
}

func (l *errorLog) fatal() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.fatals) > 0
}

// String is the fatal errors, then the errors.
func (l *errorLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(append(append([]string(nil), l.fatals...), l.errors...), "; ")
}

func (l *errorLog) Fatalf(format string, v ...any) { l.add(true, format, v) }
func (l *errorLog) Errorf(format string, v ...any) { l.add(false, format, v) }
func (l *errorLog) Noticef(string, ...any)         {}
func (l *errorLog) Warnf(string, ...any)           {}
func (l *errorLog) Debugf(string, ...any)          {}
func (l *errorLog) Tracef(string, ...any)          {}

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

// Read returns every message of stream, in order, bounded by a deadline;
// with subjects, only those on them.
func Read(t testing.TB, js jetstream.JetStream, stream string, subjects ...string) []Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("read stream %s: %v", stream, err)
	}
	total := st.CachedInfo().State.Msgs // what a read of the whole stream wants
	var out []Message
	if total == 0 {
		return out
	}
	// An ordered consumer sets up a new server-side consumer on every
	// fetch, by default retrying forever: bounded here, so a test whose
	// JetStream went away fails with the reason instead of hanging.
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: subjects, MaxResetAttempts: resetAttempts})
	if err != nil {
		t.Fatalf("read stream %s: %v", stream, err)
	}
	var lastErr error
	for {
		batch, err := cons.Fetch(int(min(500, total-uint64(len(out)))), jetstream.FetchMaxWait(time.Second))
		if err != nil {
			t.Fatalf("read stream %s: %v", stream, err)
		}
		n, pending := 0, uint64(1)
		for m := range batch.Messages() {
			md, err := m.Metadata()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, Message{Seq: md.Sequence.Stream, Subject: m.Subject(), Header: m.Headers(), Data: m.Data()})
			n, pending = n+1, md.NumPending
		}
		switch {
		case uint64(len(out)) == total, pending == 0:
			return out
		case len(subjects) > 0 && len(out) == 0 && n == 0:
			return out // a second's wait and nothing on the subjects
		}
		if err := batch.Error(); err != nil {
			lastErr = err // a fetch that timed out: try again until the deadline
		}
		if ctx.Err() != nil {
			t.Fatalf("read stream %s: %d of %d messages before the deadline (last error: %v)", stream, len(out), total, lastErr)
		}
	}
}

// resetAttempts bounds how often an ordered consumer tries to set itself
// up: after a second, two and four (nats.go's back-off), each try bounded
// by 10 s.
const resetAttempts = 3

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
