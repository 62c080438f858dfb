package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const exampleConfig = `# a full config: every section
vehicle: veh-0001
sources:
  replay: {file: ../testdata/candumps/drive_fog.log, speed: 2, loop: true}
buses:
  dbc: [../testdata/candumps/kanal_demo.dbc]
  mapping: ../testdata/candumps/kanal_demo.mapping.yaml
uplink:
  broker: mqtt://127.0.0.1:1883
  username: veh-0001
  keepalive: 20s
  inflight: 8
  batch: {max_bytes: 64KiB, max_age: 500ms, keyframe_interval: 2m}
  sampling: {heartbeat: 30s}
spool: {dir: /tmp/kanal-spool, max_bytes: 64MiB, fsync: interval, fsync_interval: 2s}
privacy:
  level: 12
  trip_start_delay: 3m
  zones:
    - {name: depot, lat: 48.15, lon: 11.56, radius_m: 300}
metrics: {listen: "127.0.0.1:9102"}
drain_timeout: 1m
`

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig("agent.yaml", []byte(exampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case c.Vehicle != "veh-0001",
		c.Sources.Replay.File == "" || *c.Sources.Replay.Speed != 2 || !c.Sources.Replay.Loop,
		len(c.Buses.DBC) != 1 || c.Buses.Mapping == "",
		c.Uplink.Broker != "mqtt://127.0.0.1:1883" || c.Uplink.KeepAlive != 20*time.Second || c.Uplink.Inflight != 8,
		c.Uplink.Batch.MaxBytes != 64<<10 || c.Uplink.Batch.MaxAge != 500*time.Millisecond || c.Uplink.Batch.KeyframeInterval != 2*time.Minute,
		c.Uplink.Sampling.Heartbeat != 30*time.Second,
		c.Spool.Dir != "/tmp/kanal-spool" || c.Spool.MaxBytes != 64<<20 || c.Spool.Fsync != "interval",
		c.Privacy.Level != 12 || c.Privacy.TripStartDelay != 3*time.Minute || len(c.Privacy.Zones) != 1 || c.Privacy.Zones[0].RadiusM != 300,
		c.Metrics.Listen != "127.0.0.1:9102",
		c.DrainTimeout != time.Minute:
		t.Fatalf("parsed %+v", c)
	}
	if err := c.Check(); err != nil {
		t.Fatalf("Check: %v", err)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		desc, yaml string
		want       []string
	}{
		{"unknown key", "vehicle: a\nvehical: b\n", []string{"agent.yaml:2: field vehical not found"}},
		{"nested unknown key", "uplink:\n  broker: mqtt://x\n  brocker: y\n", []string{"agent.yaml:3: field brocker not found"}},
		{"wrong type", "uplink:\n  inflight: many\n", []string{"agent.yaml:2:", "many"}},
		{"bad size", "spool:\n  max_bytes: lots\n", []string{"agent.yaml:", "lots"}},
		{"bad duration", "drain_timeout: soon\n", []string{"agent.yaml:1:", "soon"}},
		{"not a mapping", "- a\n- b\n", []string{"agent.yaml:1:"}},
		{"syntax", "vehicle: [\n", []string{"agent.yaml:"}},
		{"zone without radius", "privacy:\n  zones:\n    - {name: home, lat: 48.1, lon: 11.5}\n", []string{"agent.yaml:3", "radius_m"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := ParseConfig("agent.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	if c, err := ParseConfig("empty.yaml", nil); err != nil || c.Vehicle != "" {
		t.Errorf("an empty file: %+v, %v", c, err)
	}
}

// TestConfigCheck collects every mistake at once, each naming its key.
func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	badMapping := filepath.Join(dir, "m.yaml")
	os.WriteFile(badMapping, []byte("version: 1\nsignals:\n  - path: Vehicle.Nope\n    dbc: {message: VDC_Speed, signal: VehicleSpeed}\n    on_change: true\n"), 0o644)
	c := Config{
		Vehicle: "veh/1",
		Sources: SourcesOptions{Interfaces: []string{"can0"}, Replay: ReplayOptions{File: "drive.log"}},
		Metrics: MetricsOptions{Listen: "nonsense"},
	}
	c.Buses.DBC = []string{"../testdata/candumps/kanal_demo.dbc"}
	c.Buses.Mapping = badMapping
	c.Uplink.Broker = "http://gateway"
	c.Privacy.Level = 40
	err := c.Check()
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{
		"vehicle: vehicle id",
		"sources: give interfaces or replay.file, not both",
		"buses: " + badMapping + ":3:11: unknown catalog path",
		`uplink: broker "http://gateway"`,
		"privacy: privacy.level",
		"spool: dir: required",
		"metrics: listen",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Check error lacks %q:\n%v", w, err)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(exampleConfig))
	f.Add([]byte("vehicle: a\nsources: {interfaces: [can0]}\n"))
	f.Add([]byte("privacy: {zones: [{name: x, lat: 1, lon: 2, radius_m: 3}]}\n"))
	f.Add([]byte("spool: {max_bytes: 1GiB}\nuplink: {batch: {max_bytes: 4KiB}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig("f.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.yaml:") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		_ = c.Sources.check() // never panics on what parses
		_ = c.Privacy.Check()
		_ = c.Uplink.Check()
	})
}
