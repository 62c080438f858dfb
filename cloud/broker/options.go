package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kanal-dev/kanal/cloud/auth"
	"github.com/kanal-dev/kanal/internal/bytesize"
)

// Defaults of Options.
const (
	DefaultMQTTListen = "127.0.0.1:1883"
	// DefaultMaxPacketSize is 256 KiB of payload, the agent's largest batch
	// (uplink.MaxBatchBytes), plus 1 KiB for the fixed and variable header
	// (topic, properties): a batch the agent may build always fits.
	DefaultMaxPacketSize   = 256*bytesize.KiB + bytesize.KiB
	DefaultConnectTimeout  = 10 * time.Second
	DefaultMaxKeepAlive    = 5 * time.Minute
	DefaultReceiveMaximum  = 32
	DefaultMaxInflight     = 1024
	DefaultWritesPending   = 128
	DefaultPublishRate     = 200
	DefaultPublishBurst    = 2000
	DefaultMaxConnsPerAddr = 1000
	DefaultSessionExpiry   = time.Hour
	DefaultMaxRetained     = 4 * bytesize.KiB
	// Off, as a listen address, turns a listener off.
	Off = "off"
)

// Options configures New. Each zero field takes the documented default;
// for the limits, a negative value turns the limit off.
type Options struct {
	// MQTTListen is the plain TCP listener (default 127.0.0.1:1883; "off"
	// for none). A non-loopback address needs Insecure.
	MQTTListen string `yaml:"mqtt_listen"`
	// MQTTSListen is the TLS listener (none by default); it needs TLS.Cert
	// and TLS.Key, and takes client certificates when TLS.ClientCA is set.
	MQTTSListen string `yaml:"mqtts_listen"`
	// WSListen is the WebSocket listener (none by default), any path, the
	// "mqtt" subprotocol. WSTLS serves it over TLS (wss) with the TLS
	// files; plain ws on a non-loopback address needs Insecure.
	WSListen string     `yaml:"ws_listen"`
	WSTLS    bool       `yaml:"ws_tls"`
	TLS      TLSOptions `yaml:"tls"`
	// Insecure allows plain MQTT or WebSocket on a non-loopback address:
	// passwords would cross the network in the clear.
	Insecure bool `yaml:"insecure"`

	// MaxPacketSize is the largest MQTT packet a client may send (default
	// DefaultMaxPacketSize), announced in CONNACK; a larger one is
	// answered with DISCONNECT 0x95 from its fixed header on.
	MaxPacketSize bytesize.Size `yaml:"max_packet_size"`
	// ConnectTimeout is how long a new connection may take to complete
	// its TLS or WebSocket handshake and send CONNECT (default 10 s).
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// MaxKeepAlive is the longest keep-alive a client may use (default
	// 5 min); a client asking for more, or for none (0), is told this one
	// in CONNACK, so a silent connection is closed after 1.5 times it.
	MaxKeepAlive time.Duration `yaml:"max_keepalive"`
	// ReceiveMaximum is how many QoS 1 publishes a client may have
	// awaiting their PUBACK (default 32; announced in CONNACK).
	ReceiveMaximum int `yaml:"receive_maximum"`
	// MaxInflight is how many QoS 1 messages the broker holds for one
	// client awaiting its PUBACK, also while it is offline (default 1024).
	MaxInflight int `yaml:"max_inflight"`
	// WritesPending is the length of each client's outbound queue (default
	// 128 slots, 1 KiB a client; mochi's default of 8192 costs 64 KiB
	// each). A message to a client whose queue is full is dropped for that
	// client: vehicles get a few commands and notices, and traffic
	// services read alerts far slower than the queue drains.
	WritesPending int `yaml:"writes_pending"`
	// PublishRate and PublishBurst bound each connection's publishes: a
	// token bucket of PublishRate a second (default 200) holding at most
	// PublishBurst (default 2000). A publish that finds it empty gets
	// DISCONNECT 0x96. An agent sends about one batch a second; the burst
	// lets it drain a spool backlog, and one that drains faster for long
	// is cut, reconnects after its backoff and goes on: nothing is lost.
	PublishRate  float64 `yaml:"publish_rate"`
	PublishBurst int     `yaml:"publish_burst"`
	// MaxConnsPerAddress bounds the open connections from one IP address
	// (default 1000, generous for vehicles behind a carrier's NAT); more
	// are closed at accept. Behind a TCP load balancer that hides client
	// addresses, turn it off (negative).
	MaxConnsPerAddress int `yaml:"max_conns_per_address"`
	// MaxConnections bounds the logged-in clients (default: the process's
	// open-file limit minus 512, leaving files to JetStream); more get
	// CONNACK 0x89 (server busy).
	MaxConnections int `yaml:"max_connections"`
	// MaxSessionExpiry caps the session expiry a client may ask for
	// (default 1 h): a session, with its queued messages, is kept that
	// long after its client went away.
	MaxSessionExpiry time.Duration `yaml:"max_session_expiry"`
	// MaxRetained is the largest payload kept as a retained message
	// (default 4 KiB, a status message is about 200 bytes); a larger one
	// is delivered but not retained. Batches and commands are never
	// retained.
	MaxRetained bytesize.Size `yaml:"max_retained"`
	// ReadBufferSize and WriteBufferSize are each client's buffers
	// (mochi's defaults, 2 KiB each; the write buffer only while busy).
	ReadBufferSize  bytesize.Size `yaml:"read_buffer_size"`
	WriteBufferSize bytesize.Size `yaml:"write_buffer_size"`

	// Credentials are the users that log in with a password. Nil: only
	// client certificates (TLS.ClientCA) log in.
	Credentials *auth.Credentials `yaml:"-"`
	// Logger gets the broker's state changes and, once per client, why a
	// client was refused or cut (default slog.Default()).
	Logger *slog.Logger `yaml:"-"`
	// MochiLogLevel passes mochi's own log lines at this level and above
	// to Logger ("debug", "info", "warn", "error"; default none: mochi
	// logs per packet and per connection, a negative PUBACK is an error
	// line to it, while Kanal's hooks count events and log once).
	MochiLogLevel string `yaml:"mochi_log_level"`
	// Registerer registers the metrics (nil: not registered).
	Registerer prometheus.Registerer `yaml:"-"`
}

