package loadgen

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kanal-dev/kanal/uplink/batch"
)

// Defaults of Options.
const (
	DefaultConnections        = 100
	DefaultRate               = 1.0 // batches per second per connection: the agent's max_age of 1 s
	DefaultDuration           = 10 * time.Second
	DefaultVehiclePrefix      = "load"
	DefaultInflight           = 4 // the agent's uplink.inflight
	DefaultConnectConcurrency = 64
	DefaultConnectTimeout     = 10 * time.Second
	DefaultKeepAlive          = 60 * time.Second
	DefaultDrainTimeout       = 10 * time.Second
	DefaultWriteTimeout       = 5 * time.Second
	maxConnections            = 1_000_000
	maxInflight               = 1024
)

// Options configure a Generator. Zero fields take the defaults named
// beside them; Broker is required. New copies Options: the caller may
// reuse them.
type Options struct {
	// Broker is the gateway's MQTT address: host:port or mqtt://host:port.
	Broker string `yaml:"broker"`
	// Connections is how many vehicles connect, each on its own connection
	// (default 100).
	Connections int `yaml:"connections"`
	// Rate is the batches each connection publishes per second (default 1,
	// what an agent sends with max_age 1 s). The publishes of all
	// connections are spread evenly over time.
	Rate float64 `yaml:"rate"`
	// Idle connects and holds the connections (with keep-alive pings) but
	// publishes nothing: the gateway's memory per idle connection.
	Idle bool `yaml:"idle"`
	// Duration is how long Run publishes (default 10 s); then it waits up
	// to DrainTimeout (default 10 s) for the last PUBACKs.
	Duration     time.Duration `yaml:"duration"`
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// VehiclePrefix and FirstVehicle name the vehicles PREFIX-000001 on
	// (defaults "load" and 1): the client id and the user name of each
	// connection, and the {vehicle} of its topic. Several generators share
	// one fleet's credentials with different FirstVehicle.
	VehiclePrefix string `yaml:"vehicle_prefix"`
	FirstVehicle  int    `yaml:"first_vehicle"`
	// Password returns the password of a vehicle; nil sends none (a broker
	// that lets everyone in). WriteCredentials makes a file and a function
	// for a whole fleet.
	Password func(vehicle string) string `yaml:"-"`
	// Inflight is how many publishes of one connection may wait for their
	// PUBACK (default 4, the agent's); the broker's Receive Maximum lowers
	// it. A publish that finds the window full is skipped and counted, never
	// queued, so the generator's memory stays bounded when the gateway is
	// slow.
	Inflight int `yaml:"inflight"`
	// ConnectConcurrency bounds the logins in progress (default 64) and
	// ConnectRate, when set, the new connections per second; a connection
	// not accepted within ConnectTimeout (default 10 s) counts as failed.
	ConnectConcurrency int           `yaml:"connect_concurrency"`
	ConnectRate        float64       `yaml:"connect_rate"`
	ConnectTimeout     time.Duration `yaml:"connect_timeout"`
	// KeepAlive is the MQTT keep-alive (default 60 s; the broker may set
	// another); an idle connection pings at half of it.
	KeepAlive time.Duration `yaml:"keepalive"`
	// WriteTimeout bounds one write to a connection (default 5 s): a
	// gateway that stops reading loses that connection, not the generator.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// LocalAddrs are the source IP addresses to dial from, taken in turn
	// (default: the system's choice). On loopback, LoopbackAddrs(n) spreads
	// connections over n addresses of 127.0.0.0/8: each has its own
	// ephemeral ports, and the gateway's per-address connection limit
	// counts each separately.
	LocalAddrs []string `yaml:"local_addrs"`
	// Writers is the number of goroutines that build and write publishes
	// (default 2 × GOMAXPROCS).
	Writers int `yaml:"writers"`
	// Profile is what every vehicle sends (default SyntheticProfile with
	// its defaults).
	Profile *Profile `yaml:"-"`
	// Payload is how each publish gets its payload (default PayloadHeader).
	Payload PayloadMode `yaml:"payload"`
	// Logger receives state changes (ramp done, connections lost); nil
	// means slog.Default().
	Logger *slog.Logger `yaml:"-"`
	// Metrics registers the generator's counters and PUBACK latency; nil
	// means not registered.
	Metrics prometheus.Registerer `yaml:"-"`
}

