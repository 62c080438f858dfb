package main

import (
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kanal-dev/kanal/agent"
	"github.com/kanal-dev/kanal/internal/cli"
)

// agentFlags are the settings people change most, as flags; each
// overrides one key of the config file. Names follow decode and replay.
type agentFlags struct {
	vehicle, broker, username, passwordFile string
	ca, cert, key                           string
	spoolDir                                string
	from                                    []string
	replay                                  string
	speed                                   float64
	loop, keepTime                          bool
	dbcs, buses, catalogs                   []string
	mapping, metricsListen                  string
}

func (fl *agentFlags) register(f *pflag.FlagSet) {
	f.StringVar(&fl.vehicle, "vehicle", "", "vehicle id: the MQTT client id and login (vehicle)")
	f.StringVar(&fl.broker, "broker", "", "gateway URL, mqtt://host:1883 or mqtts://host:8883 (uplink.broker)")
	f.StringVar(&fl.username, "username", "", "MQTT user name (uplink.username)")
	f.StringVar(&fl.passwordFile, "password-file", "", "file whose first line is the MQTT password (uplink.password_file)")
	f.StringVar(&fl.ca, "ca", "", "CA bundle to verify the gateway (uplink.tls.ca)")
	f.StringVar(&fl.cert, "cert", "", "client certificate for mTLS (uplink.tls.cert)")
	f.StringVar(&fl.key, "key", "", "client key for mTLS (uplink.tls.key)")
	f.StringVar(&fl.spoolDir, "spool-dir", "", "directory of the durable spool (spool.dir)")
	f.StringArrayVar(&fl.from, "from", nil, "read this SocketCAN interface (repeatable; sources.interfaces)")
	f.StringVar(&fl.replay, "replay", "", "replay this candump log instead of buses (sources.replay.file)")
	f.Float64Var(&fl.speed, "speed", 1, "with --replay: times real time, 0 as fast as possible (sources.replay.speed)")
	f.BoolVar(&fl.loop, "loop", false, "with --replay: start over at the end (sources.replay.loop)")
	f.BoolVar(&fl.keepTime, "keep-time", false, "with --replay: keep the logged timestamps instead of moving them to now (sources.replay.keep_time)")
	f.StringArrayVar(&fl.dbcs, "dbc", nil, "DBC file for every bus --bus does not name (repeatable; buses.dbc)")
	f.StringArrayVar(&fl.buses, "bus", nil, "DBC file of one bus, BUS=FILE (repeatable; buses.per_bus)")
	f.StringVar(&fl.mapping, "mapping", "", "mapping file, DBC signals to catalog entries (buses.mapping)")
	f.StringArrayVar(&fl.catalogs, "catalog", nil, "catalog file extending the default catalog (repeatable; buses.catalogs)")
	f.StringVar(&fl.metricsListen, "metrics-listen", "", "host:port of /metrics, /healthz and /v1/notices (metrics.listen)")
}

// apply overrides the config with the flags that were set, on the command
// line or through KANAL_AGENT_* variables.
func (fl *agentFlags) apply(f *pflag.FlagSet, c *agent.Config) error {
	set := func(name string) bool { fg := f.Lookup(name); return fg != nil && fg.Changed }
	str := func(name string, dst *string, v string) {
		if set(name) {
			*dst = v
		}
	}
	str("vehicle", &c.Vehicle, fl.vehicle)
	str("broker", &c.Uplink.Broker, fl.broker)
	str("username", &c.Uplink.Username, fl.username)
	str("password-file", &c.Uplink.PasswordFile, fl.passwordFile)
	str("ca", &c.Uplink.TLS.CA, fl.ca)
	str("cert", &c.Uplink.TLS.Cert, fl.cert)
	str("key", &c.Uplink.TLS.Key, fl.key)
	str("spool-dir", &c.Spool.Dir, fl.spoolDir)
	str("mapping", &c.Buses.Mapping, fl.mapping)
	str("metrics-listen", &c.Metrics.Listen, fl.metricsListen)
	if set("from") {
		c.Sources.Interfaces, c.Sources.Replay.File = fl.from, ""
	}
	if set("replay") {
		c.Sources.Replay.File, c.Sources.Interfaces = fl.replay, nil
	}
	if set("speed") {
		sp := fl.speed
		c.Sources.Replay.Speed = &sp
	}
	if set("loop") {
		c.Sources.Replay.Loop = fl.loop
	}
	if set("keep-time") {
		c.Sources.Replay.KeepTime = fl.keepTime
	}
	if set("dbc") {
		c.Buses.DBC = fl.dbcs
	}
	if set("catalog") {
		c.Buses.Catalogs = fl.catalogs
	}
	if set("bus") {
		c.Buses.Buses = map[string][]string{}
		for _, b := range fl.buses {
			bus, file, ok := strings.Cut(b, "=")
			if !ok || bus == "" || file == "" {
				return cli.Usagef("--bus %q: want BUS=FILE", b)
			}
			c.Buses.Buses[bus] = append(c.Buses.Buses[bus], file)
		}
	}
	return nil
}

