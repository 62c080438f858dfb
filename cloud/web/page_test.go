package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kanal-dev/kanal/agent"
	"github.com/kanal-dev/kanal/can"
	"github.com/kanal-dev/kanal/cloud/alert"
	"github.com/kanal-dev/kanal/cloud/auth"
	"github.com/kanal-dev/kanal/cloud/gateway"
	"github.com/kanal-dev/kanal/dbc"
	"github.com/kanal-dev/kanal/geo"
	"github.com/kanal-dev/kanal/sim"
	"github.com/kanal-dev/kanal/uplink"
	"github.com/kanal-dev/kanal/uplink/spool"
)

const (
	demoDBC     = "../../testdata/candumps/kanal_demo.dbc"
	demoMapping = "../../testdata/candumps/kanal_demo.mapping.yaml"
	// replaySpeed plays the synthesized drives at twice real time: the
	// 44 s drives take 22 s, the fog stays up for about 15 s.
	replaySpeed = 2.0
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// gatewayUnderTest is a real gateway on loopback: embedded JetStream in a
// temp dir, the alert rules with the shortest windows the rules allow.
type gatewayUnderTest struct {
	*gateway.Gateway
	base  string // http://127.0.0.1:port
	creds string // the credentials file
}

func startGateway(t *testing.T) *gatewayUnderTest {
	t.Helper()
	dir := t.TempDir()
	o := gateway.Options{DataDir: dir, Logger: quiet, Registry: prometheus.NewRegistry()}
	o.MQTT.MQTTListen = "127.0.0.1:0"
	o.HTTP.Listen = "127.0.0.1:0"
	o.Alerts.Rules = alert.Rules{
		Fog:       alert.FogRule{MinVehicles: 3, Window: 10 * time.Second, ClearAfter: time.Second},
		Breakdown: alert.BreakdownRule{StoppedFor: 2 * time.Second},
	}
	ctx, cancel := context.WithCancel(context.Background())
	g, err := gateway.New(ctx, o)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("gateway Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("gateway did not stop within 30s")
		}
	})
	gw := &gatewayUnderTest{Gateway: g, base: "http://" + g.HTTPAddr(), creds: filepath.Join(dir, "credentials.yaml")}
	gw.waitStatus(t, "/readyz", "", 200)
	return gw
}

