package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/kanal-dev/kanal/cloud/alert"
	"github.com/kanal-dev/kanal/cloud/api"
	"github.com/kanal-dev/kanal/cloud/auth"
	"github.com/kanal-dev/kanal/cloud/bridge"
	"github.com/kanal-dev/kanal/cloud/broker"
	"github.com/kanal-dev/kanal/cloud/store"
)

// Gateway is the ingest gateway: the MQTT v5 broker the vehicles connect
// to, the bridge that stores every batch once in JetStream before its
// PUBACK, the alert processors, the relay of alerts and notices back to
// MQTT clients, and the HTTP API, over an embedded nats-server by default or
// an external NATS cluster.
type Gateway struct {
	opts  Options
	log   *slog.Logger
	reg   *prometheus.Registry
	creds *auth.Credentials
	nats  *embedded // nil with an external cluster
	nc    *nats.Conn
	js    jetstream.JetStream
	store *store.Store
	mqtt  *broker.Server
	hook  *bridge.Hook
	eng   *alert.Engine // nil when alerts.off
	relay *alert.Relay
	api   *api.API
	http  net.Listener // nil when http.listen is off

	ready sync.Once
	isUp  chan struct{} // closed once the streams exist
}

// New builds the gateway: it opens the credentials, starts or reaches
// NATS, makes sure of the streams, and opens every listener, so a mistake
// (a port in use, a bad file) fails here rather than later. Run serves.
func New(ctx context.Context, opts Options) (_ *Gateway, err error) {
	if err := opts.setDefaults(); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	g := &Gateway{opts: opts, log: opts.Logger, reg: opts.Registry, isUp: make(chan struct{})}
	if g.reg == nil {
		g.reg = prometheus.NewRegistry()
		g.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	defer func() {
		if err != nil {
			g.close()
		}
	}()
	if err := ensureCredentialsFile(opts.Credentials.File); err != nil {
		return nil, err
	}
	co := opts.Credentials
	co.Logger, co.Registerer = g.log, g.reg
	if g.creds, err = auth.Open(co); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	if opts.NATS.URL == "" {
		if g.nats, err = startEmbedded(opts.DataDir, opts.NATS.Listen, g.creds, g.log); err != nil {
			return nil, fmt.Errorf("gateway: %w", err)
		}
		if g.nc, err = g.nats.connect("kanal-gateway"); err != nil {
			return nil, fmt.Errorf("gateway: %w", err)
		}
	} else if g.nc, err = ConnectNATS(opts.NATS, "kanal-gateway", g.log); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	if g.js, err = jetstream.New(g.nc); err != nil {
		return nil, fmt.Errorf("gateway: jetstream: %w", err)
	}
	so := opts.JetStream
	so.Logger, so.Metrics = g.log, g.reg
	if g.store, err = store.New(g.js, so); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}

	mo := opts.MQTT
	mo.Credentials, mo.Logger, mo.Registerer = g.creds, g.log, g.reg
	if g.mqtt, err = broker.New(mo); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	bo := opts.Bridge
	bo.Store, bo.Logger, bo.Metrics = g.store, g.log, g.reg
	bo.Identity = func(cl *mqtt.Client) string {
		if role, name, ok := broker.ClientIdentity(cl); ok && role == auth.RoleVehicle {
			return name
		}
		return "" // no vehicle: its batches are refused
	}
	if g.hook, err = bridge.New(bo); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	if err := g.mqtt.AddHook(g.hook, nil); err != nil {
		return nil, fmt.Errorf("gateway: bridge hook: %w", err)
	}
	if err := g.mqtt.AddHook(&statusHook{nc: g.nc}, nil); err != nil {
		return nil, fmt.Errorf("gateway: status hook: %w", err)
	}

	if !opts.Alerts.Off {
		ao := opts.Alerts.Options
		if opts.Alerts.RulesFile != "" {
			if ao.Rules, err = alert.LoadRules(opts.Alerts.RulesFile, ao.Catalog); err != nil {
				return nil, fmt.Errorf("gateway: %w", err)
			}
		}
		ao.JetStream, ao.Logger, ao.Metrics = g.js, g.log, g.reg
		if g.eng, err = alert.New(ao); err != nil {
			return nil, fmt.Errorf("gateway: %w", err)
		}
	}
	if g.relay, err = alert.NewRelay(alert.RelayOptions{JetStream: g.js, MQTT: g.mqtt, Logger: g.log, Metrics: g.reg}); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	apo := opts.API
	apo.JetStream, apo.Auth, apo.Logger, apo.Metrics = g.js, roleAuth{g.creds}, g.log, g.reg
	if g.api, err = api.New(apo); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	if opts.HTTP.Listen != broker.Off {
		if g.http, err = net.Listen("tcp", opts.HTTP.Listen); err != nil {
			return nil, fmt.Errorf("gateway: http.listen: %w", err)
		}
	}
	return g, nil
}