// setDefaults fills zero fields and checks the others, naming the first
// bad one.
func (o *Options) setDefaults() error {
	const pre = "loadgen: options: "
	addr, err := brokerAddr(o.Broker)
	if err != nil {
		return fmt.Errorf(pre+"broker: %w", err)
	}
	o.Broker = addr
	if o.Connections == 0 {
		o.Connections = DefaultConnections
	}
	if o.Connections < 1 || o.Connections > maxConnections {
		return fmt.Errorf(pre+"connections %d: want 1 to %d", o.Connections, maxConnections)
	}
	if o.Rate == 0 {
		o.Rate = DefaultRate
	}
	if o.Rate < 0 || o.Rate > 1000 {
		return fmt.Errorf(pre+"rate %g: want up to 1000 batches/s per connection (0: %g)", o.Rate, DefaultRate)
	}
	for _, d := range []struct {
		v    *time.Duration
		def  time.Duration
		name string
	}{
		{&o.Duration, DefaultDuration, "duration"},
		{&o.DrainTimeout, DefaultDrainTimeout, "drain_timeout"},
		{&o.ConnectTimeout, DefaultConnectTimeout, "connect_timeout"},
		{&o.KeepAlive, DefaultKeepAlive, "keepalive"},
		{&o.WriteTimeout, DefaultWriteTimeout, "write_timeout"},
	} {
		if *d.v == 0 {
			*d.v = d.def
		}
		if *d.v < 0 {
			return fmt.Errorf(pre+"%s %v: must not be negative", d.name, *d.v)
		}
	}
	if o.KeepAlive < time.Second || o.KeepAlive > 65535*time.Second {
		return fmt.Errorf(pre+"keepalive %v: want 1s to 18h12m15s", o.KeepAlive)
	}
	if o.VehiclePrefix == "" {
		o.VehiclePrefix = DefaultVehiclePrefix
	}
	if o.FirstVehicle == 0 {
		o.FirstVehicle = 1
	}
	if o.FirstVehicle < 0 {
		return fmt.Errorf(pre+"first_vehicle %d: must not be negative", o.FirstVehicle)
	}
	if err := batch.CheckVehicleID(VehicleID(o.VehiclePrefix, o.FirstVehicle+o.Connections-1)); err != nil {
		return fmt.Errorf(pre+"vehicle_prefix %q: %w", o.VehiclePrefix, err)
	}
	if o.Inflight == 0 {
		o.Inflight = DefaultInflight
	}
	if o.Inflight < 1 || o.Inflight > maxInflight {
		return fmt.Errorf(pre+"inflight %d: want 1 to %d", o.Inflight, maxInflight)
	}
	if o.ConnectConcurrency == 0 {
		o.ConnectConcurrency = DefaultConnectConcurrency
	}
	if o.ConnectConcurrency < 1 || o.ConnectConcurrency > 10_000 {
		return fmt.Errorf(pre+"connect_concurrency %d: want 1 to 10000", o.ConnectConcurrency)
	}
	if o.ConnectRate < 0 {
		return fmt.Errorf(pre+"connect_rate %g: must not be negative", o.ConnectRate)
	}
	for i, a := range o.LocalAddrs {
		if _, err := netip.ParseAddr(a); err != nil {
			return fmt.Errorf(pre+"local_addrs[%d] %q: not an IP address", i, a)
		}
	}
	if o.Writers == 0 {
		o.Writers = 2 * runtime.GOMAXPROCS(0)
	}
	if o.Writers < 1 || o.Writers > 1024 {
		return fmt.Errorf(pre+"writers %d: want 1 to 1024", o.Writers)
	}
	switch o.Payload {
	case "":
		o.Payload = PayloadHeader
	case PayloadHeader, PayloadEncode:
	default:
		return fmt.Errorf(pre+"payload %q: want %q or %q", o.Payload, PayloadHeader, PayloadEncode)
	}
	if o.Profile == nil {
		p, err := SyntheticProfile(SyntheticOptions{})
		if err != nil {
			return err
		}
		o.Profile = p
	}
	if err := o.Profile.check(); err != nil {
		return fmt.Errorf(pre+"%w", err)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// brokerAddr turns "host:port" or "mqtt://host:port" into host:port.
func brokerAddr(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("required (host:port or mqtt://host:port)")
	}
	if u, err := url.Parse(s); err == nil && u.Scheme != "" && u.Host != "" {
		if u.Scheme != "mqtt" && u.Scheme != "tcp" {
			return "", fmt.Errorf("%q: scheme %q not supported (mqtt:// only: the generator speaks plain TCP)", s, u.Scheme)
		}
		s = u.Host
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("%q: %w", s, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%q: bad port %q", s, port)
	}
	return net.JoinHostPort(host, port), nil
}

// VehicleID returns the id of vehicle n: PREFIX-000001 for 1. The number
// has at least six digits, so ids sort in their order.
func VehicleID(prefix string, n int) string {
	return fmt.Sprintf("%s-%06d", prefix, n)
}

// LoopbackAddrs returns n addresses of 127.0.0.0/8 from 127.0.0.1 up, to
// spread connections to a loopback gateway over (Options.LocalAddrs).
// Linux answers on the whole /8 without configuration. Each source address
// has its own range of ephemeral ports (net.ipv4.ip_local_port_range,
// 32768–60999: 28,232 by default) for connections to one server port, so
// 10,000 connections fit from one address and 100,000 need four.
func LoopbackAddrs(n int) []string {
	out := make([]string, 0, n)
	for i := 1; len(out) < n && i < 1<<24-1; i++ {
		if b := byte(i); b == 0 || b == 255 {
			continue // .0 and .255 look like network and broadcast addresses to some tools
		}
		out = append(out, netip.AddrFrom4([4]byte{127, byte(i >> 16), byte(i >> 8), byte(i)}).String())
	}
	return out
}
