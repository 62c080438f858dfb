package broker

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/gorilla/websocket"

	"github.com/kanal-dev/kanal/internal/await"
	"github.com/kanal-dev/kanal/internal/wire"
)

// TestMutualTLS: a vehicle with a certificate from the client CA logs in
// as the vehicle its CommonName names, without a password.
func TestMutualTLS(t *testing.T) {
	p := newPKI(t)
	f := start(t, Options{MQTTSListen: "127.0.0.1:0", TLS: TLSOptions{Cert: p.certFile, Key: p.keyFile, ClientCA: p.caFile}})
	addr := f.s.Addr(ListenerMQTTS)
	veh7 := p.issue(t, "veh-7", x509.ExtKeyUsageClientAuth)
	c, _, err := connect(t, p.tlsDialer(addr, veh7), &paho.Connect{ClientID: "veh-7", CleanStart: true, KeepAlive: 30})
	if err != nil {
		t.Fatalf("certificate login: %v", err)
	}
	if code := c.publish(t, wire.BatchTopic("veh-7"), []byte("b")); code >= 0x80 {
		t.Errorf("own batch: %#02x", code)
	}
	if code := c.publish(t, wire.BatchTopic("veh-1"), []byte("b")); code != 0x87 {
		t.Errorf("another's batch: %#02x, want 0x87", code)
	}
	if got := f.metric(t, f.s.m.connections.WithLabelValues("vehicle")); got != 1 {
		t.Errorf("connections{vehicle} = %v", got)
	}

	for _, tc := range []struct {
		name   string
		cert   tls.Certificate
		cp     paho.Connect
		code   byte
		reason string
	}{
		{"another vehicle's client id", veh7, paho.Connect{ClientID: "veh-8"}, 0x85, refusedClientID},
		{"user name of another vehicle", veh7, paho.Connect{ClientID: "veh-7", Username: "veh-1", UsernameFlag: true,
			Password: []byte(f.pw["veh-1"]), PasswordFlag: true}, 0x87, refusedCertificate},
		{"not a vehicle id", p.issue(t, "veh 7; DROP", x509.ExtKeyUsageClientAuth), paho.Connect{ClientID: "veh 7; DROP"}, 0x87, refusedCertificate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cp := tc.cp
			cp.CleanStart = true
			_, ack, err := connect(t, p.tlsDialer(addr, tc.cert), &cp)
			if err == nil || ack == nil || ack.ReasonCode != tc.code {
				t.Fatalf("CONNACK %+v, %v; want %#02x", ack, err, tc.code)
			}
			if got := f.metric(t, f.s.m.refused.WithLabelValues(tc.reason)); got < 1 {
				t.Errorf("refused{%s} = %v", tc.reason, got)
			}
		})
	}
	t.Run("user name of its own", func(t *testing.T) {
		if _, _, err := connect(t, p.tlsDialer(addr, veh7), &paho.Connect{ClientID: "veh-7", CleanStart: true, Username: "veh-7", UsernameFlag: true}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("password on TLS without a certificate", func(t *testing.T) {
		c, _, err := connect(t, p.tlsDialer(addr), &paho.Connect{ClientID: "ops:1", CleanStart: true,
			Username: "ops", UsernameFlag: true, Password: []byte(f.pw["ops"]), PasswordFlag: true})
		if err != nil {
			t.Fatal(err)
		}
		if code := c.publish(t, wire.CommandTopic("veh-7"), []byte("c")); code >= 0x80 {
			t.Errorf("operator command over TLS: %#02x", code)
		}
	})
	t.Run("no certificate, no password", func(t *testing.T) {
		_, ack, err := connect(t, p.tlsDialer(addr), &paho.Connect{ClientID: "veh-7", CleanStart: true})
		if err == nil || ack == nil || ack.ReasonCode != 0x86 {
			t.Fatalf("%+v, %v", ack, err)
		}
	})
	t.Run("certificate of another CA", func(t *testing.T) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "rogue CA"}, IsCA: true,
			BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		rogue, _ := x509.ParseCertificate(der)
		forged := issueBy(t, rogue, key, "veh-1", x509.ExtKeyUsageClientAuth)
		// Go's client sends no certificate the server's CA list does not
		// name: then it is a login without credentials.
		if _, ack, err := connect(t, p.tlsDialer(addr, forged), &paho.Connect{ClientID: "veh-1", CleanStart: true}); err == nil || ack == nil || ack.ReasonCode != 0x86 {
			t.Fatalf("forged certificate, not sent: CONNACK %+v, %v", ack, err)
		}
		// Sent anyway, it fails the handshake.
		pushy := func() (net.Conn, error) {
			d := &tls.Dialer{Config: &tls.Config{RootCAs: p.pool, ServerName: "localhost",
				GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &forged, nil }}}
			return d.Dial("tcp", addr)
		}
		if _, ack, err := connect(t, pushy, &paho.Connect{ClientID: "veh-1", CleanStart: true}); err == nil || ack != nil {
			t.Fatalf("forged certificate, sent: CONNACK %+v, %v", ack, err)
		}
		await.Until(t, 5*time.Second, "handshake failure counted", func() bool {
			return f.metric(t, f.s.m.disconnects.WithLabelValues("tls_handshake")) >= 1
		})
	})
	t.Run("server certificate as client certificate", func(t *testing.T) {
		wrongUse := p.issue(t, "veh-1", x509.ExtKeyUsageServerAuth)
		pushy := func() (net.Conn, error) {
			d := &tls.Dialer{Config: &tls.Config{RootCAs: p.pool, ServerName: "localhost",
				GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &wrongUse, nil }}}
			return d.Dial("tcp", addr)
		}
		if _, ack, err := connect(t, pushy, &paho.Connect{ClientID: "veh-1", CleanStart: true}); err == nil || ack != nil {
			t.Fatalf("server-only certificate: CONNACK %+v, %v", ack, err)
		}
	})
}

