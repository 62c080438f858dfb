package broker

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	mpackets "github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kanal-dev/kanal/cloud/auth"
)

// syncBuffer is a log sink tests read while the broker writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fixture is a running broker with a credentials file.
type fixture struct {
	s     *Server
	creds *auth.Credentials
	file  string
	pw    map[string]string // user → password
	reg   *prometheus.Registry
	logs  *syncBuffer
}

// testUsers are the users of every fixture.
var testUsers = []struct {
	name string
	role auth.Role
}{
	{"veh-1", auth.RoleVehicle}, {"veh-2", auth.RoleVehicle},
	{"svc", auth.RoleTraffic}, {"ops", auth.RoleOperator},
}

// start runs a broker on loopback ports picked by the system (plain TCP
// unless opts say otherwise) and closes it when the test ends.
func start(t testing.TB, opts Options, tune ...func(*auth.Options)) *fixture {
	t.Helper()
	f := &fixture{file: filepath.Join(t.TempDir(), "creds.yaml"), pw: make(map[string]string),
		reg: prometheus.NewRegistry(), logs: new(syncBuffer)}
	for _, u := range testUsers {
		pw, err := auth.AddUser(f.file, u.name, u.role, auth.AddOptions{Cost: 4})
		if err != nil {
			t.Fatal(err)
		}
		f.pw[u.name] = pw
	}
	log := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var err error
	ao := auth.Options{File: f.file, Logger: log, Poll: -1}
	for _, fn := range tune {
		fn(&ao)
	}
	f.creds, err = auth.Open(ao)
	if err != nil {
		t.Fatal(err)
	}
	opts.Credentials, opts.Logger, opts.Registerer = f.creds, log, f.reg
	if opts.MQTTListen == "" {
		opts.MQTTListen = "127.0.0.1:0"
	}
	f.s, err = New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.s.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		done := make(chan struct{})
		go func() { f.s.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("broker Close did not return within 10s")
		}
		for _, p := range f.pw {
			if strings.Contains(f.logs.String(), p) {
				t.Error("a password is in the logs")
			}
		}
	})
	return f
}

// metric returns the value of a counter or gauge of the fixture's registry.
func (f *fixture) metric(t testing.TB, c prometheus.Collector) float64 {
	t.Helper()
	return testutil.ToFloat64(c)
}

// client is a paho v5 client on a real connection.
type client struct {
	*paho.Client
	conn         net.Conn
	disconnected chan *paho.Disconnect // DISCONNECT from the broker
	received     chan *paho.Publish
	errs         chan error
}

// dialer opens the connection a client uses.
type dialer func() (net.Conn, error)

func tcpDialer(addr string) dialer {
	return func() (net.Conn, error) { return net.DialTimeout("tcp", addr, 5*time.Second) }
}

// connect logs in with cp over a new connection and returns the client and
// the CONNACK (also on a refusal, with the error).
func connect(t testing.TB, dial dialer, cp *paho.Connect) (*client, *paho.Connack, error) {
	t.Helper()
	conn, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	c := &client{conn: conn, disconnected: make(chan *paho.Disconnect, 1), received: make(chan *paho.Publish, 100), errs: make(chan error, 10)}
	c.Client = paho.NewClient(paho.ClientConfig{
		Conn:          packets.NewThreadSafeConn(conn),
		PacketTimeout: 5 * time.Second,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(r paho.PublishReceived) (bool, error) {
			select {
			case c.received <- r.Packet:
			default:
			}
			return true, nil
		}},
		OnServerDisconnect: func(d *paho.Disconnect) {
			select {
			case c.disconnected <- d:
			default:
			}
		},
		OnClientError: func(err error) {
			select {
			case c.errs <- err:
			default:
			}
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err := c.Connect(ctx, cp)
	if err != nil {
		conn.Close()
		return nil, ack, err
	}
	t.Cleanup(func() {
		c.Disconnect(&paho.Disconnect{ReasonCode: 0})
		conn.Close()
	})
	return c, ack, nil
}

// login connects as one of the fixture's users with client id cid.
func (f *fixture) login(t testing.TB, user, cid string) *client {
	t.Helper()
	c, ack, err := connect(t, tcpDialer(f.s.Addr(ListenerMQTT)), &paho.Connect{ClientID: cid, CleanStart: true, KeepAlive: 30,
		Username: user, UsernameFlag: true, Password: []byte(f.pw[user]), PasswordFlag: true})
	if err != nil {
		code := byte(0)
		if ack != nil {
			code = ack.ReasonCode
		}
		t.Fatalf("login %s as %q: %v (CONNACK %#02x)", user, cid, err, code)
	}
	return c
}

// refused connects expecting a refusal and returns its CONNACK code.
func (f *fixture) refused(t testing.TB, cp *paho.Connect) byte {
	t.Helper()
	c, ack, err := connect(t, tcpDialer(f.s.Addr(ListenerMQTT)), cp)
	if err == nil {
		c.Disconnect(&paho.Disconnect{})
		t.Fatalf("login of %q as %q accepted", cp.Username, cp.ClientID)
	}
	if ack == nil {
		t.Fatalf("login of %q as %q: no CONNACK: %v", cp.Username, cp.ClientID, err)
	}
	return ack.ReasonCode
}

// publish publishes at QoS 1 and returns the PUBACK's reason code.
func (c *client) publish(t testing.TB, topic string, payload []byte) byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pr, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: payload})
	if pr == nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
	return pr.ReasonCode
}

