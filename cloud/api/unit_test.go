package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/cloud/alert"
	"github.com/kanal-dev/kanal/cloud/twin"
	"github.com/kanal-dev/kanal/internal/await"
)

func TestCredentials(t *testing.T) {
	for _, tc := range []struct {
		desc, header string
		basic        [2]string
		name, pw     string
		ok           bool
	}{
		{"bearer", "Bearer tms:secret", [2]string{}, "tms", "secret", true},
		{"bearer with a colon in the password", "Bearer tms:a:b", [2]string{}, "tms", "a:b", true},
		{"bearer without password", "Bearer tms", [2]string{}, "tms", "", false},
		{"basic", "", [2]string{"ops", "pw"}, "ops", "pw", true},
		{"none", "", [2]string{}, "", "", false},
		{"other scheme", "Digest x", [2]string{}, "", "", false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			if tc.basic[0] != "" {
				r.SetBasicAuth(tc.basic[0], tc.basic[1])
			}
			name, pw, ok := credentials(r)
			if ok != tc.ok || ok && (name != tc.name || pw != tc.pw) {
				t.Errorf("credentials = %q, %q, %v", name, pw, ok)
			}
		})
	}
}

func TestLastEventID(t *testing.T) {
	for _, tc := range []struct {
		header, query string
		n             uint64
		resume, bad   bool
	}{
		{"", "", 0, false, false},
		{"42", "", 42, true, false},
		{" 7 ", "", 7, true, false},
		{"", "9", 9, true, false},
		{"x", "", 0, false, true},
		{"-1", "", 0, false, true},
	} {
		r := httptest.NewRequest("GET", "/v1/alerts/stream?last_event_id="+url.QueryEscape(tc.query), nil)
		if tc.header != "" {
			r.Header.Set("Last-Event-ID", tc.header)
		}
		n, resume, err := lastEventID(r)
		if (err != nil) != tc.bad || n != tc.n || resume != tc.resume {
			t.Errorf("%q/%q: %d, %v, %v", tc.header, tc.query, n, resume, err)
		}
	}
}

func TestAlertView(t *testing.T) {
	v := newAlertView()
	raised := func(id, kind, cell string) []byte {
		a := alert.Alert{Schema: alert.Schema, ID: id, Kind: kind, State: alert.StateRaised, Cell: cell}
		return []byte(marshalOrDie(t, a))
	}
	cleared := func(id, kind, cell string) []byte {
		a := alert.Alert{Schema: alert.Schema, ID: id, Kind: kind, State: alert.StateCleared, Cell: cell}
		return []byte(marshalOrDie(t, a))
	}
	v.apply(1, raised("f1", "fog", cellA.Token()))
	v.apply(2, raised("w1", "warning", cellA.Token()))
	v.apply(3, []byte(`{"schema":"someone.else"}`))
	v.apply(4, raised("f2", "fog", cellFar.Token()))
	v.apply(5, cleared("f1", "fog", cellA.Token()))
	all, seq := v.snapshot(filter{})
	if seq != 5 || len(all) != 2 || all[0].a.ID != "w1" || all[1].a.ID != "f2" || all[1].seq != 4 {
		t.Fatalf("snapshot %+v at %d", all, seq)
	}
	b, _ := parseBBoxForTest(bboxA)
	for _, tc := range []struct {
		f    filter
		want int
	}{
		{filter{kind: "fog"}, 1},
		{filter{cell: cellA.Token()}, 1},
		{filter{bbox: &b}, 1},
		{filter{bbox: &b, kind: "fog"}, 0},
	} {
		if got, _ := v.snapshot(tc.f); len(got) != tc.want {
			t.Errorf("%+v: %d", tc.f, len(got))
		}
	}
}

