package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kanal-dev/kanal/agent"
	"github.com/kanal-dev/kanal/can"
	"github.com/kanal-dev/kanal/cloud/alert"
	"github.com/kanal-dev/kanal/cloud/auth"
	"github.com/kanal-dev/kanal/dbc"
	"github.com/kanal-dev/kanal/geo"
	"github.com/kanal-dev/kanal/sim"
)

// slowDrive is a drive of the demo vehicle at walking pace from a place:
// it stays inside the 1 km cell it starts in for the 44 s it lasts.
func slowDrive(t *testing.T, seed uint64, at geo.LatLng, fog bool) string {
	t.Helper()
	sc := sim.Scenario{Name: fmt.Sprintf("slow-%d", seed), Seed: seed, Start: time.Date(2025, 11, 12, 6, 45, 0, 0, time.UTC),
		Duration: 44, StartLat: at.Lat, StartLon: at.Lng, StartHeading: float64((seed * 37) % 360), Altitude: 515,
		SpeedKmh: [2]float64{6, 12}, CruiseS: [2]float64{8, 15}, StopS: [2]float64{3, 6}, TurnChance: 0.4,
		FuelPercent: 50, OdometerKm: 12000, AmbientC: 5, HumidityPct: 85, LightPct: 40, EngineHours: 900}
	if fog {
		sc.FogFrom, sc.FogTo = 2, 32
	}
	db, err := dbc.Load(demoDBC)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), sc.Name+".log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := can.NewLogWriter(f)
	if _, err := sim.Drive(db, sc, w); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestGatewayAlertsEndToEnd: three real agents with fog lights on in one
// cell raise a fog alert, which reaches a traffic service over MQTT and
// over NATS (the embedded server's client port, as a traffic user) without
// any vehicle identity, and whose notice reaches a fourth agent driving in
// a neighbouring cell, at its local /v1/notices endpoint. Everything goes
// through the gateway's broker with its ACL.
func TestGatewayAlertsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("a minute of real time: skipped with -short")
	}
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials.yaml")
	o := Options{DataDir: dir, NATS: NATSOptions{Listen: freeTCP(t)}}
	o.Alerts.Rules = alert.Rules{Fog: alert.FogRule{MinVehicles: 3, Window: 10 * time.Second, ClearAfter: time.Second}}
	g, _ := startGateway(t, o)

	grid, _ := geo.NewGrid(geo.DefaultLevel)
	fogCell, _ := grid.Cell(48.1450, 11.5650)
	neighbour := fogCell.Neighbours()[0]
	vehicles := []string{"fog-1", "fog-2", "fog-3", "near-1"}
	pws := map[string]string{}
	for _, v := range vehicles {
		pws[v] = addVehicle(t, creds, v)
	}
	tv, err := auth.AddUser(creds, "tv", auth.RoleTraffic, auth.AddOptions{Cost: 4})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // the gateway rereads its credentials

	// the traffic service over MQTT: a v5 client id NAME:..., alerts only
	var mu sync.Mutex
	var mqttAlerts []*paho.Publish
	conn, err := net.Dial("tcp", g.MQTTAddr("mqtt"))
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: packets.NewThreadSafeConn(conn),
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			mu.Lock()
			mqttAlerts = append(mqttAlerts, pr.Packet)
			mu.Unlock()
			return true, nil
		}}})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	if ack, err := c.Connect(ctx, &paho.Connect{ClientID: "tv:1", CleanStart: true, KeepAlive: 30,
		Username: "tv", UsernameFlag: true, Password: []byte(tv), PasswordFlag: true}); err != nil {
		t.Fatalf("traffic service connect: %v %+v", err, ack)
	}
	defer c.Disconnect(&paho.Disconnect{})
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "kanal/v1/alerts/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	// ... and over NATS
	nc, err := nats.Connect("nats://"+o.NATS.Listen, nats.UserInfo("tv", tv))
	if err != nil {
		t.Fatalf("traffic user on NATS: %v", err)
	}
	defer nc.Close()
	natsAlerts := make(chan *nats.Msg, 64)
	if _, err := nc.ChanSubscribe("kanal.alerts.>", natsAlerts); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Subscribe("kanal.batches.>", func(*nats.Msg) {}); err == nil {
		nc.Flush()
		if err := nc.LastError(); err == nil || !strings.Contains(err.Error(), "Permissions Violation") {
			t.Errorf("a traffic user subscribed to the batches: %v", err)
		}
	}

	// the notice receiver drives next to the fog, with its local endpoint
	metrics := freeTCP(t)
	errs := make(chan error, len(vehicles))
	for i, v := range vehicles {
		at, fog := fogCell.Center(), true
		if v == "near-1" {
			at, fog = neighbour.Center(), false
		}
		cfg := agentConfig(t, v, "mqtt://"+g.MQTTAddr("mqtt"), pws[v], slowDrive(t, uint64(11+i), at, fog))
		cfg.Sources.Replay.Speed = speedOf(1)
		if v == "near-1" {
			cfg.Metrics.Listen = metrics
		}
		go func() {
			a, err := agent.New(cfg, agent.Options{Logger: quiet, Registry: prometheus.NewRegistry()})
			if err == nil {
				err = a.Run(ctx)
			}
			errs <- err
		}()
	}

	// the fog alert over NATS
	var raised alert.Alert
	deadline := time.After(90 * time.Second)
