package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/kanal-dev/kanal/cloud/alert"
	"github.com/kanal-dev/kanal/cloud/gateway"
	"github.com/kanal-dev/kanal/internal/cli"
)

type processFlags struct {
	natsURL, natsUser, natsPasswordFile, natsCA string
	rules                                       string
	replicas                                    int
	httpListen                                  string
	name                                        string
}

func newProcessCmd() *cobra.Command {
	var fl processFlags
	cmd := &cobra.Command{
		Use:   "process --nats-url URL [--rules FILE]",
		Short: "Run an alert processor replica against a NATS cluster",
		Long: `Process runs the alert processors (fog per cell, warning lamps,
breakdowns, vehicle twins) against the NATS JetStream a gateway stores its
batches in, without an MQTT broker of its own. Run it beside the gateways to
keep alerts going when one fails: all replicas (the gateways' own included)
share one lease, one of them is active at a time, and a standby takes over
within the lease's TTL. Every alert change is published once.

The rules file holds fog, warning and breakdown rules (see --rules);
without one the defaults apply: fog when 3 vehicles in a cell have fog
lights on within 5m, cleared after 2m below; warnings for the malfunction,
ABS, airbag, brake, oil, coolant, battery, ESC and tyre pressure lamps;
breakdown after 30s stopped with hazard lights on.`,
		Example: `  ingest-gateway process --nats-url nats://127.0.0.1:4222 --nats-user ops --nats-password-file ops.pw
  ingest-gateway process --nats-url tls://nats-1:4222,tls://nats-2:4222 --nats-ca ca.pem --rules rules.yaml --replicas 3
  # rules.yaml
  fog: {min_vehicles: 3, window: 5m, clear_after: 2m}
  warning: {lamps: [ABS, Airbag, BrakeSystem]}
  breakdown: {stopped_for: 30s}`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runProcess(cmd.Context(), fl)
		},
	}
	f := cmd.Flags()
	f.StringVar(&fl.natsURL, "nats-url", "", "NATS server URLs, comma-separated (required)")
	f.StringVar(&fl.natsUser, "nats-user", "", "NATS user (an operator of the gateway's credentials file)")
	f.StringVar(&fl.natsPasswordFile, "nats-password-file", "", "file whose first line is the NATS password")
	f.StringVar(&fl.natsCA, "nats-ca", "", "PEM bundle to verify the NATS servers' TLS certificates")
	f.StringVar(&fl.rules, "rules", "", "alert rules file (YAML); empty: the defaults")
	f.IntVar(&fl.replicas, "replicas", 1, "replicas of the alert streams and buckets (3 on a cluster)")
	f.StringVar(&fl.httpListen, "http-listen", "", "address for /metrics and /healthz; empty: none")
	f.StringVar(&fl.name, "name", "", "name of this replica in logs and the lease (default: host, pid)")
	return cmd
}

func runProcess(ctx context.Context, fl processFlags) error {
	if fl.natsURL == "" {
		return cli.Usagef("--nats-url is required")
	}
	var rules alert.Rules
	if fl.rules != "" {
		var err error
		if rules, err = alert.LoadRules(fl.rules, nil); err != nil {
			return err
		}
	}
	nc, err := gateway.ConnectNATS(gateway.NATSOptions{URL: fl.natsURL, User: fl.natsUser, PasswordFile: fl.natsPasswordFile, CA: fl.natsCA},
		"kanal-process", slog.Default())
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	e, err := alert.New(alert.Options{Rules: rules, Replicas: fl.replicas, JetStream: js, Name: fl.name, Metrics: reg})
	if err != nil {
		return err
	}
	r := e.Rules()
	slog.Info("alert processor starting", "nats", gateway.RedactURL(fl.natsURL), "fog_min_vehicles", r.Fog.MinVehicles,
		"fog_window", r.Fog.Window, "lamps", strings.Join(r.Warning.Lamps, ","))
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return e.Run(ctx) })
	if fl.httpListen != "" {
		ln, err := net.Listen("tcp", fl.httpListen)
		if err != nil {
			return fmt.Errorf("--http-listen: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
			if !nc.IsConnected() {
				http.Error(w, "nats: not connected\n", http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintf(w, "ok (active: %v)\n", e.Leader())
		})
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		g.Go(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
		g.Go(func() error {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		})
	}
	return g.Wait()
}

// readSecret returns the first line of a file ("" for no file).
func readSecret(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	return strings.TrimSpace(line), nil
}
