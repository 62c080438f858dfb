package main

import (
	"log/slog"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kanal-dev/kanal/cloud/gateway"
	"github.com/kanal-dev/kanal/internal/cli"
)

// gatewayFlags are the settings of `run` and `check-config` that are also
// flags (contracts: other tools call them by these names); each overrides
// one key of the config file, and so does its KANAL_GATEWAY_* variable.
type gatewayFlags struct {
	mqttListen, mqttsListen, wsListen, httpListen string
	dataDir, natsListen, natsURL, credentials     string
	rules, tlsCert, tlsKey, tlsClientCA           string
	insecure                                      bool
}

func (fl *gatewayFlags) register(f *pflag.FlagSet) {
	f.StringVar(&fl.mqttListen, "mqtt-listen", "127.0.0.1:1883", "MQTT over TCP, host:port, or off (mqtt.mqtt_listen)")
	f.StringVar(&fl.mqttsListen, "mqtts-listen", "", "MQTT over TLS, host:port; needs --tls-cert and --tls-key (mqtt.mqtts_listen)")
	f.StringVar(&fl.wsListen, "ws-listen", "", "MQTT over WebSocket, host:port (mqtt.ws_listen)")
	f.StringVar(&fl.httpListen, "http-listen", gateway.DefaultHTTPListen, "/metrics, /healthz, /readyz, the API and the live page, or off (http.listen)")
	f.StringVar(&fl.dataDir, "data-dir", "", "the embedded JetStream's directory and the default credentials file (data_dir)")
	f.StringVar(&fl.natsListen, "nats-listen", "", "a client port of the embedded NATS server for processors, operators and tools (nats.listen)")
	f.StringVar(&fl.natsURL, "nats-url", "", "use this external NATS cluster instead of the embedded server (nats.url)")
	f.StringVar(&fl.credentials, "credentials", "", "the credentials file; default DATA_DIR/credentials.yaml (credentials.file)")
	f.StringVar(&fl.rules, "rules", "", "alert rules file (alerts.rules_file)")
	f.StringVar(&fl.tlsCert, "tls-cert", "", "the MQTTS listener's certificate (mqtt.tls.cert)")
	f.StringVar(&fl.tlsKey, "tls-key", "", "the MQTTS listener's key (mqtt.tls.key)")
	f.StringVar(&fl.tlsClientCA, "tls-client-ca", "", "CA of vehicle certificates: mTLS logins, the vehicle id is the CommonName (mqtt.tls.client_ca)")
	f.BoolVar(&fl.insecure, "insecure", false, "allow listeners without TLS on non-loopback addresses (mqtt.insecure)")
}

// apply overrides o with the flags set on the command line or by the
// environment.
func (fl *gatewayFlags) apply(f *pflag.FlagSet, o *gateway.Options) {
	str := func(name string, dst *string, v string) {
		if fg := f.Lookup(name); fg != nil && fg.Changed {
			*dst = v
		}
	}
	str("mqtt-listen", &o.MQTT.MQTTListen, fl.mqttListen)
	str("mqtts-listen", &o.MQTT.MQTTSListen, fl.mqttsListen)
	str("ws-listen", &o.MQTT.WSListen, fl.wsListen)
	str("http-listen", &o.HTTP.Listen, fl.httpListen)
	str("data-dir", &o.DataDir, fl.dataDir)
	str("nats-listen", &o.NATS.Listen, fl.natsListen)
	str("nats-url", &o.NATS.URL, fl.natsURL)
	str("credentials", &o.Credentials.File, fl.credentials)
	str("rules", &o.Alerts.RulesFile, fl.rules)
	str("tls-cert", &o.MQTT.TLS.Cert, fl.tlsCert)
	str("tls-key", &o.MQTT.TLS.Key, fl.tlsKey)
	str("tls-client-ca", &o.MQTT.TLS.ClientCA, fl.tlsClientCA)
	if fg := f.Lookup("insecure"); fg.Changed {
		o.MQTT.Insecure = fl.insecure
	}
}