func TestRequireClientCert(t *testing.T) {
	p := newPKI(t)
	f := start(t, Options{MQTTSListen: "127.0.0.1:0", TLS: TLSOptions{Cert: p.certFile, Key: p.keyFile, ClientCA: p.caFile, RequireClientCert: true}})
	addr := f.s.Addr(ListenerMQTTS)
	if _, ack, err := connect(t, p.tlsDialer(addr), &paho.Connect{ClientID: "ops:1", CleanStart: true,
		Username: "ops", UsernameFlag: true, Password: []byte(f.pw["ops"]), PasswordFlag: true}); err == nil || ack != nil {
		t.Fatalf("no certificate: %+v, %v", ack, err)
	}
	if _, _, err := connect(t, p.tlsDialer(addr, p.issue(t, "veh-3", x509.ExtKeyUsageClientAuth)), &paho.Connect{ClientID: "veh-3", CleanStart: true}); err != nil {
		t.Fatal(err)
	}
}

// wsDialer opens an MQTT-over-WebSocket connection (ws:// or wss://).
func wsDialer(url string, conf *tls.Config) dialer {
	return func() (net.Conn, error) {
		d := websocket.Dialer{Subprotocols: []string{"mqtt"}, TLSClientConfig: conf, HandshakeTimeout: 5 * time.Second}
		ws, resp, err := d.Dial(url, http.Header{})
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
		return &wsConn{Conn: ws.UnderlyingConn(), ws: ws}, nil
	}
}

func TestWebSocket(t *testing.T) {
	f := start(t, Options{WSListen: "127.0.0.1:0"})
	url := "ws://" + f.s.Addr(ListenerWS) + "/mqtt"
	ops, _, err := connect(t, wsDialer(url, nil), &paho.Connect{ClientID: "ops:ws", CleanStart: true, KeepAlive: 30,
		Username: "ops", UsernameFlag: true, Password: []byte(f.pw["ops"]), PasswordFlag: true})
	if err != nil {
		t.Fatal(err)
	}
	ops.subscribe(t, wire.StatusTopic("+"))
	v1, _, err := connect(t, wsDialer(url, nil), &paho.Connect{ClientID: "veh-1", CleanStart: true, KeepAlive: 30,
		Username: "veh-1", UsernameFlag: true, Password: []byte(f.pw["veh-1"]), PasswordFlag: true})
	if err != nil {
		t.Fatal(err)
	}
	v1.publish(t, wire.StatusTopic("veh-1"), []byte("over ws"))
	ops.expect(t, wire.StatusTopic("veh-1"), 5*time.Second)
	if code := v1.publish(t, wire.StatusTopic("veh-2"), []byte("x")); code != 0x87 {
		t.Errorf("ACL over ws: %#02x", code)
	}
	go v1.Publish(t.Context(), &paho.Publish{Topic: wire.BatchTopic("veh-1"), QoS: 1, Payload: make([]byte, 300_000)})
	if code := v1.waitDisconnect(t, 5*time.Second); code != 0x95 {
		t.Fatalf("oversized over ws: DISCONNECT %#02x", code)
	}
}

func TestWebSocketTLS(t *testing.T) {
	p := newPKI(t)
	f := start(t, Options{MQTTListen: Off, WSListen: "127.0.0.1:0", WSTLS: true, TLS: TLSOptions{Cert: p.certFile, Key: p.keyFile, ClientCA: p.caFile}})
	if f.s.Addr(ListenerMQTT) != "" {
		t.Error("mqtt listener on although off")
	}
	conf := &tls.Config{RootCAs: p.pool, ServerName: "localhost", Certificates: []tls.Certificate{p.issue(t, "veh-5", x509.ExtKeyUsageClientAuth)}}
	c, _, err := connect(t, wsDialer("wss://"+f.s.Addr(ListenerWS)+"/", conf), &paho.Connect{ClientID: "veh-5", CleanStart: true, KeepAlive: 30})
	if err != nil {
		t.Fatalf("wss with a client certificate: %v", err)
	}
	if code := c.publish(t, wire.BatchTopic("veh-5"), []byte("b")); code >= 0x80 {
		t.Errorf("publish: %#02x", code)
	}
}
