package storetest

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kanal-dev/kanal/internal/freeport"
)

// TestRestartKeepsStreams: a server restarted on its directory and port
// has its streams back, a connection made before the restart reconnects by
// itself, and Ledger counts an id stored twice (after the window) as 2.
func TestRestartKeepsStreams(t *testing.T) {
	dir := t.TempDir()
	s := RunServer(t, ServerOptions{Dir: dir})
	port := s.Addr().(*net.TCPAddr).Port
	_, js := Connect(t, s.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Duplicates: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	pub := func(id string) {
		t.Helper()
		if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: "t.x", Data: []byte(id)}, jetstream.WithMsgID(id)); err != nil {
			t.Fatal(err)
		}
	}
	pub("a")
	pub("b")
	pub("a") // within the window: not stored
	time.Sleep(200 * time.Millisecond)
	pub("a") // after it: stored again
	s.Shutdown()
	s.WaitForShutdown()

	RunServer(t, ServerOptions{Dir: dir, Port: port})
	var ledger map[string]int
	deadline := time.Now().Add(10 * time.Second)
	for {
		sctx, scancel := context.WithTimeout(ctx, time.Second)
		_, err := js.Stream(sctx, "T")
		scancel()
		if err == nil {
			ledger = Ledger(t, js, "T")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream T after the restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(ledger) != 2 || ledger["a"] != 2 || ledger["b"] != 1 {
		t.Fatalf("ledger %v, want a:2 b:1", ledger)
	}
	msgs := Read(t, js, "T")
	if len(msgs) != 3 || string(msgs[2].Data) != "a" || msgs[2].Seq != 3 || msgs[2].Subject != "t.x" {
		t.Fatalf("read back %+v", msgs)
	}
}

func TestRunCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster: -short")
	}
	nodes := RunCluster(t, 3)
	_, js := Connect(t, URLs(nodes...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "R3", Subjects: []string{"r3.>"}, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	if c := st.CachedInfo().Cluster; c == nil || len(c.Replicas) != 2 {
		t.Fatalf("R3 stream cluster info: %+v", c)
	}
}

// TestStartSaysWhy: a server whose port is taken fails at once, not after
// the ready wait, and says so with what it logged.
func TestStartSaysWhy(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	began := time.Now()
	_, err = start(&server.Options{ServerName: "taken", Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: t.TempDir(), NoSigs: true})
	if err == nil {
		t.Fatal("a server started on a taken port")
	}
	if !strings.Contains(err.Error(), "taken not ready") || !strings.Contains(err.Error(), strconv.Itoa(port)) {
		t.Errorf("error %q: want the server's name and the port it could not listen on", err)
	}
	if d := time.Since(began); d >= readyWait {
		t.Errorf("the failure took %s, the whole ready wait", d)
	}
}

// TestRunClusterPortTaken: the first pick of cluster ports holds one that
// another process took; the cluster starts on the next pick.
func TestRunClusterPortTaken(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster: -short")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	picks := 0
	pickPorts = func(n int) ([]int, error) {
		picks++
		ports, err := freeport.Ports(n)
		if picks == 1 && err == nil {
			ports[n-1] = l.Addr().(*net.TCPAddr).Port
		}
		return ports, err
	}
	t.Cleanup(func() { pickPorts = freeport.Ports })
	nodes := RunCluster(t, 3)
	if picks != 2 || len(nodes) != 3 {
		t.Fatalf("%d picks, %d nodes: want the second pick to start all 3", picks, len(nodes))
	}
}

// TestReadSubjects: Read takes filter subjects, and a filter nothing is
// on reads nothing.
func TestReadSubjects(t *testing.T) {
	s := RunServer(t, ServerOptions{})
	_, js := Connect(t, s.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}}); err != nil {
		t.Fatal(err)
	}
	for i := range 1200 {
		subject := "s.even"
		if i%2 == 1 {
			subject = "s.odd"
		}
		if _, err := js.Publish(ctx, subject, []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(Read(t, js, "S")); n != 1200 {
		t.Errorf("read %d of 1200", n)
	}
	odd := Read(t, js, "S", "s.odd")
	if len(odd) != 600 || odd[0].Seq != 2 || string(odd[599].Data) != "1199" {
		t.Errorf("read %d on s.odd, want 600 from seq 2 to the last", len(odd))
	}
	for _, m := range odd {
		if m.Subject != "s.odd" {
			t.Fatalf("read %s from s.odd", m.Subject)
		}
	}
	if n := len(Read(t, js, "S", "s.none")); n != 0 {
		t.Errorf("read %d on s.none", n)
	}
}
