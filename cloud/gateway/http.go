package gateway

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kanal-dev/kanal/cloud/web"
)

// handler serves the gateway's HTTP endpoints:
//
//	/metrics     Prometheus
//	/healthz     200 while the process runs
//	/readyz      200 only when JetStream answers (a load balancer's check)
//	/v1/...      the alerts, vehicles and notices API (cloud/api)
//	/            the live page
func (g *Gateway) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		select {
		case <-g.isUp:
		default:
			http.Error(w, "not ready: streams not set up yet", http.StatusServiceUnavailable)
			return
		}
		if err := g.store.Ready(ctx); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("/v1/", g.api.Handler())
	mux.Handle("/", web.Handler(web.Options{Version: g.opts.Version}))
	return mux
}
