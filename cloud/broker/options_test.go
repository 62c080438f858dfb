package broker

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kanal-dev/kanal/cloud/auth"
	"github.com/kanal-dev/kanal/internal/bytesize"
	"github.com/kanal-dev/kanal/internal/rlimit"
)

func testCreds(t *testing.T) *auth.Credentials {
	t.Helper()
	file := filepath.Join(t.TempDir(), "creds.yaml")
	if _, err := auth.AddUser(file, "ops", auth.RoleOperator, auth.AddOptions{Cost: 4}); err != nil {
		t.Fatal(err)
	}
	c, err := auth.Open(auth.Options{File: file, Poll: -1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestOptionsErrors(t *testing.T) {
	creds := testCreds(t)
	p := newPKI(t)
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"plain on all interfaces", Options{MQTTListen: "0.0.0.0:0"}, "mqtt_listen 0.0.0.0:0 is not a loopback address"},
		{"plain on no host", Options{MQTTListen: ":1883"}, "insecure: true (--insecure)"},
		{"plain ws outside", Options{WSListen: "0.0.0.0:0"}, "ws_listen 0.0.0.0:0 is not a loopback address"},
		{"bad address", Options{MQTTListen: "localhost"}, `mqtt_listen "localhost": want host:port`},
		{"all off", Options{MQTTListen: Off}, "all off"},
		{"mqtts without files", Options{MQTTSListen: "127.0.0.1:0"}, "mqtts_listen 127.0.0.1:0 needs tls.cert and tls.key"},
		{"wss without files", Options{WSListen: "127.0.0.1:0", WSTLS: true}, "ws_tls on ws_listen 127.0.0.1:0 needs tls.cert"},
		{"cert without key", Options{TLS: TLSOptions{Cert: p.certFile}}, "tls.cert and tls.key go together"},
		{"client CA without TLS listener", Options{TLS: TLSOptions{Cert: p.certFile, Key: p.keyFile, ClientCA: p.caFile}}, "need a TLS listener"},
		{"require without CA", Options{MQTTSListen: "127.0.0.1:0", TLS: TLSOptions{Cert: p.certFile, Key: p.keyFile, RequireClientCert: true}}, "needs tls.client_ca"},
		{"bad cert file", Options{MQTTSListen: "127.0.0.1:0", TLS: TLSOptions{Cert: p.caFile, Key: p.keyFile}}, "tls.cert"},
		{"bad CA file", Options{MQTTSListen: "127.0.0.1:0", TLS: TLSOptions{Cert: p.certFile, Key: p.keyFile, ClientCA: p.keyFile}}, "no PEM certificate"},
		{"packet size", Options{MaxPacketSize: 10}, "max_packet_size 10:"},
		{"connect timeout", Options{ConnectTimeout: -1}, "connect_timeout"},
		{"keepalive", Options{MaxKeepAlive: time.Millisecond}, "max_keepalive 1ms: at least 1s"},
		{"keepalive too long", Options{MaxKeepAlive: 100 * time.Hour}, "max_keepalive"},
		{"receive maximum", Options{ReceiveMaximum: 70000}, "receive_maximum 70000"},
		{"inflight", Options{MaxInflight: -1}, "max_inflight -1"},
		{"writes pending", Options{WritesPending: -5}, "writes_pending -5"},
		{"burst", Options{PublishBurst: -1}, "publish_burst -1"},
		{"session expiry", Options{MaxSessionExpiry: -time.Second}, "max_session_expiry"},
		{"buffers", Options{ReadBufferSize: 2 * bytesize.MiB}, "read_buffer_size"},
		{"mochi log level", Options{MochiLogLevel: "loud"}, `mochi_log_level "loud"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.Credentials, o.Logger = creds, quiet
			if o.MQTTListen == "" && o.WSListen == "" && o.MQTTSListen == "" {
				o.MQTTListen = "127.0.0.1:0"
			}
			s, err := New(o)
			if err == nil {
				s.Close()
				t.Fatalf("New accepted %+v", tc.opts)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want %q", err, tc.want)
			}
		})
	}
	if _, err := New(Options{MQTTListen: "127.0.0.1:0", Logger: quiet}); err == nil || !strings.Contains(err.Error(), "nobody could log in") {
		t.Errorf("no credentials and no CA: %v", err)
	}
}

func TestOptionsInsecureAndOff(t *testing.T) {
	creds := testCreds(t)
	s, err := New(Options{MQTTListen: "0.0.0.0:0", Insecure: true, Credentials: creds, Logger: quiet})
	if err != nil {
		t.Fatalf("insecure: %v", err)
	}
	s.Close()
	for _, addr := range []string{"localhost:0", "[::1]:0", "127.0.0.2:0"} {
		if !loopback(addr) {
			t.Errorf("%s is loopback", addr)
		}
	}
	for _, addr := range []string{"0.0.0.0:1", ":1", "10.0.0.1:1", "example.com:1", "[::]:1"} {
		if loopback(addr) {
			t.Errorf("%s is not loopback", addr)
		}
	}
	o := Options{Credentials: creds}
	if err := o.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if o.MQTTListen != DefaultMQTTListen || o.MaxPacketSize != DefaultMaxPacketSize || o.PublishRate != DefaultPublishRate ||
		o.ConnectTimeout != DefaultConnectTimeout || o.WritesPending != DefaultWritesPending || o.MaxConnsPerAddress != DefaultMaxConnsPerAddr {
		t.Errorf("defaults: %+v", o)
	}
	o = Options{Credentials: creds, PublishRate: -1, MaxKeepAlive: -1, MaxConnsPerAddress: -1}
	o.setDefaults()
	if o.PublishRate != 0 || o.MaxKeepAlive != 0 || o.MaxConnsPerAddress != -1 {
		t.Errorf("offs: rate %v keepalive %v per address %v", o.PublishRate, o.MaxKeepAlive, o.MaxConnsPerAddress)
	}
}

// TestAddressInUse: New fails naming the field, and frees what it opened.
func TestAddressInUse(t *testing.T) {
	creds := testCreds(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	p := newPKI(t)
	_, err = New(Options{MQTTListen: "127.0.0.1:0", MQTTSListen: busy.Addr().String(), TLS: TLSOptions{Cert: p.certFile, Key: p.keyFile}, Credentials: creds, Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), "mqtts_listen "+busy.Addr().String()) {
		t.Fatalf("error %v", err)
	}
}

func TestMetricsRegistered(t *testing.T) {
	creds := testCreds(t)
	reg := prometheus.NewRegistry()
	s, err := New(Options{MQTTListen: "127.0.0.1:0", Credentials: creds, Registerer: reg, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	if !names["kanal_broker_connections"] {
		t.Errorf("gathered %v", names)
	}
	if _, err := New(Options{MQTTListen: "127.0.0.1:0", Credentials: creds, Registerer: reg, Logger: quiet}); err == nil || !strings.Contains(err.Error(), "register metrics") {
		t.Errorf("second registration: %v", err)
	}
}

func TestMochiLogLevel(t *testing.T) {
	creds := testCreds(t)
	logs := new(syncBuffer)
	log := slogTo(logs)
	s, err := New(Options{MQTTListen: "127.0.0.1:0", Credentials: creds, Logger: log, MochiLogLevel: "info"})
	if err != nil {
		t.Fatal(err)
	}
	s.Serve()
	s.Close()
	if !strings.Contains(logs.String(), "component=mochi") {
		t.Errorf("mochi's lines not passed at info:\n%s", logs)
	}
	logs2 := new(syncBuffer)
	s, _ = New(Options{MQTTListen: "127.0.0.1:0", Credentials: creds, Logger: slogTo(logs2)})
	s.Serve()
	s.Close()
	if strings.Contains(logs2.String(), "component=mochi") {
		t.Errorf("mochi's lines passed by default:\n%s", logs2)
	}
}

func TestRaiseOpenFileLimit(t *testing.T) {
	soft, hard, err := rlimit.RaiseOpenFiles()
	if err != nil {
		t.Fatal(err)
	}
	if soft != hard || soft == 0 {
		t.Errorf("soft %d hard %d", soft, hard)
	}
}