func loadGatewayConfig(cmd *cobra.Command, path string, fl *gatewayFlags) (gateway.Options, error) {
	o, err := gateway.LoadConfig(path)
	if err != nil {
		return o, err
	}
	fl.apply(cmd.Flags(), &o)
	return o, nil
}

func newRunCmd() *cobra.Command {
	var fl gatewayFlags
	cmd := &cobra.Command{
		Use:   "run [--config gateway.yaml] [--data-dir DIR] [flags]",
		Short: "Run the gateway: MQTT v5 for the vehicles, every batch stored once in JetStream",
		Long: `Run serves MQTT v5 to the vehicles and stores every batch they send in the
JetStream stream KANAL_BATCHES (subject kanal.batches.{vehicle}, Nats-Msg-Id
{vehicle}:{boot}:{seq}, the payload as the vehicle sent it) before its
PUBACK, exactly once however late a retry comes. Refused payloads go to
KANAL_DEAD. The alert processors (fog per cell, warning lamps, breakdowns,
vehicle twins) run inside it, and alerts and notices go back to MQTT
clients; the HTTP listener serves /metrics, /healthz, /readyz, the API
(/v1/alerts, /v1/alerts/stream, /v1/vehicles, /v1/notices) and the live page.

With no flags but --data-dir it runs an embedded nats-server with
JetStream in DATA_DIR/jetstream: one binary and no other setup serve a small
fleet. --nats-url uses an external NATS cluster instead, and several
gateways can then serve one fleet behind a TCP load balancer.

Users come from the credentials file (default DATA_DIR/credentials.yaml,
created empty when missing): add them with 'ingest-gateway credentials add'.
The file is reread when it changes and on SIGHUP. A listener on an address
that is not loopback refuses to start without TLS unless --insecure.

The config file (--config or KANAL_GATEWAY_CONFIG) has the sections
data_dir, credentials, mqtt, http, nats, jetstream, bridge, alerts and api;
deploy/gateway.yaml is an example. Flags and KANAL_GATEWAY_* variables
override single keys. SIGTERM stops taking publishes, finishes those in
flight (each stored or refused), and exits.`,
		Example: `  ingest-gateway run --data-dir /var/lib/kanal-gateway
  ingest-gateway credentials add demo-0001 --file /var/lib/kanal-gateway/credentials.yaml | tail -n1 > demo-0001.password
  ingest-gateway run --nats-url nats://n1:4222,nats://n2:4222,nats://n3:4222 --credentials creds.yaml \
      --mqtts-listen :8883 --tls-cert gw.pem --tls-key gw.key --http-listen :8080 --insecure`,
		Annotations: map[string]string{cli.StructuredConfig: "gateway"},
		Args:        cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := loadGatewayConfig(cmd, cli.ConfigPath(cmd), &fl)
			if err != nil {
				return err
			}
			o.Logger, o.Version = slog.Default(), cli.Version
			g, err := gateway.New(cmd.Context(), o)
			if err != nil {
				return err
			}
			return g.Run(cmd.Context())
		},
	}
	fl.register(cmd.Flags())
	return cmd
}

func newCheckConfigCmd() *cobra.Command {
	var fl gatewayFlags
	cmd := &cobra.Command{
		Use:   "check-config [gateway.yaml] [flags]",
		Short: "Check a gateway config offline",
		Long: `Check-config reads a config file as run does (with the same flags and
KANAL_GATEWAY_* variables on top) and checks it without opening a port:
listen addresses and their TLS files, the credentials file, the rules file,
the NATS settings. It prints every mistake and exits 1 if there is any.`,
		Annotations: map[string]string{cli.StructuredConfig: "gateway"},
		Args:        cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := cli.CheckConfigArgs(cmd, args)
			o, err := loadGatewayConfig(cmd, path, &fl)
			if err == nil {
				err = o.Check()
			}
			return cli.ReportCheck(cmd, path, err)
		},
	}
	fl.register(cmd.Flags())
	return cmd
}
