package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kanal-dev/kanal/cloud/alert"
	"github.com/kanal-dev/kanal/internal/wire"
)

// The event types of the alert stream.
const (
	// EventAlert is an alert change; its data is the alert (kanal.alert.v1).
	EventAlert = "alert"
	// EventReady says the stream is open, after the active alerts when it
	// began with them; its id is the sequence it continues after, its data
	// {"seq": id, "active": n}.
	EventReady = "ready"
)

// stream serves GET /v1/alerts/stream: Server-Sent Events, one "alert"
// event per alert change of the traffic view, its id the KANAL_ALERTS
// sequence. With Last-Event-ID (the header, or the last_event_id query
// parameter for clients that cannot set headers) it resumes after that
// sequence; without, it starts with the active alerts. Comments every
// Heartbeat keep an idle stream open.
func (a *API) stream(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	last, resume, err := lastEventID(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming is not supported by this server")
		return
	}
	var initial []activeAlert
	if !resume {
		if !a.waitReady(r.Context(), a.alerts.ready) {
			writeError(w, http.StatusServiceUnavailable, "alerts not loaded yet: is NATS up? try again")
			return
		}
		initial, last = a.alerts.snapshot(f)
	}
	ctx := r.Context()
	c, err := a.opts.JetStream.OrderedConsumer(ctx, wire.AlertsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{f.subject()},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy, OptStartSeq: last + 1})
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "alerts stream unavailable: "+err.Error())
		return
	}
	it, err := c.Messages()
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "alerts stream unavailable: "+err.Error())
		return
	}
	msgs := make(chan jetstream.Msg)
	done := make(chan struct{})
	defer func() { it.Stop(); <-done }() // Stop makes Next fail: the reader ends
	go func() {
		defer close(done)
		for {
			m, err := it.Next() // an error ends the iterator, and the stream: the client resumes
			if err != nil {
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	a.m.streams.Inc()
	defer a.m.streams.Dec()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")
	for _, x := range initial {
		if writeEvent(w, x.seq, &x.a) != nil {
			return
		}
	}
	// The ready event carries the sequence the stream continues after, so
	// a client that saw no alert yet can still resume without a gap.
	fmt.Fprintf(w, "id: %d\nevent: %s\ndata: {\"seq\":%d,\"active\":%d}\n\n", last, EventReady, last, len(initial))
	flusher.Flush()
	a.follow(ctx, w, flusher, f, msgs, done)
}

// follow writes the consumer's alerts to an open stream until the client
// goes away.
func (a *API) follow(ctx context.Context, w http.ResponseWriter, flusher http.Flusher, f filter, msgs <-chan jetstream.Msg, gone <-chan struct{}) {
	beat := time.NewTicker(a.opts.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-gone: // the consumer failed: end the stream, the client resumes
			return
		case <-beat.C:
			if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil {
				return
			}
		case m := <-msgs:
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			al, err := alert.Parse(m.Data())
			if err != nil || !f.match(&al) {
				continue
			}
			if writeEvent(w, md.Sequence.Stream, &al) != nil {
				return
			}
		}
		flusher.Flush()
	}
}

// writeEvent writes one SSE event. The data is the alert as stored, on one
// line (JSON has no raw newlines).
func writeEvent(w http.ResponseWriter, seq uint64, a *alert.Alert) error {
	data, err := marshalLine(a)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", seq, EventAlert, data)
	return err
}

// lastEventID reads the sequence to resume after.
func lastEventID(r *http.Request) (uint64, bool, error) {
	s := r.Header.Get("Last-Event-ID")
	if s == "" {
		s = r.URL.Query().Get("last_event_id")
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("Last-Event-ID %q: want the id of an event of this stream (a number)", s)
	}
	return n, true, nil
}
