package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kanal-dev/kanal/cloud/alert"
	"github.com/kanal-dev/kanal/cloud/api"
	"github.com/kanal-dev/kanal/cloud/auth"
	"github.com/kanal-dev/kanal/cloud/bridge"
	"github.com/kanal-dev/kanal/cloud/broker"
	"github.com/kanal-dev/kanal/cloud/store"
)

// DefaultHTTPListen is where the gateway serves HTTP by default.
const DefaultHTTPListen = "127.0.0.1:8080"

// Options is the gateway's config file (`ingest-gateway run --config
// gateway.yaml`): one section per package, each that package's Options;
// flags and KANAL_GATEWAY_* variables override single keys.
//
//	data_dir: /var/lib/kanal-gateway
//	credentials: {file: /etc/kanal/credentials.yaml}
//	mqtt: {mqtt_listen: 127.0.0.1:1883}
//	http: {listen: 127.0.0.1:8080}
//	nats: {listen: "", url: ""}
//	jetstream: {max_age: 168h, max_bytes: 10GiB}
//	alerts: {rules_file: /etc/kanal/rules.yaml}
type Options struct {
	// DataDir holds the embedded JetStream's files (DataDir/jetstream) and,
	// unless credentials.file says otherwise, the credentials file
	// (DataDir/credentials.yaml). Required with the embedded NATS server.
	DataDir     string         `yaml:"data_dir"`
	Credentials auth.Options   `yaml:"credentials"`
	MQTT        broker.Options `yaml:"mqtt"`
	HTTP        HTTPOptions    `yaml:"http"`
	NATS        NATSOptions    `yaml:"nats"`
	JetStream   store.Options  `yaml:"jetstream"`
	Bridge      bridge.Options `yaml:"bridge"`
	Alerts      AlertsOptions  `yaml:"alerts"`
	API         api.Options    `yaml:"api"`

	Logger *slog.Logger `yaml:"-"` // nil means slog.Default()
	// Registry receives every metric; nil means a new one with the Go
	// runtime and process collectors.
	Registry *prometheus.Registry `yaml:"-"`
	Version  string               `yaml:"-"`
}

// HTTPOptions is the gateway's HTTP listener: /metrics, /healthz, /readyz,
// the alerts and vehicles API and the live page.
type HTTPOptions struct {
	// Listen is host:port (default 127.0.0.1:8080); "off" for none.
	Listen string `yaml:"listen"`
}

// AlertsOptions are the processors the gateway runs beside the broker.
type AlertsOptions struct {
	alert.Options `yaml:",inline"`
	// RulesFile is the rules file (`--rules`); empty: the rules above, or
	// the defaults.
	RulesFile string `yaml:"rules_file"`
	// Off runs no processor in this gateway (the relay of alerts and
	// notices to its MQTT clients still runs): for fleets whose processors
	// run as `ingest-gateway process` replicas.
	Off bool `yaml:"off"`
}

func (o *Options) setDefaults() error {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.HTTP.Listen == "" {
		o.HTTP.Listen = DefaultHTTPListen
	}
	if o.NATS.URL == "" && o.DataDir == "" {
		return errors.New("data_dir: required with the embedded NATS server (or give nats.url)")
	}
	if o.Credentials.File == "" {
		if o.DataDir == "" {
			return errors.New("credentials.file: required")
		}
		o.Credentials.File = filepath.Join(o.DataDir, "credentials.yaml")
	}
	if o.HTTP.Listen != broker.Off {
		if err := listenAllowed("http.listen", o.HTTP.Listen, o.MQTT.Insecure); err != nil {
			return err
		}
	}
	if o.NATS.Listen != "" {
		if o.NATS.URL != "" {
			return errors.New("nats.listen and nats.url: the client port is the embedded server's; an external cluster has its own")
		}
		if err := listenAllowed("nats.listen", o.NATS.Listen, o.MQTT.Insecure); err != nil {
			return err
		}
	}
	return nil
}

// listenAllowed refuses a plain-text listener on a non-loopback address
// unless insecure: passwords would cross the network in the clear. (The
// MQTT listeners are checked by the broker; HTTP and NATS have no TLS
// here, so a public address needs a TLS proxy in front and --insecure.)
func listenAllowed(field, addr string, insecure bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s %q: %w", field, addr, err)
	}
	if insecure {
		return nil
	}
	ip := net.ParseIP(host)
	if host == "localhost" || ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%s %s: not a loopback address, and it has no TLS: put a TLS proxy in front and pass --insecure", field, addr)
}
