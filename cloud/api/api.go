package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/kanal-dev/kanal/geo"
)

// Defaults of Options.
const (
	DefaultMaxCells      = 1000
	DefaultVehicleMaxAge = 15 * time.Minute
	DefaultNoticeTTL     = time.Hour
	DefaultHeartbeat     = 15 * time.Second
	maxNoticeText        = 500
	maxBodyBytes         = 64 << 10
)

// Options configures the API: the `api` section of the gateway's config.
// Every field but JetStream and Auth has a usable zero value.
type Options struct {
	// Level is the grid level of the vehicles' cells (the agents'
	// setting), used to cover a notice's bbox. Default geo.DefaultLevel.
	Level int `yaml:"level"`
	// MaxCells bounds the cells one bbox may cover for a notice (default
	// 1000); a larger area is refused with 400.
	MaxCells int `yaml:"max_cells"`
	// VehicleMaxAge: /v1/vehicles?bbox= lists vehicles whose latest report
	// is at most this old (default 15 min), unless max_age is given.
	VehicleMaxAge time.Duration `yaml:"vehicle_max_age"`
	// NoticeTTL is how long an operator's notice lasts when the request
	// does not say (default 1 h).
	NoticeTTL time.Duration `yaml:"notice_ttl"`
	// Heartbeat is the interval of SSE comments that keep idle streams
	// open through proxies (default 15 s).
	Heartbeat time.Duration `yaml:"heartbeat"`

	JetStream jetstream.JetStream   `yaml:"-"` // required
	Auth      Authenticator         `yaml:"-"` // required
	Now       func() time.Time      `yaml:"-"` // nil means time.Now
	Logger    *slog.Logger          `yaml:"-"` // nil means slog.Default()
	Metrics   prometheus.Registerer `yaml:"-"` // nil means not registered
}

// API serves the HTTP endpoints. Run keeps its views of the active alerts
// and of where vehicles are up to date; Handler serves them.
type API struct {
	opts     Options
	grid     geo.Grid
	log      *slog.Logger
	m        *metrics
	alerts   *alertView
	vehicles *vehicleIndex
	// readyWait is how long a request waits for a view still catching
	// up before it gets 503 (readyWait by default; tests shorten it).
	readyWait time.Duration
}

// New checks opts and returns an API, naming a bad option.
func New(opts Options) (*API, error) {
	if opts.JetStream == nil {
		return nil, errors.New("api: options: JetStream is required")
	}
	if opts.Auth == nil {
		return nil, errors.New("api: options: Auth is required")
	}
	if opts.Level == 0 {
		opts.Level = geo.DefaultLevel
	}
	grid, err := geo.NewGrid(opts.Level)
	if err != nil {
		return nil, fmt.Errorf("api: options: level: %w", err)
	}
	for _, f := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"vehicle_max_age", &opts.VehicleMaxAge, DefaultVehicleMaxAge},
		{"notice_ttl", &opts.NoticeTTL, DefaultNoticeTTL},
		{"heartbeat", &opts.Heartbeat, DefaultHeartbeat},
	} {
		if *f.v < 0 {
			return nil, fmt.Errorf("api: options: %s %v: want 0 (default %v) or more", f.name, *f.v, f.def)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	switch {
	case opts.MaxCells < 0:
		return nil, fmt.Errorf("api: options: max_cells %d: want 0 (default %d) or more", opts.MaxCells, DefaultMaxCells)
	case opts.MaxCells == 0:
		opts.MaxCells = DefaultMaxCells
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	a := &API{opts: opts, grid: grid, log: opts.Logger.With("component", "api"), m: newMetrics(opts.Metrics),
		readyWait: readyWait}
	a.alerts = newAlertView()
	a.vehicles = newVehicleIndex()
	return a, nil
}

// Run follows KANAL_ALERTS and KANAL_TWINS until ctx ends, then returns
// nil. The endpoints answer 503 until the views have caught up. Missing
// streams (no processor has run yet) are waited for.
func (a *API) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return retry(ctx, a.log, "alerts", func() error { return a.alerts.follow(ctx, a.opts.JetStream) })
	})
	g.Go(func() error {
		return retry(ctx, a.log, "twins", func() error { return a.vehicles.follow(ctx, a.opts.JetStream) })
	})
	return g.Wait()
}

// retry runs fn until ctx ends, waiting a little longer after each failure.
func retry(ctx context.Context, log *slog.Logger, what string, fn func() error) error {
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		err := fn()
		if ctx.Err() != nil {
			return nil
		}
		log.Debug("api view restarting", "view", what, "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// Handler returns the endpoints, to be mounted at the root of the
// gateway's HTTP server (they all start with /v1/).
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	both := []string{RoleTraffic, RoleOperator}
	mux.HandleFunc("GET /v1/alerts", a.count("alerts", a.allow(a.getAlerts, both...)))
	mux.HandleFunc("GET /v1/alerts/stream", a.count("stream", a.allow(a.stream, both...)))
	mux.HandleFunc("GET /v1/vehicles/{id}", a.count("vehicle", a.allow(a.getVehicle, RoleOperator)))
	mux.HandleFunc("GET /v1/vehicles", a.count("vehicles", a.allow(a.getVehicles, RoleOperator)))
	mux.HandleFunc("GET /v1/cells", a.count("cells", a.allow(a.getCells, RoleOperator)))
	mux.HandleFunc("POST /v1/notices", a.count("notices", a.allow(a.postNotice, RoleOperator)))
	mux.HandleFunc("/v1/", a.count("other", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, r.Method+" "+r.URL.Path+": no such endpoint")
	}))
	return mux
}

// statusWriter remembers the status code, for the metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (a *API) count(route string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		h(sw, r)
		code := sw.code
		if code == 0 {
			code = http.StatusOK
		}
		a.m.requests.WithLabelValues(route, fmt.Sprint(code)).Inc()
	}
}

// metrics are the API's Prometheus metrics.
type metrics struct {
	requests *prometheus.CounterVec
	refused  *prometheus.CounterVec
	streams  prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kanal_api_requests_total",
			Help: "HTTP API requests, by route and status code."}, []string{"route", "code"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kanal_api_refused_total",
			Help: "HTTP API requests refused, by reason: credentials, role."}, []string{"reason"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kanal_api_alert_streams",
			Help: "Open /v1/alerts/stream connections."}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.refused, m.streams)
	}
	return m
}
