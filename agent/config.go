package agent

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/kanal-dev/kanal/dbc"
	"github.com/kanal-dev/kanal/internal/yamlfile"
	"github.com/kanal-dev/kanal/uplink"
	"github.com/kanal-dev/kanal/uplink/batch"
	"github.com/kanal-dev/kanal/uplink/spool"
)

// Config is the agent's config file (`edge-agent run --config agent.yaml`).
// Each section is the Options of the package that uses it; flags and
// KANAL_AGENT_* variables override single keys (cmd/edge-agent).
//
//	vehicle: veh-0001
//	sources: {interfaces: [can0]}
//	buses: {dbc: [/etc/kanal/car.dbc], mapping: /etc/kanal/car.mapping.yaml}
//	uplink: {broker: mqtts://gateway.example:8883, username: veh-0001, password_file: /etc/kanal/password}
//	spool: {dir: /var/lib/kanal/spool}
//	privacy: {zones: [{name: depot, lat: 48.1, lon: 11.5, radius_m: 300}]}
//	metrics: {listen: 127.0.0.1:9102}
type Config struct {
	// Vehicle is the vehicle id: the MQTT client id, the topics' vehicle and
	// the gateway login. A-Z, a-z, 0-9, '_' and '-', at most 64.
	Vehicle string         `yaml:"vehicle"`
	Sources SourcesOptions `yaml:"sources"`
	// Buses are the DBC files per bus, the mapping and the catalog files.
	Buses   dbc.PipelineOptions   `yaml:"buses"`
	Uplink  uplink.Options        `yaml:"uplink"`
	Spool   spool.Options         `yaml:"spool"`
	Privacy uplink.PrivacyOptions `yaml:"privacy"`
	Metrics MetricsOptions        `yaml:"metrics"`
	// DrainTimeout bounds how long a replay without loop waits, after the
	// log ends, for the gateway to acknowledge every batch (default 30 s).
	// The agent exits non-zero when the spool is not empty by then.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
}

// SourcesOptions says where frames come from: SocketCAN interfaces, or a
// candump log replayed.
type SourcesOptions struct {
	Interfaces []string      `yaml:"interfaces"`
	Replay     ReplayOptions `yaml:"replay"`
}

// ReplayOptions replays a candump log as if it were the vehicle's buses.
type ReplayOptions struct {
	File string `yaml:"file"`
	// Speed: 1 is real time (the default), 2 twice as fast, 0 as fast as
	// possible. Sampling and batching follow the log's timestamps, so the
	// drive is sampled and batched alike at any speed.
	Speed *float64 `yaml:"speed"`
	// Loop starts over at the end; the timestamps keep going forward.
	Loop bool `yaml:"loop"`
	// KeepTime keeps the logged timestamps. By default they are moved to
	// the present, keeping their spacing, as a bus would stamp them (frames
	// replayed onto vcan get new kernel timestamps).
	KeepTime bool `yaml:"keep_time"`
}

// MetricsOptions is the agent's HTTP endpoint: /metrics (Prometheus),
// /healthz, and the notices a local display shows (/v1/notices).
type MetricsOptions struct {
	// Listen is host:port; empty turns the endpoint off. It serves on
	// loopback by default in the example config: the vehicle's network is
	// not the internet.
	Listen string `yaml:"listen"`
}

// DefaultDrainTimeout is Config.DrainTimeout's default.
const DefaultDrainTimeout = 30 * time.Second

// LoadConfig reads a config file. Unknown keys and values of the wrong type
// are errors naming file and line; an empty path gives the zero Config.
func LoadConfig(path string) (Config, error) {
	var c Config
	if path == "" {
		return c, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	return ParseConfig(path, data)
}

// ParseConfig is LoadConfig on the file's contents; name is used in errors.
func ParseConfig(name string, data []byte) (Config, error) {
	var c Config
	err := yamlfile.Decode(name, data, &c)
	return c, err
}

// setDefaults fills what a config may leave out.
func (c *Config) setDefaults() {
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.Sources.Replay.Speed == nil {
		one := 1.0
		c.Sources.Replay.Speed = &one
	}
}

// Check validates the whole config offline, DBC files and mapping
// included, as `edge-agent check-config` does: it returns every mistake,
// each naming its key, file or line.
func (c Config) Check() error {
	c.setDefaults()
	var errs []error
	add := func(section string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", section, err))
		}
	}
	add("vehicle", batch.CheckVehicleID(c.Vehicle))
	add("sources", c.Sources.check())
	if c.Buses.Mapping == "" {
		add("buses", errors.New("mapping: required (which DBC signals does the agent send?)"))
	} else if _, err := dbc.NewPipeline(c.Buses); err != nil {
		add("buses", err)
	}
	add("uplink", c.Uplink.Check())
	add("privacy", c.Privacy.Check())
	if c.Spool.Dir == "" {
		add("spool", errors.New("dir: required"))
	}
	if c.Metrics.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
			add("metrics", fmt.Errorf("listen: %w", err))
		}
	}
	if c.DrainTimeout < 0 {
		add("drain_timeout", fmt.Errorf("%v: want more than 0", c.DrainTimeout))
	}
	return errors.Join(errs...)
}

func (s SourcesOptions) check() error {
	switch {
	case len(s.Interfaces) == 0 && s.Replay.File == "":
		return errors.New("give interfaces (SocketCAN) or replay.file (a candump log)")
	case len(s.Interfaces) > 0 && s.Replay.File != "":
		return errors.New("give interfaces or replay.file, not both")
	}
	for _, name := range s.Interfaces {
		if name == "" || strings.ContainsAny(name, "/ \t") || len(name) > 15 {
			return fmt.Errorf("interfaces: %q is not an interface name", name)
		}
	}
	if s.Replay.File != "" {
		if _, err := os.Stat(s.Replay.File); err != nil {
			return fmt.Errorf("replay.file: %w", err)
		}
		if sp := s.Replay.Speed; sp != nil && (*sp < 0 || *sp > 1e6) {
			return fmt.Errorf("replay.speed %v: want 0 (as fast as possible) or more", *sp)
		}
	}
	return nil
}
