// Command loadgen loads an ingest gateway with many MQTT v5 vehicle
// connections publishing real batches (package sim/loadgen) and prints
// what it measured: connections held, batches and signal values
// acknowledged per second, PUBACK latency, negative PUBACKs and failures by
// reason.
//
// Usage:
//
//	loadgen --broker 127.0.0.1:1883 --connections 10000 --rate 1 --duration 30s
//	loadgen --broker 127.0.0.1:1883 --connections 10000 --credentials /tmp/fleet.yaml --replace-credentials
//	loadgen --broker 127.0.0.1:1883 --drive testdata/candumps/drive_city.log \
//	    --dbc testdata/candumps/kanal_demo.dbc --mapping testdata/candumps/kanal_demo.mapping.yaml
//
// With --credentials FILE it first writes a credentials file for the fleet
// (the gateway's format, one random password per vehicle, bcrypt cost
// --bcrypt-cost) and logs in with those passwords; start the gateway with
// --credentials FILE, it picks the new file up by itself within
// --credentials-wait. --json prints the report as JSON instead of text.
// Exit codes: 0 done, 1 error (no vehicle connected, interrupted), 2 usage.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kanal-dev/kanal/dbc"
	"github.com/kanal-dev/kanal/sim/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// listFlag is a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// config is the command line.
type config struct {
	opts         loadgen.Options
	password     string
	passwordFile string
	credentials  string
	replace      bool
	cost         int
	credWait     time.Duration
	loopback     int
	localAddrs   string
	synth        loadgen.SyntheticOptions
	drive        string
	dbcs         listFlag
	mapping      string
	asJSON       bool
	progress     time.Duration
	logLevel     string
}

func parse(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &c.opts
	fs.StringVar(&o.Broker, "broker", "127.0.0.1:1883", "gateway MQTT address, host:port or mqtt://host:port")
	fs.IntVar(&o.Connections, "connections", loadgen.DefaultConnections, "vehicles, one connection each")
	fs.Float64Var(&o.Rate, "rate", loadgen.DefaultRate, "batches per second per connection")
	fs.BoolVar(&o.Idle, "idle", false, "connect and hold the connections, publish nothing")
	fs.DurationVar(&o.Duration, "duration", loadgen.DefaultDuration, "how long to publish")
	fs.DurationVar(&o.DrainTimeout, "drain-timeout", loadgen.DefaultDrainTimeout, "how long to wait for the last PUBACKs")
	fs.StringVar(&o.VehiclePrefix, "vehicle-prefix", loadgen.DefaultVehiclePrefix, "vehicle ids are PREFIX-000001, ...")
	fs.IntVar(&o.FirstVehicle, "first-vehicle", 1, "number of the first vehicle")
	fs.IntVar(&o.Inflight, "inflight", loadgen.DefaultInflight, "publishes per connection waiting for their PUBACK")
	fs.IntVar(&o.ConnectConcurrency, "connect-concurrency", loadgen.DefaultConnectConcurrency, "logins in progress at once")
	fs.Float64Var(&o.ConnectRate, "connect-rate", 0, "new connections per second (0: as fast as the concurrency allows)")
	fs.DurationVar(&o.ConnectTimeout, "connect-timeout", loadgen.DefaultConnectTimeout, "time for a login")
	fs.DurationVar(&o.KeepAlive, "keepalive", loadgen.DefaultKeepAlive, "MQTT keep-alive")
	fs.IntVar(&o.Writers, "writers", 0, "goroutines writing publishes (0: 2 × GOMAXPROCS)")
	fs.StringVar((*string)(&o.Payload), "payload", string(loadgen.PayloadHeader), "header (bodies encoded once, a fresh header per publish) or encode (every batch encoded)")
	fs.StringVar(&c.password, "password", "", "one password for every vehicle")
	fs.StringVar(&c.passwordFile, "password-file", "", "file holding one password for every vehicle")
	fs.StringVar(&c.credentials, "credentials", "", "write a gateway credentials file for the fleet and log in with its passwords")
	fs.BoolVar(&c.replace, "replace-credentials", false, "overwrite an existing --credentials file")
	fs.IntVar(&c.cost, "bcrypt-cost", 0, "bcrypt cost of the --credentials hashes (0: 4, the minimum)")
	fs.DurationVar(&c.credWait, "credentials-wait", 3*time.Second, "pause after writing --credentials, for the gateway to reload it")
	fs.IntVar(&c.loopback, "loopback-addrs", 0, "dial from N addresses of 127.0.0.0/8 (for a gateway on loopback)")
	fs.StringVar(&c.localAddrs, "local-addrs", "", "comma-separated source IP addresses to dial from")
	fs.IntVar(&c.synth.Signals, "signals", loadgen.DefaultSignals, "signals of the synthetic vehicle")
	fs.IntVar(&c.synth.Seconds, "seconds", loadgen.DefaultSeconds, "distinct seconds (batches) of the synthetic vehicle")
	fs.Uint64Var(&c.synth.Seed, "seed", 1, "seed of the synthetic vehicle")
	fs.StringVar(&c.drive, "drive", "", "candump log to send instead of the synthetic vehicle (needs --dbc and --mapping)")
	fs.Var(&c.dbcs, "dbc", "DBC file of the --drive (repeatable)")
	fs.StringVar(&c.mapping, "mapping", "", "mapping file of the --drive")
	fs.BoolVar(&c.asJSON, "json", false, "print the report as JSON")
	fs.DurationVar(&c.progress, "progress", 5*time.Second, "log progress this often (0: never)")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.password != "" && c.passwordFile != "" || (c.password != "" || c.passwordFile != "") && c.credentials != "" {
		return nil, errors.New("give one of --password, --password-file and --credentials")
	}
	if c.loopback > 0 && c.localAddrs != "" {
		return nil, errors.New("give --loopback-addrs or --local-addrs, not both")
	}
	if c.drive == "" && (len(c.dbcs) > 0 || c.mapping != "") {
		return nil, errors.New("--dbc and --mapping go with --drive")
	}
	return c, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		fmt.Fprintln(stderr, "loadgen: --log-level:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := c.complete(log); err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 1
	}
	if c.credentials != "" && c.credWait > 0 {
		select {
		case <-time.After(c.credWait):
		case <-ctx.Done():
		}
	}
	g, err := loadgen.New(c.opts)
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 2
	}
	defer g.Close()
	var wg sync.WaitGroup
	done := make(chan struct{})
	if c.progress > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			progress(g, log, c.progress, done)
		}()
	}
	rep, err := g.Run(ctx)
	close(done)
	wg.Wait()
	g.Close()
	if rep != nil {
		if werr := write(stdout, rep, c.asJSON); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 1
	}
	return 0
}