// TLSOptions are the files of the TLS listeners.
type TLSOptions struct {
	// Cert and Key are the server's certificate chain and key (PEM).
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// ClientCA (PEM) verifies client certificates: a client presenting one
	// it signed is the vehicle named by the certificate's CommonName, with
	// no password. Without ClientCA no certificate is asked for.
	ClientCA string `yaml:"client_ca"`
	// RequireClientCert refuses TLS clients without a certificate (no
	// password logins on TLS).
	RequireClientCert bool `yaml:"require_client_cert"`
}

// setDefaults fills the zero fields and checks the rest, naming the field.
func (o *Options) setDefaults() error {
	if o.MQTTListen == "" {
		o.MQTTListen = DefaultMQTTListen
	}
	if o.MQTTListen == Off {
		o.MQTTListen = ""
	}
	if o.MQTTSListen == Off {
		o.MQTTSListen = ""
	}
	if o.WSListen == Off {
		o.WSListen = ""
	}
	if o.MQTTListen == "" && o.MQTTSListen == "" && o.WSListen == "" {
		return errors.New("broker: mqtt_listen, mqtts_listen and ws_listen are all off")
	}
	tlsFiles := o.TLS.Cert != "" || o.TLS.Key != ""
	if (o.TLS.Cert == "") != (o.TLS.Key == "") {
		return errors.New("broker: tls.cert and tls.key go together")
	}
	if o.MQTTSListen != "" && !tlsFiles {
		return fmt.Errorf("broker: mqtts_listen %s needs tls.cert and tls.key", o.MQTTSListen)
	}
	if o.WSListen != "" && o.WSTLS && !tlsFiles {
		return fmt.Errorf("broker: ws_tls on ws_listen %s needs tls.cert and tls.key", o.WSListen)
	}
	if (o.TLS.ClientCA != "" || o.TLS.RequireClientCert) && o.MQTTSListen == "" && !(o.WSListen != "" && o.WSTLS) {
		return errors.New("broker: tls.client_ca and tls.require_client_cert need a TLS listener (mqtts_listen or ws_tls)")
	}
	if o.TLS.RequireClientCert && o.TLS.ClientCA == "" {
		return errors.New("broker: tls.require_client_cert needs tls.client_ca")
	}
	if o.Credentials == nil && o.TLS.ClientCA == "" {
		return errors.New("broker: nobody could log in: give credentials or tls.client_ca")
	}
	for _, l := range []struct {
		field, addr string
		tls         bool
	}{{"mqtt_listen", o.MQTTListen, false}, {"mqtts_listen", o.MQTTSListen, true}, {"ws_listen", o.WSListen, o.WSTLS}} {
		if l.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(l.addr); err != nil {
			return fmt.Errorf("broker: %s %q: want host:port", l.field, l.addr)
		}
		if !l.tls && !o.Insecure && !loopback(l.addr) {
			return fmt.Errorf("broker: %s %s is not a loopback address: serving MQTT there without TLS sends passwords in the clear; "+
				"use mqtts_listen (--mqtts-listen) or ws_tls, or allow it with insecure: true (--insecure)", l.field, l.addr)
		}
	}

	switch {
	case o.MaxPacketSize == 0:
		o.MaxPacketSize = DefaultMaxPacketSize
	case o.MaxPacketSize < 1024 || o.MaxPacketSize > 256*bytesize.MiB:
		return fmt.Errorf("broker: max_packet_size %s: want 1KiB to 256MiB", o.MaxPacketSize)
	}
	if err := duration(&o.ConnectTimeout, DefaultConnectTimeout, "connect_timeout", false); err != nil {
		return err
	}
	if err := duration(&o.MaxKeepAlive, DefaultMaxKeepAlive, "max_keepalive", true); err != nil {
		return err
	}
	if o.MaxKeepAlive > math.MaxUint16*time.Second {
		return fmt.Errorf("broker: max_keepalive %v: at most %v", o.MaxKeepAlive, math.MaxUint16*time.Second)
	}
	if o.MaxKeepAlive > 0 && o.MaxKeepAlive < time.Second {
		return fmt.Errorf("broker: max_keepalive %v: at least 1s", o.MaxKeepAlive)
	}
	if err := count(&o.ReceiveMaximum, DefaultReceiveMaximum, "receive_maximum", 1, math.MaxUint16); err != nil {
		return err
	}
	if err := count(&o.MaxInflight, DefaultMaxInflight, "max_inflight", 1, math.MaxUint16); err != nil {
		return err
	}
	if err := count(&o.WritesPending, DefaultWritesPending, "writes_pending", 1, 1<<20); err != nil {
		return err
	}
	if o.PublishRate == 0 {
		o.PublishRate = DefaultPublishRate
	}
	if o.PublishRate < 0 {
		o.PublishRate = 0 // no limit
	}
	if err := count(&o.PublishBurst, DefaultPublishBurst, "publish_burst", 1, math.MaxInt32); err != nil {
		return err
	}
	if o.MaxConnsPerAddress == 0 {
		o.MaxConnsPerAddress = DefaultMaxConnsPerAddr
	}
	if err := duration(&o.MaxSessionExpiry, DefaultSessionExpiry, "max_session_expiry", false); err != nil {
		return err
	}
	if o.MaxSessionExpiry > math.MaxUint32*time.Second {
		return fmt.Errorf("broker: max_session_expiry %v: too long", o.MaxSessionExpiry)
	}
	if o.MaxRetained == 0 {
		o.MaxRetained = DefaultMaxRetained
	}
	if o.ReadBufferSize < 0 || o.WriteBufferSize < 0 || o.ReadBufferSize > bytesize.MiB || o.WriteBufferSize > bytesize.MiB {
		return errors.New("broker: read_buffer_size and write_buffer_size: want 0 (default) to 1MiB")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MochiLogLevel != "" {
		var lv slog.Level
		if err := lv.UnmarshalText([]byte(o.MochiLogLevel)); err != nil {
			return fmt.Errorf("broker: mochi_log_level %q: want debug, info, warn or error", o.MochiLogLevel)
		}
	}
	return nil
}

// duration defaults a zero duration; negative is "off" when allowed.
func duration(d *time.Duration, def time.Duration, field string, canBeOff bool) error {
	switch {
	case *d == 0:
		*d = def
	case *d < 0 && canBeOff:
		*d = 0
	case *d < 0:
		return fmt.Errorf("broker: %s %v: want more than 0", field, *d)
	}
	return nil
}

// count defaults a zero count and checks its range.
func count(n *int, def int, field string, lo, hi int) error {
	if *n == 0 {
		*n = def
	}
	if *n < lo || *n > hi {
		return fmt.Errorf("broker: %s %d: want %d to %d", field, *n, lo, hi)
	}
	return nil
}

// loopback reports whether a listen address serves this machine only:
// a loopback IP or "localhost". An empty host (all interfaces) is not.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Check validates the options offline, as check-config does: the listen
// addresses, the limits and the TLS files.
func (o Options) Check() error {
	if err := o.setDefaults(); err != nil {
		return err
	}
	_, err := o.TLS.config()
	return err
}
