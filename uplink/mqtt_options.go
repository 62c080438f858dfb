package uplink

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/kanal-dev/kanal/internal/bytesize"
)

// Defaults of MQTTOptions.
const (
	DefaultKeepAlive      = 30 * time.Second
	DefaultConnectTimeout = 10 * time.Second
	DefaultPublishTimeout = 10 * time.Second
	DefaultInflight       = 4
	DefaultBackoffMin     = 500 * time.Millisecond
	DefaultBackoffMax     = 30 * time.Second
)

// MQTTOptions is how the agent reaches the ingest gateway: the `uplink`
// section of the agent's config file (with BatchOptions and SamplingOptions).
type MQTTOptions struct {
	// Broker is mqtt://host:port (plain TCP, default port 1883) or
	// mqtts://host:port (TLS, default port 8883).
	Broker string `yaml:"broker"`
	// Username and the file holding the password (its first line). The
	// client id is always the vehicle id: the gateway ties it to the login.
	Username     string     `yaml:"username"`
	PasswordFile string     `yaml:"password_file"`
	TLS          TLSOptions `yaml:"tls"`
	// KeepAlive is the MQTT keep-alive (default 30 s).
	KeepAlive time.Duration `yaml:"keepalive"`
	// ConnectTimeout bounds dialling, the TLS handshake and CONNACK (default 10 s).
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// PublishTimeout bounds the wait for one PUBACK (default 10 s): paho
	// releases a publish pending on a dropped connection only when its own
	// timeout runs out.
	PublishTimeout time.Duration `yaml:"publish_timeout"`
	// Inflight is how many batches may await their PUBACK at once (default
	// 4): on a slow link one round trip per batch would cap the rate.
	Inflight int `yaml:"inflight"`
	// BackoffMin and BackoffMax bound the reconnect delay, which doubles per
	// failed attempt, with full jitter (default 500 ms to 30 s).
	BackoffMin time.Duration `yaml:"backoff_min"`
	BackoffMax time.Duration `yaml:"backoff_max"`
}

// TLSOptions are the files of a TLS or mTLS connection.
type TLSOptions struct {
	CA         string `yaml:"ca"`          // PEM bundle to verify the broker; empty: the system roots
	Cert       string `yaml:"cert"`        // client certificate (mTLS), with Key
	Key        string `yaml:"key"`         // client key
	ServerName string `yaml:"server_name"` // overrides the host name checked in the broker's certificate
}

// BatchOptions bound a batch: the `uplink.batch` section.
type BatchOptions struct {
	// MaxBytes is the largest encoded batch (default 128 KiB). It may not
	// exceed MaxBatchBytes: the broker closes the connection without a
	// reason on an oversized packet, so a batch over its limit could never
	// be sent and never be told apart from a network fault.
	MaxBytes bytesize.Size `yaml:"max_bytes"`
	// MaxAge is the longest a value waits in an open batch (default 1 s).
	MaxAge time.Duration `yaml:"max_age"`
	// KeyframeInterval is how often a keyframe with the last value of every
	// mapped signal is sent (default 60 s); one is also sent after every
	// reconnect. Negative: only after reconnects.
	KeyframeInterval time.Duration `yaml:"keyframe_interval"`
	// ZstdLevel is the compression level, 1 (fastest, the default) to 4
	// (smallest). A vehicle sends small batches: level 1 costs 1-3 % more
	// bytes than level 2 and a quarter less of the agent's CPU, with a
	// fraction of the memory (uplink/batch EncoderOptions.Level).
	ZstdLevel int `yaml:"zstd_level"`
}

// Batch limits.
const (
	DefaultBatchBytes       = 128 * bytesize.KiB
	MaxBatchBytes           = 256 * bytesize.KiB
	DefaultBatchAge         = time.Second
	DefaultKeyframeInterval = 60 * time.Second
)

func (o *BatchOptions) setDefaults() error {
	switch {
	case o.MaxBytes == 0:
		o.MaxBytes = DefaultBatchBytes
	case o.MaxBytes < 4*bytesize.KiB || o.MaxBytes > MaxBatchBytes:
		return fmt.Errorf("batch.max_bytes %s: want 4KiB to %s (the broker's packet limit)", o.MaxBytes, MaxBatchBytes)
	}
	switch {
	case o.MaxAge == 0:
		o.MaxAge = DefaultBatchAge
	case o.MaxAge < 0 || o.MaxAge > time.Hour:
		return fmt.Errorf("batch.max_age %v: want more than 0 and at most 1h", o.MaxAge)
	}
	if o.KeyframeInterval == 0 {
		o.KeyframeInterval = DefaultKeyframeInterval
	}
	switch {
	case o.ZstdLevel == 0:
		o.ZstdLevel = 1
	case o.ZstdLevel < 1 || o.ZstdLevel > 4:
		return fmt.Errorf("batch.zstd_level %d: want 1 (fastest) to 4 (smallest)", o.ZstdLevel)
	}
	return nil
}

