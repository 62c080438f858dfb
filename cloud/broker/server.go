package broker

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/kanal-dev/kanal/cloud/auth"
	"github.com/kanal-dev/kanal/internal/rlimit"
)

// Listener ids, for Addr.
const (
	ListenerMQTT  = "mqtt"
	ListenerMQTTS = "mqtts"
	ListenerWS    = "ws"
)

// fileReserve is what MaxConnections leaves of the open-file limit by
// default: JetStream's files, the HTTP listener, NATS clients.
const fileReserve = 512

// Server is the gateway's MQTT broker: a mochi server with the broker's
// hook and listeners. The embedded *mqtt.Server is there to add hooks
// (AddHook, before Serve: the bridge into JetStream) and to publish from
// the gateway itself (Publish: its inline client bypasses the ACL).
type Server struct {
	*mqtt.Server

	opts     Options
	creds    *auth.Credentials
	log      *slog.Logger
	m        *metrics
	addrs    *addrLimiter
	logs     *logLimiter
	lns      map[string]*listener
	unwatch  func()
	closed   sync.Once
	draining atomic.Bool
}

// New makes the broker and opens its listeners (an address in use fails
// here), but serves nothing until Serve, so that hooks can be added
// between the two. It raises the open-file limit (rlimit.RaiseOpenFiles).
func New(opts Options) (*Server, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	tlsConf, err := opts.TLS.config()
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	soft, hard, err := rlimit.RaiseOpenFiles()
	if err != nil {
		opts.Logger.Warn("broker: open-file limit not raised", "error", err)
	}
	maxClients := int64(opts.MaxConnections)
	switch {
	case maxClients < 0:
		maxClients = math.MaxInt64
	case maxClients == 0:
		maxClients = max(int64(soft)-fileReserve, 64)
	case soft > 0 && maxClients > int64(soft):
		opts.Logger.Warn("broker: max_connections is above the open-file limit: accepts will fail first",
			"max_connections", maxClients, "open_files", soft, "hard_limit", hard)
	}

	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumClients = maxClients
	caps.MaximumClientWritesPending = int32(opts.WritesPending)
	caps.MaximumSessionExpiryInterval = uint32(opts.MaxSessionExpiry / time.Second)
	caps.MaximumPacketSize = uint32(opts.MaxPacketSize) // a backstop: the listener's guard answers first, with 0x95
	caps.ReceiveMaximum = uint16(opts.ReceiveMaximum)
	caps.MaximumInflight = uint16(opts.MaxInflight)
	caps.TopicAliasMaximum = 0                             // mochi checks the ACL before resolving an alias: aliases would bypass it or break
	caps.MinimumProtocolVersion = 5                        // MQTT v5 only, for everyone: one protocol to secure, and reason codes
	caps.MaximumQos = 1                                    // QoS 1 is the contract; QoS 2 would add state per message for nothing
	caps.Compatibilities.NoInheritedPropertiesOnAck = true // mochi would copy a publish's user properties into its PUBACK, and send 0x01 with them
	srv := mqtt.New(&mqtt.Options{
		Capabilities:             caps,
		ClientNetReadBufferSize:  int(opts.ReadBufferSize),
		ClientNetWriteBufferSize: int(opts.WriteBufferSize),
		Logger:                   mochiLogger(opts),
		SysTopicResendInterval:   60, // nobody may read $SYS; each update reads MemStats (stop the world)
		InlineClient:             true,
	})
	s := &Server{
		Server: srv,
		opts:   opts,
		creds:  opts.Credentials,
		log:    opts.Logger,
		m:      m,
		addrs:  newAddrLimiter(opts.MaxConnsPerAddress),
		logs:   newLogLimiter(10*time.Minute, 10000),
		lns:    make(map[string]*listener),
	}
	if err := srv.AddHook(&hook{s: s}, nil); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	for _, l := range []struct {
		id, field, addr string
		tls             bool
		ws              bool
	}{
		{ListenerMQTT, "mqtt_listen", opts.MQTTListen, false, false},
		{ListenerMQTTS, "mqtts_listen", opts.MQTTSListen, true, false},
		{ListenerWS, "ws_listen", opts.WSListen, opts.WSTLS, true},
	} {
		if l.addr == "" {
			continue
		}
		var conf = tlsConf
		if !l.tls {
			conf = nil
		}
		ln := s.newListener(l.id, l.addr, conf, l.ws)
		if err := srv.AddListener(ln); err != nil {
			s.closeListeners()
			return nil, fmt.Errorf("broker: %s %s: %w", l.field, l.addr, err)
		}
		s.lns[l.id] = ln
	}
	if s.creds != nil {
		s.unwatch = s.creds.OnReload(s.revoke)
	}
	attrs := []any{"max_connections", maxClients, "open_files", soft, "max_packet_size", int64(opts.MaxPacketSize)}
	for id, l := range s.lns {
		attrs = append(attrs, id, l.Protocol()+"://"+l.Address())
	}
	s.log.Info("broker: listening", attrs...)
	return s, nil
}