// loadAgentConfig reads the config file (if any) and applies the flags.
func loadAgentConfig(cmd *cobra.Command, path string, fl *agentFlags) (agent.Config, error) {
	c, err := agent.LoadConfig(path)
	if err != nil {
		return c, err
	}
	return c, fl.apply(cmd.Flags(), &c)
}

// newRunCmd builds `edge-agent run`.
func newRunCmd() *cobra.Command {
	var fl agentFlags
	var drain time.Duration
	cmd := &cobra.Command{
		Use:   "run [--config agent.yaml] [flags]",
		Short: "Run the agent: buses or a replayed log to the gateway",
		Long: `Run reads SocketCAN buses (--from) or replays a candump log (--replay),
decodes the frames through the DBC files and the mapping into catalog
signals, rounds positions to grid cells (precise positions never leave
the vehicle; privacy zones send nothing at all), samples and batches the
values and sends them over MQTT v5 (QoS 1) to the ingest gateway. Every
batch goes to a durable spool first and leaves it only after the
gateway's PUBACK, so neither a lost link nor a power cut loses data.

The config file (--config, or KANAL_AGENT_CONFIG) is YAML with sections
vehicle, sources, buses, uplink, spool, privacy, metrics and drain_timeout;
deploy/agent.yaml is a commented example. Each flag overrides one key, and
so does its KANAL_AGENT_* variable (KANAL_AGENT_BROKER=...).

With --replay the log's timestamps move to the present (as frames replayed
onto a bus get new kernel timestamps), spacing kept; --keep-time keeps
them. Sampling and batching follow those timestamps, so a replay at any
--speed (0: as fast as possible) is sampled as the drive was. Without
--loop the agent exits 0 once the log has ended and the gateway has
acknowledged every batch, and 1 if that takes longer than --drain-timeout.

SIGTERM or Ctrl-C: the open batch goes to the spool, and the agent exits;
the next run sends what is left, with the batches' old boot id and
sequence numbers.`,
		Example: `  edge-agent run --config /etc/kanal/agent.yaml
  edge-agent run --vehicle demo-1 --broker mqtt://127.0.0.1:1883 --spool-dir /tmp/spool \
      --dbc testdata/candumps/kanal_demo.dbc --mapping testdata/candumps/kanal_demo.mapping.yaml \
      --replay testdata/candumps/drive_fog.log --speed 10`,
		Annotations: map[string]string{cli.StructuredConfig: "agent"},
		Args:        cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadAgentConfig(cmd, cli.ConfigPath(cmd), &fl)
			if err != nil {
				return err
			}
			if cmd.Flags().Lookup("drain-timeout").Changed {
				c.DrainTimeout = drain
			}
			if os.Getenv("GOMAXPROCS") == "" {
				// The agent is one pipeline, and a vehicle's CPU is small
				// and shared: a second scheduler thread only spins looking
				// for work (measured: a tenth of the agent's CPU at 4,000
				// frames/s). GOMAXPROCS in the environment overrides.
				runtime.GOMAXPROCS(1)
			}
			a, err := agent.New(c, agent.Options{Logger: slog.Default(), Version: cli.Version})
			if err != nil {
				return err
			}
			return a.Run(cmd.Context())
		},
	}
	fl.register(cmd.Flags())
	cmd.Flags().DurationVar(&drain, "drain-timeout", agent.DefaultDrainTimeout, "with --replay and no --loop: how long to wait for the last acknowledgements (drain_timeout)")
	return cmd
}

// newCheckConfigCmd builds `edge-agent check-config`.
func newCheckConfigCmd() *cobra.Command {
	var fl agentFlags
	cmd := &cobra.Command{
		Use:   "check-config [agent.yaml] [flags]",
		Short: "Check an agent config offline, DBC files and mapping included",
		Long: `Check-config reads a config file as run does (with the same flags and
KANAL_AGENT_* variables on top) and checks all of it without touching a
bus or the network: the vehicle id, the sources, every DBC file and the
mapping against them and the catalog, the uplink settings and the files
they name (password, CA, certificate), the spool, privacy zones and the
metrics address. It prints every mistake, each naming its key, file and
line, and exits 1 if there is any, so a mistake is caught in the workshop
and not on the road.`,
		Example: `  edge-agent check-config /etc/kanal/agent.yaml
  edge-agent check-config deploy/agent.yaml --spool-dir /tmp/spool`,
		Annotations: map[string]string{cli.StructuredConfig: "agent"},
		Args:        cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := cli.CheckConfigArgs(cmd, args)
			c, err := loadAgentConfig(cmd, path, &fl)
			if err == nil {
				err = c.Check()
			}
			return cli.ReportCheck(cmd, path, err)
		},
	}
	fl.register(cmd.Flags())
	return cmd
}
