package agent

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// handler serves the agent's local endpoint:
//
//	/metrics              Prometheus metrics
//	/healthz              200 while the agent runs (the uplink may be down: a
//	                      vehicle in a tunnel is healthy), with a JSON status
//	/v1/notices           the cloud's notices for the vehicle's cells, JSON
//	/v1/notices/stream    the same as Server-Sent Events, for a local display
//	/debug/pprof/         Go profiles, for a developer at the vehicle
//
// The endpoint listens on loopback in the example config: it is for the
// vehicle itself, not for the network.
func (a *Agent) handler(g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(a.Status())
	})
	mux.HandleFunc("GET /v1/notices", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(a.notices.snapshot(time.Now()))
	})
	mux.HandleFunc("GET /v1/notices/stream", a.streamNotices)
	return mux
}

func (a *Agent) streamNotices(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ch, done := a.notices.subscribe()
	defer done()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	for _, n := range a.notices.snapshot(time.Now()) {
		writeEvent(w, n)
	}
	fl.Flush()
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case n := <-ch:
			writeEvent(w, n)
			fl.Flush()
		case <-keep.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			fl.Flush()
		}
	}
}

func writeEvent(w http.ResponseWriter, n receivedNotice) {
	b, _ := json.Marshal(n)
	fmt.Fprintf(w, "id: %d\nevent: notice\ndata: %s\n\n", n.Seq, b)
}