// mochiLogger is the logger mochi gets: nothing, unless MochiLogLevel.
func mochiLogger(opts Options) *slog.Logger {
	if opts.MochiLogLevel == "" {
		return slog.New(slog.DiscardHandler)
	}
	var lv slog.Level
	lv.UnmarshalText([]byte(opts.MochiLogLevel)) // checked in setDefaults
	return slog.New(levelHandler{min: lv, Handler: opts.Logger.Handler()}).With("component", "mochi")
}

// levelHandler passes records at min and above.
type levelHandler struct {
	slog.Handler
	min slog.Level
}

func (h levelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h levelHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return levelHandler{Handler: h.Handler.WithAttrs(a), min: h.min}
}

func (h levelHandler) WithGroup(n string) slog.Handler {
	return levelHandler{Handler: h.Handler.WithGroup(n), min: h.min}
}

// Serve starts accepting clients on every listener.
func (s *Server) Serve() error {
	if err := s.Server.Serve(); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	return nil
}

// Close disconnects every client (DISCONNECT 0x8B, server shutting down),
// closes the listeners and waits for every connection's goroutines,
// including a read loop inside a hook's OnPublish: a hook that waits (the
// bridge, for JetStream) must bound its wait. A publish being processed
// loses its PUBACK (the agent sends it again); Shutdown avoids that.
func (s *Server) Close() error {
	s.closed.Do(func() {
		if s.unwatch != nil {
			s.unwatch()
		}
		s.Server.Close()
	})
	return nil
}

// Shutdown is the graceful Close, for SIGTERM: it stops accepting
// connections, answers every new PUBLISH with DISCONNECT 0x8B (server
// shutting down; the agent keeps the batch and sends it again after
// reconnecting), waits until the publishes already read are processed,
// their PUBACKs written (the bridge's OnPublish waits for JetStream), or
// ctx is done, then closes as Close does. It returns ctx's error if the
// wait was cut short.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	for _, l := range s.lns {
		l.stopAccepting()
	}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	var err error
wait:
	for s.busy() {
		select {
		case <-ctx.Done():
			err = ctx.Err()
			break wait
		case <-t.C:
		}
	}
	s.Close()
	return err
}

func (s *Server) busy() bool {
	for _, l := range s.lns {
		if l.busy() {
			return true
		}
	}
	return false
}

// closeListeners closes the listeners New opened, when New fails.
func (s *Server) closeListeners() {
	for _, l := range s.lns {
		l.Close(func(string) {})
	}
}

// Addr returns the address of listener id (ListenerMQTT, ListenerMQTTS,
// ListenerWS), with the port the system picked for a :0 address, or ""
// when that listener is off.
func (s *Server) Addr(id string) string {
	if l, ok := s.lns[id]; ok {
		return l.Address()
	}
	return ""
}

// Reload rereads the credentials file (for SIGHUP) and disconnects the
// logins it no longer allows. Credentials.Run reloads on its own too.
func (s *Server) Reload() error {
	if s.creds == nil {
		return nil
	}
	return s.creds.Reload()
}
