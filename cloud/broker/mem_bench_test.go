package broker

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/cloud/auth"
)

// BenchmarkIdleConnections measures the broker's memory per idle MQTT v5
// connection: a broker in a child process (this test binary, see
// TestBrokerChild), N logged-in connections from this one held open, and
// the growth of the child's RSS divided by N. The figures in the package
// comment come from
//
//	go test -run - -bench IdleConnections -benchtime 1x ./cloud/broker/
//
// KANAL_BENCH_CONNS sets N (default 2000).
func BenchmarkIdleConnections(b *testing.B) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("KANAL_BENCH_CONNS")); err == nil && v > 0 {
		n = v
	}
	p := newPKI(b)
	file := filepath.Join(b.TempDir(), "creds.yaml")
	pw, err := auth.AddUser(file, "ops", auth.RoleOperator, auth.AddOptions{Cost: 4})
	if err != nil {
		b.Fatal(err)
	}
	for _, v := range []struct {
		name    string
		pending int
		tls     bool
	}{{"writes_pending=8192(mochi)", 8192, false}, {"writes_pending=128(default)", 0, false}, {"writes_pending=128,tls", 0, true}} {
		b.Run(v.name, func(b *testing.B) {
			for b.Loop() {
				rss, heap := idleConnCost(b, n, file, pw, p, v.pending, v.tls)
				b.ReportMetric(rss, "RSS-KiB/conn")
				b.ReportMetric(heap, "heap+stack-KiB/conn")
				b.ReportMetric(max(rss, heap)*10000/1024, "MiB/10k-conns")
			}
		})
	}
}

// idleConnCost returns the growth per connection of the child's RSS and of
// its Go heap and stacks in use. The two differ: memory fresh from the
// system is zero and Go does not touch it to clear it, so an outbound queue
// nobody wrote to is heap but not yet RSS; once connections come and go and
// the heap is reused, it is both.
func idleConnCost(b *testing.B, n int, file, pw string, p *pki, pending int, useTLS bool) (rssKiBPerConn, heapKiBPerConn float64) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestBrokerChild$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("KANAL_BROKER_CHILD=%s,%d,%v,%s,%s", file, pending, useTLS, p.certFile, p.keyFile))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	addr := ""
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
			addr = a
			break
		}
	}
	if addr == "" {
		b.Fatal("the child broker did not start")
	}
	stats := func() int64 {
		fmt.Fprintln(stdin, "stats")
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "STATS "); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		b.Fatal("no stats from the child")
		return 0
	}
	dial := func() net.Conn {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		if useTLS {
			tc := tls.Client(c, &tls.Config{RootCAs: p.pool, ServerName: "localhost"})
			if err := tc.Handshake(); err != nil {
				b.Fatal(err)
			}
			c = tc
		}
		return c
	}
	warm := dial()
	if code := rawConnect(b, warm, 5, "ops:warm", "ops", pw); code != 0 {
		b.Fatalf("CONNACK %#02x", code)
	}
	warm.Close()
	time.Sleep(500 * time.Millisecond)
	before, heapBefore := rssKiB(b, cmd.Process.Pid), stats()
	b.ResetTimer()
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		c := dial()
		if code := rawConnect(b, c, 5, fmt.Sprintf("ops:%d", i), "ops", pw); code != 0 {
			b.Fatalf("connection %d: CONNACK %#02x", i, code)
		}
		c.SetDeadline(time.Time{})
		conns = append(conns, c)
	}
	time.Sleep(time.Second)
	after, heapAfter := rssKiB(b, cmd.Process.Pid), stats()
	return float64(after-before) / float64(n), float64(heapAfter-heapBefore) / 1024 / float64(n)
}

// rssKiB reads a process's resident set size.
func rssKiB(b *testing.B, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kib, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kib
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// TestBrokerChild is the broker process of BenchmarkIdleConnections; it
// does nothing in a normal test run.
func TestBrokerChild(t *testing.T) {
	spec := os.Getenv("KANAL_BROKER_CHILD")
	if spec == "" {
		t.Skip("the child of BenchmarkIdleConnections")
	}
	parts := strings.Split(spec, ",")
	pending, _ := strconv.Atoi(parts[1])
	creds, err := auth.Open(auth.Options{File: parts[0], Poll: -1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Credentials: creds, Logger: quiet, MaxConnsPerAddress: -1, PublishRate: -1, WritesPending: pending, MQTTListen: "127.0.0.1:0"}
	id := ListenerMQTT
	if parts[2] == "true" {
		opts.MQTTListen, opts.MQTTSListen, opts.TLS = Off, "127.0.0.1:0", TLSOptions{Cert: parts[3], Key: parts[4]}
		id = ListenerMQTTS
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("ADDR %s\n", s.Addr(id))
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() { // until the parent closes stdin
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Printf("STATS %d\n", ms.HeapInuse+ms.StackInuse)
	}
	s.Close()
}
