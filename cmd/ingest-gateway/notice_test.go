package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/cloud/alert"
	"github.com/kanal-dev/kanal/geo"
	"github.com/kanal-dev/kanal/internal/await"
	"github.com/kanal-dev/kanal/internal/brokertest"
	"github.com/kanal-dev/kanal/internal/wire"
	"github.com/kanal-dev/kanal/uplink"
	"github.com/kanal-dev/kanal/uplink/batch"
	"github.com/kanal-dev/kanal/uplink/spool"
)

// noticeAgent is a real agent uplink (the publisher edge-agent run uses)
// connected to the test's broker, listening for the notices of its cell
// and the cells around it, as the agent does.
type noticeAgent struct {
	got chan wire.Notice
}

func startNoticeAgent(t *testing.T, broker, vehicle string, cell geo.Cell) *noticeAgent {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	sp, err := spool.Open(spool.Options{Dir: t.TempDir(), Fsync: spool.FsyncNone, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	a := &noticeAgent{got: make(chan wire.Notice, 100)}
	p, err := uplink.NewPublisher(uplink.PublisherOptions{
		MQTTOptions: uplink.MQTTOptions{Broker: "mqtt://" + broker, BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond},
		Vehicle:     vehicle, Boot: batch.NewBoot(), Queue: sp, Logger: quiet,
		OnNotice: func(n wire.Notice, _ string) { a.got <- n },
	})
	if err != nil {
		t.Fatal(err)
	}
	tokens := []string{cell.Token()}
	for _, c := range cell.Neighbours() {
		tokens = append(tokens, c.Token())
	}
	p.SetCells(tokens)
	await.Run(t, alertTestTimeout, "agent "+vehicle, p.Run)
	return a
}

// next returns the next notice other than the given ones, or fails.
func (a *noticeAgent) next(t *testing.T, what string, skip ...string) wire.Notice {
	t.Helper()
	timeout := time.After(alertTestTimeout)
	for {
		select {
		case n := <-a.got:
			if !contains(skip, n.ID) {
				return n
			}
		case <-timeout:
			t.Fatalf("%s: no notice within %v", what, alertTestTimeout)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// startBroker runs a mochi broker with its inline client and the relay,
// as the gateway does.
func (env *alertEnv) startBroker(t *testing.T) string {
	t.Helper()
	b := brokertest.Start(t, brokertest.Options{})
	r, err := alert.NewRelay(alert.RelayOptions{JetStream: env.js, MQTT: b.Server, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	await.Run(t, alertTestTimeout, "relay", r.Run)
	return b.Addr
}

// TestNoticeReachesAgent: `notice send` reaches a real agent in the area
// and not one outside it; a fog alert in the next cell warns the agent too.
func TestNoticeReachesAgent(t *testing.T) {
	env := newAlertEnv(t, true)
	broker := env.startBroker(t)
	near := startNoticeAgent(t, broker, "near", alertCell)
	far := startNoticeAgent(t, broker, "far", farCell)
	ctx, cancel := context.WithTimeout(context.Background(), alertTestTimeout)
	defer cancel()
	send := func(bbox, text string) string {
		t.Helper()
		var out, errOut syncBuffer
		err := <-runCommand(ctx, []string{"notice", "send", "--url", env.srv.URL, "--user", "ops",
			"--password-file", env.passwordFile(t, "ops"), "--bbox", bbox, "--text", text, "--expires", "10m"}, &out, &errOut)
		if err != nil {
			t.Fatalf("notice send: %v (%s)", err, errOut.String())
		}
		f := strings.Fields(out.String())
		if len(f) < 6 || f[0] != "notice" || f[2] != "sent" {
			t.Fatalf("output %q", out.String())
		}
		return f[1]
	}
	// The agents subscribe after they connect; the relay follows new
	// notices: send to a box in the near cell until the near agent has one.
	c := alertCell.Center()
	box := func(ll geo.LatLng) string {
		return geo.BBox{MinLng: ll.Lng - 0.0005, MinLat: ll.Lat - 0.0005, MaxLng: ll.Lng + 0.0005, MaxLat: ll.Lat + 0.0005}.String()
	}
	var pings []string
	await.Until(t, alertTestTimeout, "the near agent listening", func() bool {
		pings = append(pings, send(box(c), "ping"))
		select {
		case n := <-near.got:
			return contains(pings, n.ID)
		case <-time.After(300 * time.Millisecond):
			return false
		}
	})
	id := send(box(c), "Road closed ahead")
	n := near.next(t, "operator notice", pings...)
	if n.ID != id || n.Text != "Road closed ahead" || n.Kind != "operator" {
		t.Errorf("near agent got %+v, want notice %s", n, id)
	}
	// Fog in a neighbour of the near agent's cell.
	for _, v := range []string{"v1", "v2", "v3"} {
		env.send(t, v, alertCell.Neighbours()[0], true, false)
	}
	n = near.next(t, "fog notice", append(pings, id)...)
	if n.Kind != alert.KindFog || !strings.HasPrefix(n.ID, "fog:"+alertCell.Neighbours()[0].Token()+":") {
		t.Errorf("near agent got %+v, want the fog notice", n)
	}
	// The far agent: a marker sent last must be the first it gets.
	var markers []string
	await.Until(t, alertTestTimeout, "the far agent listening", func() bool {
		markers = append(markers, send(box(farCell.Center()), "marker"))
		select {
		case n := <-far.got:
			if !contains(markers, n.ID) {
				t.Fatalf("the far agent got %+v before the marker", n)
			}
			return true
		case <-time.After(300 * time.Millisecond):
			return false
		}
	})
}