func TestVehicleIndex(t *testing.T) {
	x := newVehicleIndex()
	at := func(id, cell string, seen time.Time) *twin.Twin {
		tw := &twin.Twin{Vehicle: id, Seen: seen}
		if cell != "" {
			tw.Cell.Set(cell, seen)
		}
		return tw
	}
	now := time.Now()
	x.set(at("v1", cellA.Token(), now), false)
	x.set(at("v2", cellA.Token(), now.Add(-time.Hour)), false)
	x.set(at("v3", cellFar.Token(), now), false)
	x.set(at("v4", "", now), false) // no cell: nowhere
	b, _ := parseBBoxForTest(bboxA)
	if got := x.in(b, now.Add(-time.Minute)); len(got) != 1 || got[0].Vehicle != "v1" {
		t.Errorf("in A now: %+v", got)
	}
	if got := x.in(b, now.Add(-2*time.Hour)); len(got) != 2 || got[1].Vehicle != "v2" {
		t.Errorf("in A in the last 2 h: %+v", got)
	}
	x.set(at("v1", cellFar.Token(), now.Add(time.Second)), false) // moves
	x.set(&twin.Twin{Vehicle: "v2"}, true)                        // deleted
	if got := x.in(b, now.Add(-2*time.Hour)); len(got) != 0 {
		t.Errorf("in A after moving and deleting: %+v", got)
	}
	if len(x.byCell) != 1 || len(x.byCell[cellFar.Token()]) != 2 {
		t.Errorf("cells %v", x.byCell)
	}
}

func TestFilterQuery(t *testing.T) {
	f := Filter{Kind: "fog", Cell: cellA.Token(), BBox: bboxA}
	got, err := parseFilter(f.Query())
	if err != nil || got.kind != "fog" || got.cell != cellA.Token() || got.bbox == nil {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if got.subject() != "kanal.alerts.fog."+cellA.Token() {
		t.Errorf("subject %q", got.subject())
	}
	if s := (filter{kind: "warning"}).subject(); s != "kanal.alerts.warning.*" {
		t.Errorf("subject %q", s)
	}
	if len(Filter{}.Query()) != 0 {
		t.Error("an empty filter has parameters")
	}
}

// TestNotReady: before any processor created the streams, the endpoints
// answer 503 with a reason, and come up once the streams are there.
func TestNotReady(t *testing.T) {
	f := newFixtureWithout(t)
	code, body := f.get(t, "GET", "/v1/alerts", "tms", "bearer", "")
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), "not loaded yet") {
		t.Errorf("%d %s", code, body)
	}
	code, body = f.get(t, "GET", "/v1/vehicles?bbox="+bboxA, "ops", "bearer", "")
	if code != http.StatusServiceUnavailable {
		t.Errorf("vehicles: %d %s", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := alert.EnsureAlertStreams(ctx, f.js, 1, 0, 0); err != nil {
		t.Fatal(err)
	}
	await.Until(t, testTimeout, "alerts served", func() bool {
		code, _ := f.get(t, "GET", "/v1/alerts", "tms", "bearer", "")
		return code == 200
	})
}

// TestStreamFiltersAndKeepalive: the stream sends only what passes its
// filter, and comments while nothing happens.
func TestStreamFiltersAndKeepalive(t *testing.T) {
	f := newFixture(t)
	f.activeAlerts(t, Filter{}, 0)
	raw := make(chan string, 1)
	go func() {
		raw <- sseReadFor(t, f.srv.URL+"/v1/alerts/stream?kind=warning&bbox="+bboxA, 700*time.Millisecond)
	}()
	time.Sleep(100 * time.Millisecond)
	f.raiseFog(t, cellA.Token(), "a1", "a2", "a3")
	f.send(t, "w1", cellFar, false, "ABS")
	f.send(t, "w2", cellA, false, "ABS")
	body := <-raw
	if strings.Count(body, "event: alert") != 1 || !strings.Contains(body, `"kind":"warning"`) || strings.Contains(body, cellFar.Token()) {
		t.Errorf("filtered stream:\n%s", body)
	}
	if !strings.Contains(body, ": keepalive") {
		t.Errorf("no keepalive in 700 ms with a 100 ms heartbeat:\n%s", body)
	}
}

// sseReadFor reads a stream for d and returns what came.
func sseReadFor(t *testing.T, url string, d time.Duration) string {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Authorization", "Bearer tms:pw-tms")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}