// ensureCredentialsFile creates an empty credentials file (0600) when there
// is none, so a new gateway starts with nobody allowed in and picks up the
// users `ingest-gateway credentials add` writes.
func ensureCredentialsFile(path string) error {
	if _, err := os.Stat(path); err == nil || !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("gateway: credentials: %w", err)
	}
	err := os.WriteFile(path, []byte("# Kanal gateway credentials: add users with `ingest-gateway credentials add NAME --file "+path+"`\nversion: 1\nusers: []\n"), 0o600)
	if err != nil {
		return fmt.Errorf("gateway: credentials: %w", err)
	}
	return nil
}

// roleAuth lets the HTTP API check the credentials file.
type roleAuth struct{ c *auth.Credentials }

func (r roleAuth) Verify(name, password string) (string, bool) {
	u, ok := r.c.Verify(name, password)
	return string(u.Role), ok
}

// MQTTAddr returns the address of an MQTT listener (broker.ListenerMQTT,
// ListenerMQTTS, ListenerWS), with the port picked for a :0 address.
func (g *Gateway) MQTTAddr(id string) string { return g.mqtt.Addr(id) }

// HTTPAddr returns the HTTP listener's address, "" when off.
func (g *Gateway) HTTPAddr() string {
	if g.http == nil {
		return ""
	}
	return g.http.Addr().String()
}

// NATSURL is the embedded server's client URL (nats.listen), "" without one.
func (g *Gateway) NATSURL() string {
	if g.nats == nil {
		return ""
	}
	return g.nats.clientURL()
}

// JetStream is the gateway's JetStream connection.
func (g *Gateway) JetStream() jetstream.JetStream { return g.js }

// Credentials are the gateway's users.
func (g *Gateway) Credentials() *auth.Credentials { return g.creds }

// Registry holds the gateway's metrics.
func (g *Gateway) Registry() *prometheus.Registry { return g.reg }

// Run serves until ctx ends. On SIGTERM (ctx) it stops accepting MQTT
// clients, finishes the publishes in flight (each stored or refused), then
// stops the processors and NATS, and returns nil.
func (g *Gateway) Run(ctx context.Context) error {
	defer g.close()
	if err := g.ensureStreams(ctx); err != nil {
		return err
	}
	if err := g.mqtt.Serve(); err != nil {
		return err
	}
	g.log.Info("gateway running", "mqtt", g.mqtt.Addr(broker.ListenerMQTT), "mqtts", g.mqtt.Addr(broker.ListenerMQTTS),
		"ws", g.mqtt.Addr(broker.ListenerWS), "http", g.HTTPAddr(), "nats", g.natsWhere(), "version", g.opts.Version)

	grp, gctx := errgroup.WithContext(ctx)
	grp.Go(func() error { return g.creds.Run(gctx) })
	grp.Go(func() error { return g.relay.Run(gctx) })
	grp.Go(func() error { return g.api.Run(gctx) })
	if g.eng != nil {
		grp.Go(func() error { return g.eng.Run(gctx) })
	}
	var srv *http.Server
	if g.http != nil {
		srv = &http.Server{Handler: g.handler(), ReadHeaderTimeout: 10 * time.Second}
		grp.Go(func() error {
			if err := srv.Serve(g.http); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("http: %w", err)
			}
			return nil
		})
	}
	grp.Go(func() error {
		<-gctx.Done()
		g.log.Info("gateway stopping: finishing the publishes in flight")
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := g.mqtt.Shutdown(sctx); err != nil {
			g.log.Warn("broker shutdown", "err", err)
		}
		g.hook.Stop()
		if srv != nil {
			srv.Shutdown(sctx)
		}
		return nil
	})
	err := grp.Wait()
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		err = nil
	}
	g.log.Info("gateway stopped")
	return err
}

// ensureStreams creates or updates the streams, waiting for JetStream
// (an external cluster may come up after the gateway).
func (g *Gateway) ensureStreams(ctx context.Context) error {
	so := g.opts.JetStream
	for wait := 200 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		err := store.Ensure(ctx, g.js, so)
		if err == nil {
			close(g.isUp)
			return nil
		}
		if errors.Is(err, store.ErrRefused) {
			return fmt.Errorf("gateway: %w", err) // a stream JetStream cannot change: an operator must look
		}
		g.log.Warn("jetstream not ready; retrying", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

func (g *Gateway) natsWhere() string {
	if g.nats == nil {
		return RedactURL(g.opts.NATS.URL)
	}
	if u := g.nats.clientURL(); u != "" {
		return "embedded, " + u
	}
	return "embedded"
}

// close releases whatever New and Run opened, in reverse order.
func (g *Gateway) close() {
	if g.mqtt != nil {
		g.mqtt.Close()
	}
	if g.http != nil {
		g.http.Close()
	}
	if g.nc != nil {
		g.nc.Drain()
		for i := 0; i < 100 && !g.nc.IsClosed(); i++ {
			time.Sleep(10 * time.Millisecond)
		}
		g.nc.Close()
	}
	if g.nats != nil {
		g.nats.shutdown()
	}
}