// waitStatus polls path (with a bearer token unless "") until it answers
// want, for at most 20 s.
func (g *gatewayUnderTest) waitStatus(t *testing.T, path, token string, want int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest("GET", g.base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: no %d within 20s (last: %s)", path, want, last)
}

// addUser adds a user and returns its password.
func (g *gatewayUnderTest) addUser(t *testing.T, name string, role auth.Role) string {
	t.Helper()
	pw, err := auth.AddUser(g.creds, name, role, auth.AddOptions{Cost: 4})
	if err != nil {
		t.Fatal(err)
	}
	return pw
}

// drive is one synthesized vehicle: a scenario of package sim written as a
// candump log, replayed by a real agent.
type drive struct {
	vehicle string
	sc      sim.Scenario
}

// scenario is a slow drive from a cell's centre: at 6 to 12 km/h a 44 s
// drive stays well inside the 1 km cell it starts in.
func scenario(seed uint64, at geo.LatLng) sim.Scenario {
	return sim.Scenario{
		Name: fmt.Sprintf("page-%d", seed), Seed: seed, Start: time.Date(2025, 11, 12, 6, 45, 0, 0, time.UTC), Duration: 44,
		StartLat: at.Lat, StartLon: at.Lng, StartHeading: float64((seed * 37) % 360), Altitude: 515,
		SpeedKmh: [2]float64{6, 12}, CruiseS: [2]float64{8, 15}, StopS: [2]float64{3, 6}, TurnChance: 0.4,
		FuelPercent: 50, OdometerKm: 12000, AmbientC: 5, HumidityPct: 85, LightPct: 40, EngineHours: 900,
	}
}

// writeLog writes the drive's frames to a candump log in dir.
func writeLog(t *testing.T, db *dbc.Database, dir string, d drive) string {
	t.Helper()
	path := filepath.Join(dir, d.vehicle+".log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := can.NewLogWriter(f)
	if _, err := sim.Drive(db, d.sc, w); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// runAgent replays log as vehicle against the gateway until the log has
// ended and every batch is acknowledged.
func runAgent(ctx context.Context, t *testing.T, g *gatewayUnderTest, vehicle, password, log string) error {
	pwFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		return err
	}
	speed := replaySpeed
	cfg := agent.Config{
		Vehicle: vehicle,
		Sources: agent.SourcesOptions{Replay: agent.ReplayOptions{File: log, Speed: &speed}},
		Buses:   dbc.PipelineOptions{DBC: []string{demoDBC}, Mapping: demoMapping},
		Uplink: uplink.Options{MQTTOptions: uplink.MQTTOptions{Broker: "mqtt://" + g.MQTTAddr("mqtt"), Username: vehicle,
			PasswordFile: pwFile, BackoffMin: 20 * time.Millisecond, BackoffMax: 300 * time.Millisecond, PublishTimeout: 5 * time.Second}},
		Spool:        spool.Options{Dir: t.TempDir(), Fsync: spool.FsyncNone},
		DrainTimeout: 60 * time.Second,
	}
	a, err := agent.New(cfg, agent.Options{Logger: quiet, Registry: prometheus.NewRegistry()})
	if err != nil {
		return fmt.Errorf("agent %s: %w", vehicle, err)
	}
	if err := a.Run(ctx); err != nil {
		return fmt.Errorf("agent %s: %w", vehicle, err)
	}
	return nil
}

// cellAt is the level-13 cell of a place in Munich, where the demo drives.
func cellAt(t *testing.T, lat, lon float64) geo.Cell {
	t.Helper()
	g, err := geo.NewGrid(geo.DefaultLevel)
	if err != nil {
		t.Fatal(err)
	}
	c, err := g.Cell(lat, lon)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// jsQuery is a JavaScript expression that gives "" when every selector
// matches an element of the page, else the descriptions of those that do
// not.
func jsQuery(checks map[string]string) string {
	var b strings.Builder
	b.WriteString("(() => { const miss = [];\n")
	for what, sel := range checks {
		fmt.Fprintf(&b, "if (!document.querySelector(%q)) miss.push(%q);\n", sel, what)
	}
	b.WriteString(`return miss.sort().join("; "); })()`)
	return b.String()
}

// fleet is what TestLivePage drives: its cells, and a candump log and a
// login per vehicle.
type fleet struct {
	fog, warn, breakdown geo.Cell
	drives               []drive
	logs, passwords      map[string]string
	opsPW, trafficPW     string
}

// newFleet synthesizes the drives and adds every login to the gateway:
// three vehicles with fog lights on in one cell for 30 s of a 44 s drive,
// one whose ABS lamp comes on, one standing with hazard lights on, two
// driving about in other cells.
func newFleet(t *testing.T, g *gatewayUnderTest) *fleet {
	t.Helper()
	f := &fleet{fog: cellAt(t, 48.1450, 11.5650), warn: cellAt(t, 48.1450, 11.5900), breakdown: cellAt(t, 48.1335, 11.5780),
		logs: map[string]string{}, passwords: map[string]string{}}
	if f.fog == f.warn || f.fog == f.breakdown || f.warn == f.breakdown {
		t.Fatalf("the test's cells are not distinct: %v %v %v", f.fog, f.warn, f.breakdown)
	}
	for i := range 3 {
		sc := scenario(uint64(11+i), f.fog.Center())
		sc.FogFrom, sc.FogTo = 2, 32 // log seconds: on for 30 s, then off for the last 12
		f.drives = append(f.drives, drive{fmt.Sprintf("fog-%d", i+1), sc})
	}
	warn := scenario(21, f.warn.Center())
	warn.Lamps = []sim.LampEvent{{Signal: "WarnABS", At: 2}}
	brk := scenario(22, f.breakdown.Center())
	brk.SpeedKmh, brk.HazardFrom, brk.HazardTo = [2]float64{0, 0}, 0, 1000
	f.drives = append(f.drives, drive{"warn-1", warn}, drive{"brk-1", brk})
	for i, at := range []geo.LatLng{{Lat: 48.1395, Lng: 11.5560}, {Lat: 48.1505, Lng: 11.5790}} {
		sc := scenario(uint64(31+i), at)
		sc.SpeedKmh = [2]float64{30, 45}
		f.drives = append(f.drives, drive{fmt.Sprintf("car-%d", i+1), sc})
	}
	db, err := dbc.Load(demoDBC)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, d := range f.drives {
		f.logs[d.vehicle] = writeLog(t, db, dir, d)
		f.passwords[d.vehicle] = g.addUser(t, d.vehicle, auth.RoleVehicle)
	}
	f.trafficPW = g.addUser(t, "tv", auth.RoleTraffic)
	f.opsPW = g.addUser(t, "ops", auth.RoleOperator) // last: once it works, every user is loaded
	g.waitStatus(t, "/v1/alerts", "ops:"+f.opsPW, 200)
	return f
}

// start runs every vehicle's agent; the channel gets one result each.
func (f *fleet) start(ctx context.Context, t *testing.T, g *gatewayUnderTest) <-chan error {
	out := make(chan error, len(f.drives))
	for _, d := range f.drives {
		go func() { out <- runAgent(ctx, t, g, d.vehicle, f.passwords[d.vehicle], f.logs[d.vehicle]) }()
	}
	return out
}

// TestLivePage runs the page in a real headless Chromium against a real
// gateway while real agents replay synthesized drives (newFleet). One page
// load, as an operator with the token in the URL fragment, must show the
// fog cell, the warning and the breakdown on the map and in the active
// list, three vehicles in the fog cell; then its connection is cut while
// the fog clears, and on reconnecting (Last-Event-ID) it shows the fog
// cleared, with no change listed twice. A second tab signs in through the
// form as a traffic user and sees the alerts and their history without
// vehicles; a third asks for a bbox around the warning and sees that cell
// only. No page makes a request outside the gateway.
//
// The screenshot goes to $KANAL_PAGE_SCREENSHOT (default a temp dir);
// docs/live-page.png is one taken so:
//
//	KANAL_PAGE_SCREENSHOT=$PWD/docs/live-page.png go test ./cloud/web -run TestLivePage
func TestLivePage(t *testing.T) {
	b := startBrowser(t)
	if testing.Short() {
		t.Skip("a gateway, seven agents and a browser for about a minute: skipped with -short")
	}
	g := startGateway(t)
	f := newFleet(t, g)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	px := newProxy(t, g.HTTPAddr())

	p := b.newPage(ctx)
	p.navigate(ctx, px.base+"/#token=ops:"+f.opsPW)
	p.waitFor(ctx, "the stream to open as operator", `(() => {
		const conn = document.querySelector("#conn").dataset.state, role = document.body.dataset.role;
		return conn === "live" && role === "operator" ? "" : "conn " + conn + ", role " + role; })()`)
	var hash string
	p.mustEval(ctx, `location.hash`, &hash)
	if hash != "" {
		t.Errorf("the token stays in the address bar: %q", hash)
	}

	actx, acancel := context.WithTimeout(ctx, 2*time.Minute)
	defer acancel()
	agents := f.start(actx, t, g)
	fog, warn, brk := f.fog.Token(), f.warn.Token(), f.breakdown.Token()
	p.waitFor(ctx, "the fog cell, the warning and the breakdown", jsQuery(map[string]string{
		"fog cell on the map":         fmt.Sprintf(`#map polygon.alert-cell[data-alert-kind="fog"][data-state="raised"][data-cell=%q]`, fog),
		"fog marker":                  fmt.Sprintf(`#map .marker[data-alert-kind="fog"][data-cell=%q]`, fog),
		"fog in the active list":      fmt.Sprintf(`#active li[data-alert-kind="fog"][data-state="raised"][data-cell=%q]`, fog),
		"3 vehicles in the fog cell":  fmt.Sprintf(`#map polygon.cell[data-cell=%q][data-vehicles="3"]`, fog),
		"ABS warning on the map":      fmt.Sprintf(`#map .marker[data-alert-kind="warning"][data-lamp="ABS"][data-cell=%q]`, warn),
		"ABS warning in the list":     fmt.Sprintf(`#active li[data-alert-kind="warning"][data-lamp="ABS"][data-cell=%q]`, warn),
		"breakdown on the map":        fmt.Sprintf(`#map .marker[data-alert-kind="breakdown"][data-cell=%q]`, brk),
		"fog raised in the history":   fmt.Sprintf(`#history li[data-alert-kind="fog"][data-state="raised"][data-cell=%q]`, fog),
		"a scale":                     `#map #layer-scale[data-metres] text`,
		"vehicles in the other cells": `#map polygon.cell:not([data-vehicles="3"])`,
	}))
	shot := os.Getenv("KANAL_PAGE_SCREENSHOT")
	if shot == "" {
		shot = filepath.Join(t.TempDir(), "live-page.png")
	}
	time.Sleep(300 * time.Millisecond) // let the last render settle for the picture
	if err := p.screenshot(ctx, shot); err != nil {
		t.Errorf("screenshot: %v", err)
	} else {
		t.Logf("screenshot of the page with fog, a warning and a breakdown: %s", shot)
	}

	// The page loses its connection until the fog has cleared: the clear
	// must come with the resumed stream.
	px.setDown(true)
	p.waitFor(ctx, "the page to notice the drop", `(() => { const s = document.querySelector("#conn").dataset.state;
		return s === "reconnecting" ? "" : "conn " + s; })()`)
	waitFogCleared(ctx, t, g, "ops:"+f.opsPW, fog)
	px.setDown(false)
	p.waitFor(ctx, "the fog to show as cleared", jsQuery(map[string]string{
		"live again":                 `#conn[data-state="live"]`,
		"fog cleared in the history": fmt.Sprintf(`#history li[data-alert-kind="fog"][data-state="cleared"][data-cell=%q]`, fog),
		"fog cell drawn as cleared":  fmt.Sprintf(`#map polygon.alert-cell[data-alert-kind="fog"][data-state="cleared"][data-cell=%q]`, fog),
		"fog cleared marker":         fmt.Sprintf(`#map .marker[data-alert-kind="fog"][data-state="cleared"][data-cell=%q]`, fog),
		"warning still active":       fmt.Sprintf(`#active li[data-alert-kind="warning"][data-cell=%q]`, warn),
	}))
	if err := p.screenshot(ctx, strings.TrimSuffix(shot, ".png")+"-cleared.png"); err != nil {
		t.Errorf("screenshot: %v", err)
	}
	var still int
	p.mustEval(ctx, fmt.Sprintf(`document.querySelectorAll('#active li[data-alert-kind="fog"][data-cell=%q], #map [data-alert-kind="fog"][data-state="raised"]').length`, fog), &still)
	if still != 0 {
		t.Errorf("the cleared fog is still shown as active in %d places", still)
	}
	checkHistoryOnce(ctx, t, p)
	checkResumed(ctx, t, p, fog)
	for range f.drives {
		if err := <-agents; err != nil {
			t.Error(err)
		}
	}

	p2 := trafficTab(ctx, t, b, g, f)
	p3 := areaTab(ctx, t, b, g, f)
	for _, c := range []struct {
		p    *page
		base string
	}{{p, px.base}, {p2, g.base}, {p3, g.base}} {
		for _, r := range c.p.Requests() {
			if !strings.HasPrefix(r.URL, c.base+"/") && r.URL != "about:blank" {
				t.Errorf("the page asked for %s, outside the gateway", r.URL)
			}
		}
		if errs := c.p.Errors(); len(errs) > 0 {
			t.Errorf("script errors: %v", errs)
		}
	}
}

// waitFogCleared polls the API until the cell has no active fog alert.
func waitFogCleared(ctx context.Context, t *testing.T, g *gatewayUnderTest, token, cell string) {
	t.Helper()
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", g.base+"/v1/alerts?kind=fog&cell="+cell, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			var list struct{ Alerts []json.RawMessage }
			err = json.NewDecoder(resp.Body).Decode(&list)
			resp.Body.Close()
			if err == nil && len(list.Alerts) == 0 {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the fog in %s did not clear: %v", cell, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// checkResumed: the page reopened the stream with the Last-Event-ID of
// what it had seen, past the fog's raising, rather than from scratch.
func checkResumed(ctx context.Context, t *testing.T, p *page, fog string) {
	t.Helper()
	var raisedSeq int
	p.mustEval(ctx, fmt.Sprintf(`Number(document.querySelector('#history li[data-alert-kind="fog"][data-state="raised"][data-cell=%q]').dataset.seq)`, fog), &raisedSeq)
	var ids []int
	for _, r := range p.Requests() {
		if !strings.Contains(r.URL, "/v1/alerts/stream") {
			continue
		}
		id := -1
		for k, v := range r.Headers {
			if strings.EqualFold(k, "Last-Event-ID") {
				fmt.Sscan(v, &id)
			}
		}
		ids = append(ids, id)
	}
	if len(ids) < 2 {
		t.Fatalf("%d stream requests, want a reconnection", len(ids))
	}
	if last := ids[len(ids)-1]; last < raisedSeq {
		t.Errorf("stream requests with Last-Event-ID %v: the last is before the fog's raising at %d", ids, raisedSeq)
	}
}

// trafficTab: a traffic user signs in through the form in a tab of its
// own (its own sessionStorage): a wrong password is refused with a
// message, the right one shows the alerts with the history replayed, no
// vehicles.
func trafficTab(ctx context.Context, t *testing.T, b *browser, g *gatewayUnderTest, f *fleet) *page {
	t.Helper()
	p := b.newPage(ctx)
	p.navigate(ctx, g.base+"/")
	p.waitFor(ctx, "the login form", `document.querySelector("#login").hidden ? "hidden" : ""`)
	signIn := func(name, password string) {
		t.Helper()
		p.mustEval(ctx, fmt.Sprintf(`(() => {
			document.querySelector("#login-name").value = %q;
			document.querySelector("#login-password").value = %q;
			document.querySelector("#login-form").requestSubmit(); })()`, name, password), nil)
	}
	signIn("tv", "not-the-password")
	p.waitFor(ctx, "the refusal", `(() => { const e = document.querySelector("#login-error");
		return !e.hidden && /wrong/i.test(e.textContent) && !document.querySelector("#login").hidden ? "" : "error " + e.hidden + " " + e.textContent; })()`)
	signIn("tv", f.trafficPW)
	fog, warn := f.fog.Token(), f.warn.Token()
	p.waitFor(ctx, "the traffic view", jsQuery(map[string]string{
		"role traffic":               `body[data-role="traffic"][data-auth="ok"]`,
		"live":                       `#conn[data-state="live"]`,
		"the warning":                fmt.Sprintf(`#active li[data-alert-kind="warning"][data-cell=%q]`, warn),
		"fog cleared in the history": fmt.Sprintf(`#history li[data-alert-kind="fog"][data-state="cleared"][data-cell=%q]`, fog),
		"fog raised in the history":  fmt.Sprintf(`#history li[data-alert-kind="fog"][data-state="raised"][data-cell=%q]`, fog),
		"fog cell drawn as cleared":  fmt.Sprintf(`#map polygon.alert-cell[data-alert-kind="fog"][data-state="cleared"][data-cell=%q]`, fog),
		"the operator-only note":     `#note:not([hidden])`,
	}))
	var vehicleCells int
	p.mustEval(ctx, `document.querySelectorAll("#map polygon.cell, #map .count").length`, &vehicleCells)
	if vehicleCells != 0 {
		t.Errorf("a traffic login sees %d vehicle cells or counts", vehicleCells)
	}
	var stored string
	p.mustEval(ctx, `sessionStorage.getItem("kanal.token")`, &stored)
	if stored != "tv:"+f.trafficPW {
		t.Errorf("sessionStorage holds %q, want the traffic login", stored)
	}
	checkHistoryOnce(ctx, t, p)
	return p
}

// areaTab: a tab asks for the area around the warning only (bbox= in the
// fragment, which stays there while the token is taken out): the API
// filters the alerts, their history and the vehicles to it.
func areaTab(ctx context.Context, t *testing.T, b *browser, g *gatewayUnderTest, f *fleet) *page {
	t.Helper()
	c, warn := f.warn.Center(), f.warn.Token()
	bbox := fmt.Sprintf("%.4f,%.4f,%.4f,%.4f", c.Lng-0.001, c.Lat-0.001, c.Lng+0.001, c.Lat+0.001)
	p := b.newPage(ctx)
	p.navigate(ctx, g.base+"/#bbox="+bbox+"&token=ops:"+f.opsPW)
	p.waitFor(ctx, "the area view", jsQuery(map[string]string{
		"live":             `#conn[data-state="live"]`,
		"the warning":      fmt.Sprintf(`#active li[data-alert-kind="warning"][data-cell=%q]`, warn),
		"its vehicles":     fmt.Sprintf(`#map polygon.cell[data-cell=%q]`, warn),
		"its history":      fmt.Sprintf(`#history li[data-alert-kind="warning"][data-cell=%q]`, warn),
		"the role":         `body[data-role="operator"]`,
		"vehicles counted": `#summary [data-stat="vehicles"]`,
	}))
	var area struct {
		Hash  string
		Cells []string
	}
	p.mustEval(ctx, `({Hash: location.hash, Cells: [...document.querySelectorAll("#map [data-cell], #active li, #history li")].map((e) => e.dataset.cell)})`, &area)
	if area.Hash != "#bbox="+bbox {
		t.Errorf("the address bar's fragment is %q, want the bbox only", area.Hash)
	}
	for _, cell := range area.Cells {
		if cell != warn {
			t.Errorf("the area view shows cell %s, outside its bbox %s", cell, bbox)
		}
	}
	return p
}

// proxy is a TCP proxy in front of the gateway's HTTP port that the test
// can take down (every connection cut, new ones closed at once) and up
// again: a network drop as the browser sees it.
type proxy struct {
	base   string
	target string
	ln     net.Listener
	wg     sync.WaitGroup

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]bool
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{base: "http://" + ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.setDown(true)
		p.wg.Wait()
	})
	return p
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		p.mu.Lock()
		if err != nil || p.down {
			p.mu.Unlock()
			c.Close()
			if up != nil {
				up.Close()
			}
			continue
		}
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(up, c)
		go p.pipe(c, up)
	}
}

// pipe copies one direction until either side closes, then closes both.
func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	io.Copy(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// setDown cuts every connection and refuses new ones (true), or lets
// them through again (false).
func (p *proxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
	}
}

// checkHistoryOnce fails when an alert change is listed twice: a
// reconnect or the replayed history must not repeat one.
func checkHistoryOnce(ctx context.Context, t *testing.T, p *page) {
	t.Helper()
	var keys []string
	p.mustEval(ctx, `[...document.querySelectorAll("#history li")].map((li) => li.dataset.alertId + ":" + li.dataset.state)`, &keys)
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			t.Errorf("history lists %s twice", k)
		}
		seen[k] = true
	}
	if len(keys) == 0 {
		t.Error("the history is empty")
	}
}

// TestGatewayServesPage: the gateway serves the page at / beside its own
// routes, which keep working (no browser needed).
func TestGatewayServesPage(t *testing.T) {
	g := startGateway(t)
	cell := cellAt(t, 48.1450, 11.5650)
	tests := []struct {
		path        string
		status      int
		contentType string
	}{
		{"/", 200, "text/html; charset=utf-8"},
		{"/page/app.js", 200, "text/javascript; charset=utf-8"},
		{"/page/cells?tokens=" + cell.Token(), 200, "application/json"},
		{"/v1/alerts", 401, "application/json"}, // the API still wants a login
		{"/v1/nope", 404, "application/json"},   // and answers its own 404s
		{"/healthz", 200, "text/plain; charset=utf-8"},
		{"/metrics", 200, ""},
		{"/nope", 404, "text/plain; charset=utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := http.Get(g.base + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if ct := resp.Header.Get("Content-Type"); tt.contentType != "" && ct != tt.contentType {
				t.Errorf("Content-Type %q, want %q", ct, tt.contentType)
			}
		})
	}
}