wait:
	for {
		select {
		case m := <-natsAlerts:
			a, err := alert.Parse(m.Data)
			if err != nil {
				t.Fatalf("alert on %s: %v", m.Subject, err)
			}
			checkAnonymous(t, "NATS "+m.Subject, m.Subject, m.Data, fmt.Sprint(m.Header), vehicles)
			if a.Kind == "fog" && a.State == "raised" {
				raised = a
				break wait
			}
		case <-deadline:
			t.Fatal("no fog alert on NATS within 90s")
		}
	}
	if raised.Cell != fogCell.Token() || raised.Count != 3 {
		t.Errorf("fog alert %+v: want cell %s and 3 vehicles", raised, fogCell.Token())
	}
	// the same over MQTT
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		n := len(mqttAlerts)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(end) {
			t.Fatal("no alert on MQTT kanal/v1/alerts/# within 10s of NATS")
		}
	}
	mu.Lock()
	for _, p := range mqttAlerts {
		checkAnonymous(t, "MQTT "+p.Topic, p.Topic, p.Payload, fmt.Sprint(p.Properties), vehicles)
		if !strings.HasPrefix(p.Topic, "kanal/v1/alerts/fog/") {
			t.Errorf("alert on %s", p.Topic)
		}
	}
	mu.Unlock()
	// the fog notice at the neighbour's agent
	var notices []struct {
		Notice struct{ Kind, Text string } `json:"notice"`
		Cell   string                      `json:"cell"`
	}
	for end := time.Now().Add(20 * time.Second); len(notices) == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the agent next to the fog got no notice within 20s")
		}
		if resp, err := http.Get("http://" + metrics + "/v1/notices"); err == nil {
			json.NewDecoder(resp.Body).Decode(&notices)
			resp.Body.Close()
		}
	}
	if notices[0].Notice.Kind != "fog" {
		t.Errorf("notice %+v", notices[0])
	}
	for range vehicles {
		if err := <-errs; err != nil {
			t.Errorf("agent: %v", err)
		}
	}
}

// checkAnonymous fails when a vehicle id appears in what a traffic
// service receives: subject or topic, payload, headers or properties.
func checkAnonymous(t *testing.T, where, name string, payload []byte, meta string, vehicles []string) {
	t.Helper()
	for _, v := range vehicles {
		if strings.Contains(name, v) || strings.Contains(string(payload), v) || strings.Contains(meta, v) {
			t.Errorf("%s names vehicle %s: %s %s", where, v, payload, meta)
		}
	}
}

func freeTCP(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