// endpoint is a parsed Broker.
type endpoint struct {
	addr   string // host:port
	host   string
	secure bool
}

func parseBroker(s string) (endpoint, error) {
	if s == "" {
		return endpoint{}, errors.New("broker: missing (mqtt://host:1883 or mqtts://host:8883)")
	}
	u, err := url.Parse(s)
	if err != nil {
		return endpoint{}, fmt.Errorf("broker %q: %w", s, err)
	}
	var ep endpoint
	port := ""
	switch u.Scheme {
	case "mqtt", "tcp":
		port = "1883"
	case "mqtts", "ssl", "tls":
		port, ep.secure = "8883", true
	default:
		return endpoint{}, fmt.Errorf("broker %q: scheme %q: want mqtt:// or mqtts://", s, u.Scheme)
	}
	if u.Host == "" || u.Path != "" && u.Path != "/" || u.User != nil || u.RawQuery != "" {
		return endpoint{}, fmt.Errorf("broker %q: want scheme://host[:port] only (credentials go in username and password_file)", s)
	}
	ep.host = u.Hostname()
	if p := u.Port(); p != "" {
		port = p
	}
	ep.addr = net.JoinHostPort(ep.host, port)
	return ep, nil
}

// setDefaults fills the zero fields and checks the rest, naming the field.
func (o *MQTTOptions) setDefaults() error {
	ep, err := parseBroker(o.Broker)
	if err != nil {
		return err
	}
	if !ep.secure && (o.TLS.CA != "" || o.TLS.Cert != "") {
		return fmt.Errorf("tls: files given but broker %s is plain mqtt://: use mqtts://", o.Broker)
	}
	if o.KeepAlive == 0 {
		o.KeepAlive = DefaultKeepAlive
	}
	if o.KeepAlive < time.Second || o.KeepAlive > 18*time.Hour {
		return fmt.Errorf("keepalive %v: want 1s to 18h", o.KeepAlive)
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.PublishTimeout == 0 {
		o.PublishTimeout = DefaultPublishTimeout
	}
	if o.ConnectTimeout < 0 || o.PublishTimeout < 0 {
		return errors.New("connect_timeout and publish_timeout must be positive")
	}
	if o.Inflight == 0 {
		o.Inflight = DefaultInflight
	}
	if o.Inflight < 1 || o.Inflight > 1024 {
		return fmt.Errorf("inflight %d: want 1 to 1024", o.Inflight)
	}
	if o.BackoffMin == 0 {
		o.BackoffMin = DefaultBackoffMin
	}
	if o.BackoffMax == 0 {
		o.BackoffMax = DefaultBackoffMax
	}
	if o.BackoffMin < 0 || o.BackoffMax < o.BackoffMin {
		return fmt.Errorf("backoff_min %v and backoff_max %v: want 0 < min ≤ max", o.BackoffMin, o.BackoffMax)
	}
	if (o.TLS.Cert == "") != (o.TLS.Key == "") {
		return errors.New("tls: cert and key go together")
	}
	return nil
}

// password reads the password file: its first line, without the newline.
func (o *MQTTOptions) password() ([]byte, error) {
	if o.PasswordFile == "" {
		return nil, nil
	}
	b, err := os.ReadFile(o.PasswordFile)
	if err != nil {
		return nil, fmt.Errorf("password_file: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return nil, fmt.Errorf("password_file %s: empty", o.PasswordFile)
	}
	return []byte(line), nil
}

// tlsConfig builds the TLS configuration of an mqtts:// broker.
func (o *MQTTOptions) tlsConfig(host string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if o.TLS.ServerName != "" {
		cfg.ServerName = o.TLS.ServerName
	}
	if o.TLS.CA != "" {
		pem, err := os.ReadFile(o.TLS.CA)
		if err != nil {
			return nil, fmt.Errorf("tls.ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca %s: no PEM certificate in it", o.TLS.CA)
		}
		cfg.RootCAs = pool
	}
	if o.TLS.Cert != "" {
		cert, err := tls.LoadX509KeyPair(o.TLS.Cert, o.TLS.Key)
		if err != nil {
			return nil, fmt.Errorf("tls.cert and tls.key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Check validates the options offline, as check-config does: the broker
// URL, the limits, and that the password and TLS files can be read.
func (o MQTTOptions) Check() error {
	if err := o.setDefaults(); err != nil {
		return err
	}
	if _, err := o.password(); err != nil {
		return err
	}
	ep, _ := parseBroker(o.Broker)
	if ep.secure || o.TLS.CA != "" || o.TLS.Cert != "" {
		if _, err := o.tlsConfig(ep.host); err != nil {
			return err
		}
	}
	return nil
}
