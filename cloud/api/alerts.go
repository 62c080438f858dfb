package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kanal-dev/kanal/cloud/alert"
	"github.com/kanal-dev/kanal/internal/wire"
)

// readyWait is how long a request waits for a view still catching up
// before it gets 503.
const readyWait = 5 * time.Second

// activeAlert is a raised alert and its KANAL_ALERTS sequence.
type activeAlert struct {
	seq uint64
	a   alert.Alert
}

// alertView holds the active alerts of the traffic view: every raised
// alert whose episode has not been cleared, by episode id. It follows
// KANAL_ALERTS from its start (alerts are few, the stream is bounded by
// age).
type alertView struct {
	mu     sync.RWMutex
	active map[string]activeAlert
	seq    uint64 // the last stream sequence applied
	ready  chan struct{}
	once   sync.Once
}

func newAlertView() *alertView {
	return &alertView{active: map[string]activeAlert{}, ready: make(chan struct{})}
}

// follow applies KANAL_ALERTS to the view until ctx ends or the consumer
// fails. The view is ready once it has caught up with the stream.
func (v *alertView) follow(ctx context.Context, js jetstream.JetStream) error {
	v.mu.RLock()
	from := v.seq + 1
	v.mu.RUnlock()
	c, err := js.OrderedConsumer(ctx, wire.AlertsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"kanal.alerts.>"},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy, OptStartSeq: from})
	if err != nil {
		return fmt.Errorf("follow %s: %w", wire.AlertsStream, err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return fmt.Errorf("follow %s: %w", wire.AlertsStream, err)
	}
	if info.NumPending == 0 {
		v.markReady()
	}
	it, err := c.Messages()
	if err != nil {
		return fmt.Errorf("follow %s: %w", wire.AlertsStream, err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	for {
		m, err := it.Next() // an error ends the iterator: Run follows again
		if err != nil {
			return fmt.Errorf("follow %s: %w", wire.AlertsStream, err)
		}
		md, err := m.Metadata()
		if err != nil {
			continue
		}
		v.apply(md.Sequence.Stream, m.Data())
		if md.NumPending == 0 {
			v.markReady()
		}
	}
}

func (v *alertView) markReady() { v.once.Do(func() { close(v.ready) }) }

// apply records one message of the stream.
func (v *alertView) apply(seq uint64, data []byte) {
	a, err := alert.Parse(data)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.seq = seq
	if err != nil {
		return // another schema: not ours to show
	}
	if a.State == alert.StateRaised {
		v.active[a.ID] = activeAlert{seq: seq, a: a}
	} else {
		delete(v.active, a.ID)
	}
}

// snapshot returns the active alerts passing f, oldest first, and the
// sequence they are current at.
func (v *alertView) snapshot(f filter) ([]activeAlert, uint64) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make([]activeAlert, 0, len(v.active))
	for _, x := range v.active {
		if f.match(&x.a) {
			out = append(out, x)
		}
	}
	slices.SortFunc(out, func(a, b activeAlert) int { return int(a.seq) - int(b.seq) })
	return out, v.seq
}

// waitReady waits until the view has caught up, or reports false.
func (a *API) waitReady(ctx context.Context, ready <-chan struct{}) bool {
	t := time.NewTimer(a.readyWait)
	defer t.Stop()
	select {
	case <-ready:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// AlertList is the body of GET /v1/alerts.
type AlertList struct {
	// Alerts are the active alerts passing the filter, oldest first.
	Alerts []alert.Alert `json:"alerts"`
	// Seq is the KANAL_ALERTS sequence the list is current at: give it as
	// Last-Event-ID to /v1/alerts/stream to follow the changes from there.
	Seq uint64 `json:"seq"`
}

func (a *API) getAlerts(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !a.waitReady(r.Context(), a.alerts.ready) {
		writeError(w, http.StatusServiceUnavailable, "alerts not loaded yet: is NATS up? try again")
		return
	}
	list, seq := a.alerts.snapshot(f)
	out := AlertList{Alerts: make([]alert.Alert, len(list)), Seq: seq}
	for i, x := range list {
		out.Alerts[i] = x.a
	}
	writeJSON(w, http.StatusOK, out)
}
