package api

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/cloud/alert"
	"github.com/kanal-dev/kanal/cloud/store/storetest"
	"github.com/kanal-dev/kanal/geo"
	"github.com/kanal-dev/kanal/internal/await"
	"github.com/kanal-dev/kanal/internal/wire"
	"github.com/kanal-dev/kanal/uplink/batch"
)

const testTimeout = 20 * time.Second

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// users is the tests' Authenticator: name → role, password "pw-" + name.
type users map[string]string

func (u users) Verify(name, password string) (string, bool) {
	role, ok := u[name]
	return role, ok && password == "pw-"+name
}

var testUsers = users{"tms": RoleTraffic, "ops": RoleOperator, "car-01": "vehicle"}

var (
	grid, _    = geo.NewGrid(geo.DefaultLevel)
	cellA, _   = grid.Cell(48.1374, 11.5755)
	cellFar, _ = grid.Cell(48.20, 11.70)
	// bboxA is a small box inside cell A.
	bboxA = "11.575,48.137,11.576,48.138"
)

// fixture is a gateway's alert side on a real nats-server: the engine,
// the API on an httptest server, and cars sending batches.
type fixture struct {
	js  jetstream.JetStream
	api *API
	srv *httptest.Server
	reg *prometheus.Registry
	enc *batch.Encoder
	seq uint64
}

func newFixture(t *testing.T) *fixture { return startFixture(t, true) }

// newFixtureWithout is a fixture whose processor never ran: no alert
// streams, no twins bucket.
func newFixtureWithout(t *testing.T) *fixture { return startFixture(t, false) }

func startFixture(t *testing.T, engine bool) *fixture {
	t.Helper()
	_, js := storetest.Connect(t, storetest.RunServer(t, storetest.ServerOptions{}).ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: wire.BatchesStream,
		Subjects: []string{wire.BatchesAll}}); err != nil {
		t.Fatal(err)
	}
	f := &fixture{js: js, reg: prometheus.NewRegistry()}
	f.enc, _ = batch.NewEncoder(batch.EncoderOptions{})
	e, err := alert.New(alert.Options{JetStream: js, Tick: 20 * time.Millisecond, LeaseTTL: 2 * time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	f.api, err = New(Options{JetStream: js, Auth: testUsers, Heartbeat: 100 * time.Millisecond, Logger: quiet, Metrics: f.reg})
	if err != nil {
		t.Fatal(err)
	}
	f.api.readyWait = 200 * time.Millisecond
	if engine {
		await.Run(t, testTimeout, "engine", e.Run)
		await.Until(t, testTimeout, "engine active", e.Leader)
	}
	await.Run(t, testTimeout, "api", f.api.Run)
	f.srv = httptest.NewServer(f.api.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

func id(t testing.TB, path string) uint32 {
	t.Helper()
	e, ok := catalog.Default().ByPath(path)
	if !ok {
		t.Fatalf("catalog has no %s", path)
	}
	return e.ID
}

// send publishes a batch of vehicle's report, now, to KANAL_BATCHES.
func (f *fixture) send(t testing.TB, vehicle string, cell geo.Cell, fog bool, lamps ...string) {
	t.Helper()
	now := time.Now().UnixNano()
	b2f := map[bool]float64{false: 0, true: 1}
	vals := []catalog.Value{
		{ID: id(t, "Vehicle.Kanal.Location.Cell"), Time: now, Num: cell.Float64()},
		{ID: id(t, "Vehicle.Speed"), Time: now, Num: 30},
		{ID: id(t, "Vehicle.Body.Lights.Fog.Front.IsOn"), Time: now, Num: b2f[fog]},
	}
	for _, l := range []string{"ABS", "Airbag"} {
		on := false
		for _, x := range lamps {
			on = on || x == l
		}
		vals = append(vals, catalog.Value{ID: id(t, "Vehicle.Kanal.Warning."+l+".IsOn"), Time: now, Num: b2f[on]})
	}
	f.seq++
	b := batch.Batch{Header: batch.Header{Vehicle: vehicle, Boot: "boot1", Seq: f.seq, SentAt: now}, Values: vals}
	data, err := f.enc.Encode(nil, &b)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if _, err := f.js.Publish(ctx, wire.BatchSubject(vehicle), data, jetstream.WithMsgID(b.Header.MsgID())); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond) // reports of one vehicle at distinct times
}

// client returns an API client logged in as user.
func (f *fixture) client(user string) *Client {
	return &Client{URL: f.srv.URL, User: user, Password: "pw-" + user}
}

// activeAlerts waits until /v1/alerts lists n alerts passing flt.
func (f *fixture) activeAlerts(t *testing.T, flt Filter, n int) []alert.Alert {
	t.Helper()
	var list AlertList
	await.Until(t, testTimeout, "active alerts", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		var err error
		list, err = f.client("tms").Alerts(ctx, flt)
		return err == nil && len(list.Alerts) == n
	})
	return list.Alerts
}

func parseBBoxForTest(s string) (geo.BBox, error) { return geo.ParseBBox(s) }

func fixedNow() time.Time { return time.Date(2025, 11, 12, 6, 45, 0, 0, time.UTC) }

func gridOf(level int) (geo.Grid, error) { return geo.NewGrid(level) }
