package gateway

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/kanal-dev/kanal/cloud/auth"
)

// NATSOptions says where JetStream is: in this process (the default: one
// binary serves a small fleet) or an external cluster (URL), for several
// gateway replicas that hold no state of their own.
type NATSOptions struct {
	// Listen opens a client port of the embedded server (host:port; off by
	// default) for processors (`ingest-gateway process`), operators and
	// tools: operator users of the credentials file log in with their name
	// and password; traffic users may subscribe to kanal.alerts.> only.
	Listen string `yaml:"listen"`
	// URL uses an external NATS cluster instead: nats://host:4222 or
	// tls://..., several comma-separated.
	URL string `yaml:"url"`
	// User and PasswordFile log in to the external cluster.
	User         string `yaml:"user"`
	PasswordFile string `yaml:"password_file"`
	// CredsFile is a NATS credentials file (JWT and nkey) for the cluster.
	CredsFile string `yaml:"creds_file"`
	// CA verifies the cluster's TLS certificates; Cert and Key are the
	// gateway's own for mTLS.
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// embedded is the in-process NATS server and the gateway's own connection.
type embedded struct {
	srv   *server.Server
	token string
}

// startEmbedded starts nats-server with JetStream on dataDir/jetstream.
// Without a client port it listens nowhere and the gateway connects in
// process; with one, logins are checked against the credentials file.
func startEmbedded(dataDir string, listen string, creds *auth.Credentials, log *slog.Logger) (*embedded, error) {
	tok := make([]byte, 24)
	rand.Read(tok)
	e := &embedded{token: hex.EncodeToString(tok)}
	opts := &server.Options{
		ServerName: "kanal-gateway",
		JetStream:  true,
		StoreDir:   filepath.Join(dataDir, "jetstream"),
		NoSigs:     true,
		NoLog:      true,
		// JetStream's own limits: a gateway on a small machine should not
		// claim all of its memory and disk for streams
		MaxPayload: 1 << 20,
	}
	if listen == "" {
		opts.DontListen = true
	} else {
		host, port, err := net.SplitHostPort(listen)
		if err != nil {
			return nil, fmt.Errorf("nats.listen %q: %w", listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("nats.listen %q: port: %w", listen, err)
		}
		opts.Host, opts.Port = host, p
	}
	opts.CustomClientAuthentication = &natsAuth{token: e.token, creds: creds, log: log}
	if err := os.MkdirAll(opts.StoreDir, 0o750); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats-server: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("embedded nats-server: not ready within 30s")
	}
	e.srv = srv
	return e, nil
}

// connect opens the gateway's own connection to the embedded server.
func (e *embedded) connect(name string) (*nats.Conn, error) {
	nc, err := nats.Connect("", nats.InProcessServer(e.srv), nats.Token(e.token), nats.Name(name),
		nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("connect to the embedded nats-server: %w", err)
	}
	return nc, nil
}

// ClientURL is the embedded server's client port, "" when it has none.
func (e *embedded) clientURL() string {
	if e.srv.Addr() == nil {
		return ""
	}
	return e.srv.ClientURL()
}

func (e *embedded) shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

// natsAuth checks logins on the embedded server's client port: the
// gateway's own in-process connection by a random token made at start,
// operators by the credentials file (full access), traffic services by it
// too (reading alerts only). Vehicles speak MQTT, never NATS.
type natsAuth struct {
	token string
	creds *auth.Credentials
	log   *slog.Logger
}

func (a *natsAuth) Check(c server.ClientAuthentication) bool {
	o := c.GetOpts()
	if o.Token != "" && o.Token == a.token {
		c.RegisterUser(&server.User{Username: "kanal-gateway"})
		return true
	}
	if a.creds == nil || o.Username == "" {
		return false
	}
	u, ok := a.creds.Verify(o.Username, o.Password)
	if !ok {
		a.log.Info("nats login refused", "user", o.Username, "from", c.RemoteAddress())
		return false
	}
	switch u.Role {
	case auth.RoleOperator:
		c.RegisterUser(&server.User{Username: u.Name})
		return true
	case auth.RoleTraffic:
		c.RegisterUser(&server.User{Username: u.Name, Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Deny: []string{">"}},
			Subscribe: &server.SubjectPermission{Allow: []string{"kanal.alerts.>", "_INBOX.>"}},
		}})
		return true
	}
	a.log.Info("nats login refused: vehicles use MQTT", "user", o.Username, "role", u.Role)
	return false
}

// ConnectNATS connects to an external NATS cluster, reconnecting for ever:
// a gateway keeps answering MQTT (with negative PUBACKs) while the cluster
// is away, and resumes when it is back. `ingest-gateway process` connects
// the same way.
func ConnectNATS(o NATSOptions, name string, log *slog.Logger) (*nats.Conn, error) {
	opts := []nats.Option{nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn("nats disconnected", "err", err) }),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", "server", c.ConnectedUrlRedacted()) }),
	}
	if o.User != "" || o.PasswordFile != "" {
		pw, err := firstLine(o.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("nats.password_file: %w", err)
		}
		opts = append(opts, nats.UserInfo(o.User, pw))
	}
	if o.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	}
	if o.CA != "" || o.Cert != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if o.CA != "" {
			pem, err := os.ReadFile(o.CA)
			if err != nil {
				return nil, fmt.Errorf("nats.ca: %w", err)
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("nats.ca %s: no PEM certificate in it", o.CA)
			}
		}
		if o.Cert != "" {
			cert, err := tls.LoadX509KeyPair(o.Cert, o.Key)
			if err != nil {
				return nil, fmt.Errorf("nats.cert and nats.key: %w", err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, nats.Secure(cfg))
	}
	nc, err := nats.Connect(o.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", RedactURL(o.URL), err)
	}
	return nc, nil
}

// firstLine returns the first line of a file ("" for no file).
func firstLine(path string) (string, error) {
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

// RedactURL drops user information from NATS URLs before they are logged.
func RedactURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		if at := strings.LastIndex(p, "@"); at >= 0 {
			if scheme := strings.Index(p, "://"); scheme >= 0 && scheme < at {
				parts[i] = p[:scheme+3] + "REDACTED@" + p[at+1:]
			}
		}
	}
	return strings.Join(parts, ",")
}
