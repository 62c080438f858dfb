package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kanal-dev/kanal/internal/await"
	"github.com/kanal-dev/kanal/internal/wire"
)

func startRelay(t *testing.T, js jetstream.JetStream, pub MQTTPublisher) {
	t.Helper()
	r, err := NewRelay(RelayOptions{JetStream: js, MQTT: pub, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("relay: %v", err)
			}
		case <-time.After(testTimeout):
			t.Error("relay did not stop")
		}
	})
}

// sendNotice puts a notice into KANAL_NOTICES for one cell, as the API does.
func sendNotice(t *testing.T, js jetstream.JetStream, cell string, n wire.Notice) {
	t.Helper()
	data, _ := json.Marshal(n)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if _, err := js.Publish(ctx, wire.NoticeSubject(cell), data); err != nil {
		t.Fatal(err)
	}
}

// TestRelayMQTT: a real paho subscriber of the traffic role gets the fog
// alert on kanal/v1/alerts/fog/{cell} (retained for a late subscriber),
// without any vehicle id; vehicles in the cell and its neighbours get the
// notice, a vehicle in a cell further away does not.
func TestRelayMQTT(t *testing.T) {
	f := newFogFixture(t, Rules{}, 3)
	srv, addr := startMochi(t)
	startRelay(t, f.js, srv)
	traffic := subscribe(t, addr, "traffic-1", "kanal/v1/alerts/#")
	inCell := subscribe(t, addr, "in-cell", wire.NoticeTopic(cellA.Token()))
	near := subscribe(t, addr, "near", wire.NoticeTopic(cellB.Token()))
	far := subscribe(t, addr, "far", wire.NoticeTopic(cellFar.Token()))
	// The relay follows new notices only: wait until it does.
	await.Until(t, testTimeout, "relay following notices", func() bool {
		sendNotice(t, f.js, cellA.Token(), wire.Notice{ID: "ping", Text: "ping"})
		select {
		case <-inCell.received:
			return true
		case <-time.After(200 * time.Millisecond):
			return false
		}
	})
	for len(inCell.received) > 0 {
		<-inCell.received
	}
	for i := range 3 {
		f.report(t, i, report{cell: cellA, fog: true, kmh: 20})
	}
	p := traffic.next(t, "fog alert over MQTT")
	if p.Topic != wire.AlertTopic(KindFog, cellA.Token()) {
		t.Fatalf("topic %s", p.Topic)
	}
	a, err := Parse(p.Payload)
	if err != nil || a.State != StateRaised || a.Count != 3 {
		t.Fatalf("alert %+v, %v", a, err)
	}
	for _, c := range f.cars {
		if bytes.Contains(p.Payload, []byte(c.id)) || bytes.Contains([]byte(p.Topic), []byte(c.id)) {
			t.Errorf("MQTT alert names %s", c.id)
		}
		for _, up := range p.Properties.User {
			if bytes.Contains([]byte(up.Key+up.Value), []byte(c.id)) {
				t.Errorf("MQTT user property names %s", c.id)
			}
		}
	}
	for _, s := range []*subscriber{inCell, near} {
		p := s.next(t, "fog notice")
		n, err := wire.ParseNotice(p.Payload)
		if err != nil || n.ID != a.ID || n.Kind != KindFog || len(n.Cells) < 8 {
			t.Errorf("notice on %s: %+v, %v", p.Topic, n, err)
		}
	}
	// A marker notice to the far cell, sent after the fog notices: it must
	// be the first thing the far vehicle gets.
	sendNotice(t, f.js, cellFar.Token(), wire.Notice{ID: "marker", Text: "marker"})
	if p := far.next(t, "marker notice"); !bytes.Contains(p.Payload, []byte(`"marker"`)) {
		t.Errorf("vehicle outside the cells got %s: %s", p.Topic, p.Payload)
	}
	late := subscribe(t, addr, "traffic-late", "kanal/v1/alerts/fog/+")
	if p := late.next(t, "retained alert"); p.Topic != wire.AlertTopic(KindFog, cellA.Token()) || !p.Retain {
		t.Errorf("late subscriber got %s (retain %v)", p.Topic, p.Retain)
	}
}