// subscribe subscribes at QoS 1 and returns the SUBACK's reason code.
func (c *client) subscribe(t testing.TB, filter string) byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}})
	if sa == nil || len(sa.Reasons) != 1 {
		t.Fatalf("subscribe %s: %v", filter, err)
	}
	return sa.Reasons[0]
}

// expect waits for a message on topic, or fails after timeout.
func (c *client) expect(t testing.TB, topic string, timeout time.Duration) *paho.Publish {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case p := <-c.received:
			if p.Topic == topic {
				return p
			}
		case <-deadline:
			t.Fatalf("no message on %s within %v", topic, timeout)
		}
	}
}

// quiet asserts that nothing arrives for d.
func (c *client) quiet(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case p := <-c.received:
		t.Fatalf("unexpected message on %s: %q", p.Topic, p.Payload)
	case <-time.After(d):
	}
}

// waitDisconnect waits for the broker's DISCONNECT and returns its code.
func (c *client) waitDisconnect(t testing.TB, timeout time.Duration) byte {
	t.Helper()
	select {
	case d := <-c.disconnected:
		return d.ReasonCode
	case <-time.After(timeout):
		t.Fatalf("no DISCONNECT within %v", timeout)
	}
	return 0
}

// rawConnect writes an MQTT CONNECT of the given protocol version (4:
// 3.1.1, 5) with mochi's codec on conn and returns the CONNACK's code.
func rawConnect(t testing.TB, conn net.Conn, version byte, cid, user, pw string) byte {
	t.Helper()
	pk := mpackets.Packet{FixedHeader: mpackets.FixedHeader{Type: mpackets.Connect}, ProtocolVersion: version}
	pk.Connect = mpackets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: cid}
	if version == 4 {
		pk.Connect.ProtocolName = []byte("MQTT")
	}
	if user != "" {
		pk.Connect.UsernameFlag, pk.Connect.Username = true, []byte(user)
		pk.Connect.PasswordFlag, pk.Connect.Password = true, []byte(pw)
	}
	var b bytes.Buffer
	if err := pk.ConnectEncode(&b); err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	if err != nil || n < 4 || buf[0] != 0x20 {
		t.Fatalf("no CONNACK: % x, %v", buf[:n], err)
	}
	return buf[3] // v3.1.1 and v5: flags, then the code
}

// pki is a test certificate authority with a server certificate for
// 127.0.0.1 and client certificates on demand, in files.
type pki struct {
	dir               string
	ca                *x509.Certificate
	caKey             *ecdsa.PrivateKey
	caFile            string
	certFile, keyFile string
	pool              *x509.CertPool
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	p.caKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kanal test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	p.ca, _ = x509.ParseCertificate(der)
	p.pool = x509.NewCertPool()
	p.pool.AddCert(p.ca)
	p.caFile = filepath.Join(p.dir, "ca.pem")
	os.WriteFile(p.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	srv := p.issue(t, "localhost", x509.ExtKeyUsageServerAuth)
	p.certFile, p.keyFile = filepath.Join(p.dir, "server.pem"), filepath.Join(p.dir, "server.key")
	writeKeyPair(t, srv, p.certFile, p.keyFile)
	return p
}

// issue makes a certificate for cn signed by the CA.
func (p *pki) issue(t testing.TB, cn string, usage x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	return issueBy(t, p.ca, p.caKey, cn, usage)
}

var serial int64 = 100

func issueBy(t testing.TB, ca *x509.Certificate, caKey *ecdsa.PrivateKey, cn string, usage x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func writeKeyPair(t testing.TB, c tls.Certificate, certFile, keyFile string) {
	t.Helper()
	kb, err := x509.MarshalECPrivateKey(c.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
}

// tlsDialer dials addr with TLS, presenting certs (none: no client cert).
func (p *pki) tlsDialer(addr string, certs ...tls.Certificate) dialer {
	return func() (net.Conn, error) {
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second},
			Config: &tls.Config{RootCAs: p.pool, ServerName: "localhost", Certificates: certs}}
		return d.Dial("tcp", addr)
	}
}

func contextWithTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}

func slogTo(w *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// quiet discards logs.
var quiet = slog.New(slog.DiscardHandler)