// complete turns the flags that need work into Options: passwords,
// credentials, source addresses and the profile.
func (c *config) complete(log *slog.Logger) error {
	o := &c.opts
	o.Logger = log
	switch {
	case c.password != "":
		pw := c.password
		o.Password = func(string) string { return pw }
	case c.passwordFile != "":
		data, err := os.ReadFile(c.passwordFile)
		if err != nil {
			return fmt.Errorf("--password-file: %w", err)
		}
		pw := strings.TrimSpace(string(data))
		o.Password = func(string) string { return pw }
	case c.credentials != "":
		pw, err := loadgen.WriteCredentials(c.credentials, loadgen.CredentialsOptions{VehiclePrefix: o.VehiclePrefix,
			FirstVehicle: o.FirstVehicle, Vehicles: o.Connections, Cost: c.cost, Replace: c.replace})
		if err != nil {
			return err
		}
		o.Password = pw
		log.Info("wrote credentials", "file", c.credentials, "vehicles", o.Connections)
	}
	switch {
	case c.loopback > 0:
		o.LocalAddrs = loadgen.LoopbackAddrs(c.loopback)
	case c.localAddrs != "":
		o.LocalAddrs = strings.Split(c.localAddrs, ",")
	}
	var err error
	if c.drive != "" {
		o.Profile, err = loadgen.DriveProfile(loadgen.DriveOptions{Log: c.drive, Buses: dbc.PipelineOptions{DBC: c.dbcs, Mapping: c.mapping, Logger: log}})
	} else {
		o.Profile, err = loadgen.SyntheticProfile(c.synth)
	}
	return err
}

// progress logs the state every interval until done.
func progress(g *loadgen.Generator, log *slog.Logger, every time.Duration, done <-chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	var last uint64
	for {
		select {
		case <-done:
			return
		case <-t.C:
			r := g.Snapshot()
			log.Info("progress", "held", r.Held, "failed", r.ConnectFailuresTotal(), "lost", r.LostTotal(), "published", r.Published,
				"acked", r.Acked, "nacked", r.NackedTotal(), "acked_per_s", fmt.Sprintf("%.0f", float64(r.Acked-last)/every.Seconds()),
				"p99_ms", fmt.Sprintf("%.2f", r.Puback.P99))
			last = r.Acked
		}
	}
}

func write(w io.Writer, r *loadgen.Report, asJSON bool) error {
	if !asJSON {
		return r.WriteText(w)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
