package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/cloud/alert"
	"github.com/kanal-dev/kanal/cloud/twin"
	"github.com/kanal-dev/kanal/internal/await"
	"github.com/kanal-dev/kanal/internal/wire"
)

// get performs a request as user ("" for none) with the given auth style
// and returns the status and body.
func (f *fixture) get(t *testing.T, method, path, user, style string, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	switch style {
	case "bearer":
		req.Header.Set("Authorization", "Bearer "+user+":pw-"+user)
	case "basic":
		req.SetBasicAuth(user, "pw-"+user)
	case "wrong":
		req.SetBasicAuth(user, "nope")
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// TestAuth: the role matrix of every endpoint, with bearer and basic auth.
func TestAuth(t *testing.T) {
	f := newFixture(t)
	f.send(t, "car-01", cellA, false)
	notice := `{"bbox":"` + bboxA + `","text":"test"}`
	type call struct{ method, path, body string }
	calls := map[string]call{
		"alerts":   {"GET", "/v1/alerts", ""},
		"vehicle":  {"GET", "/v1/vehicles/car-01", ""},
		"vehicles": {"GET", "/v1/vehicles?bbox=" + bboxA, ""},
		"cells":    {"GET", "/v1/cells?bbox=" + bboxA, ""},
		"notices":  {"POST", "/v1/notices", notice},
	}
	for _, tc := range []struct {
		user, style string
		want        map[string]int
	}{
		{"", "", map[string]int{"alerts": 401, "vehicle": 401, "vehicles": 401, "cells": 401, "notices": 401}},
		{"tms", "wrong", map[string]int{"alerts": 401, "vehicle": 401, "vehicles": 401, "cells": 401, "notices": 401}},
		{"nobody", "bearer", map[string]int{"alerts": 401, "vehicle": 401, "vehicles": 401, "cells": 401, "notices": 401}},
		{"car-01", "bearer", map[string]int{"alerts": 403, "vehicle": 403, "vehicles": 403, "cells": 403, "notices": 403}},
		{"tms", "bearer", map[string]int{"alerts": 200, "vehicle": 403, "vehicles": 403, "cells": 403, "notices": 403}},
		{"tms", "basic", map[string]int{"alerts": 200, "vehicle": 403, "vehicles": 403, "cells": 403, "notices": 403}},
		{"ops", "bearer", map[string]int{"alerts": 200, "vehicle": 200, "vehicles": 200, "cells": 200, "notices": 202}},
		{"ops", "basic", map[string]int{"alerts": 200, "vehicle": 200, "vehicles": 200, "cells": 200, "notices": 202}},
	} {
		for name, c := range calls {
			t.Run(fmt.Sprintf("%s/%s/%s", tc.user, tc.style, name), func(t *testing.T) {
				var code int
				var body []byte
				await.Until(t, testTimeout, "not 503", func() bool { // the twin may not be written yet
					code, body = f.get(t, c.method, c.path, tc.user, tc.style, c.body)
					return code != 503 && !(code == 404 && name == "vehicle")
				})
				if code != tc.want[name] {
					t.Fatalf("%s %s as %s: %d %s, want %d", c.method, c.path, tc.user, code, body, tc.want[name])
				}
				if code >= 400 {
					var e apiError
					if json.Unmarshal(body, &e) != nil || e.Error == "" {
						t.Errorf("error body %q is not {\"error\": ...}", body)
					}
				}
			})
		}
	}
}

// TestBadRequests: every bad parameter is a 400 whose message names it.
func TestBadRequests(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		method, path, body, want string
		code                     int
	}{
		{"GET", "/v1/alerts?kind=flood", "", `kind "flood"`, 400},
		{"GET", "/v1/alerts?cell=XYZ", "", "cell", 400},
		{"GET", "/v1/alerts?bbox=1,2,3", "", "3 fields, want 4", 400},
		{"GET", "/v1/alerts?bbox=1,95,2,96", "", "minLat", 400},
		{"GET", "/v1/alerts?kind=fog&kind=warning", "", "kind: given 2 times", 400},
		{"GET", "/v1/alerts/stream?kind=x", "", `kind "x"`, 400},
		{"GET", "/v1/vehicles/bad.id", "", "vehicle id", 400},
		{"GET", "/v1/vehicles/nobody", "", "no twin", 404},
		{"GET", "/v1/vehicles", "", "bbox is required", 400},
		{"GET", "/v1/vehicles?bbox=" + bboxA + "&max_age=soon", "", "max_age", 400},
		{"POST", "/v1/notices", `{"bbox":"` + bboxA + `"}`, "text: empty", 400},
		{"POST", "/v1/notices", `{"text":"x"}`, "bbox: empty", 400},
		{"POST", "/v1/notices", `{"bbox":"0,0,40,40","text":"x"}`, "more than 1000 cells", 400},
		{"POST", "/v1/notices", `{"bbox":"` + bboxA + `","text":"x","color":"red"}`, "unknown field", 400},
		{"POST", "/v1/notices", `{"bbox":"` + bboxA + `","text":"x","expires_in":"forever"}`, "expires_in", 400},
		{"POST", "/v1/notices", `not json`, "body", 400},
		{"GET", "/v1/nothing", "", "no such endpoint", 404},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			code, body := f.get(t, tc.method, tc.path, "ops", "bearer", tc.body)
			var e apiError
			if code != tc.code || json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, tc.want) {
				t.Errorf("%d %s, want %d with %q", code, body, tc.code, tc.want)
			}
		})
	}
}

// raiseFog makes three cars raise fog in cell and returns their ids.
func (f *fixture) raiseFog(t *testing.T, cell string, cars ...string) {
	t.Helper()
	c := cellA
	if cell == cellFar.Token() {
		c = cellFar
	}
	for _, car := range cars {
		f.send(t, car, c, true)
	}
}

// TestAlertsList: /v1/alerts lists the active alerts, filtered by kind,
// cell and bbox, and drops cleared ones.
func TestAlertsList(t *testing.T) {
	f := newFixture(t)
	f.raiseFog(t, cellA.Token(), "a1", "a2", "a3")
	f.raiseFog(t, cellFar.Token(), "f1", "f2", "f3")
	f.send(t, "w1", cellA, false, "ABS")
	all := f.activeAlerts(t, Filter{}, 3)
	if all[0].Kind != alert.KindFog || all[2].Kind != alert.KindWarning || all[2].Vehicle != "" {
		t.Errorf("alerts %+v", all)
	}
	for _, tc := range []struct {
		f    Filter
		want int
	}{
		{Filter{Kind: "fog"}, 2},
		{Filter{Kind: "warning"}, 1},
		{Filter{Kind: "breakdown"}, 0},
		{Filter{Cell: cellA.Token()}, 2},
		{Filter{BBox: bboxA}, 2},
		{Filter{BBox: bboxA, Kind: "fog"}, 1},
		{Filter{Cell: cellFar.Token(), Kind: "fog"}, 1},
	} {
		if got := f.activeAlerts(t, tc.f, tc.want); len(got) != tc.want {
			t.Errorf("%+v: %d alerts, want %d", tc.f, len(got), tc.want)
		}
	}
	f.send(t, "w1", cellA, false) // the lamp goes off
	f.activeAlerts(t, Filter{Kind: "warning"}, 0)
}

// sseRead reads raw SSE events from a real HTTP connection until n alert
// events have come, returning the body seen.
func sseRead(t *testing.T, url, lastID string, n int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Authorization", "Bearer tms:pw-tms")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for got := 0; sc.Scan(); {
		b.WriteString(sc.Text() + "\n")
		if sc.Text() == "event: alert" {
			got++
		}
		if got == n && sc.Text() == "" {
			break
		}
	}
	return b.String()
}

// TestStream: the SSE stream delivers the active alerts and then changes
// to a real HTTP client, and a client that reconnects with Last-Event-ID
// gets exactly what it missed. A traffic client sees no vehicle id.
func TestStream(t *testing.T) {
	f := newFixture(t)
	f.raiseFog(t, cellA.Token(), "a1", "a2", "a3")
	f.activeAlerts(t, Filter{}, 1)
	raw := sseRead(t, f.srv.URL+"/v1/alerts/stream", "", 1)
	if !strings.Contains(raw, "event: alert\ndata: {\"schema\":\"kanal.alert.v1\"") || !strings.Contains(raw, "retry: 2000") {
		t.Fatalf("stream does not start with the active alert:\n%s", raw)
	}

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c := f.client("tms")
	events := make(chan Event, 100)
	sctx, stop := context.WithCancel(ctx)
	var last uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		last, _ = c.Stream(sctx, Filter{}, 0, false, func(e Event) error { events <- e; return nil })
	}()
	next := func(what string) Event {
		select {
		case e := <-events:
			return e
		case <-ctx.Done():
			t.Fatalf("%s: no event", what)
			return Event{}
		}
	}
	if e := next("active fog"); e.Type != EventAlert || e.Alert.Kind != alert.KindFog {
		t.Fatalf("first event %+v", e)
	}
	if e := next("ready"); e.Type != EventReady {
		t.Fatalf("second event %+v, want ready", e)
	}
	f.send(t, "w1", cellA, false, "ABS")
	if e := next("live warning"); e.Alert.Kind != alert.KindWarning || e.Alert.State != alert.StateRaised {
		t.Fatalf("live event %+v", e)
	}
	stop()
	<-done
	// Missed while away: the warning cleared, another raised.
	f.send(t, "w1", cellA, false)
	f.send(t, "w2", cellA, false, "Airbag")
	f.activeAlerts(t, Filter{Kind: "warning"}, 1)
	var got []Event
	rctx, rstop := context.WithCancel(ctx)
	go func() {
		c.Stream(rctx, Filter{}, last, true, func(e Event) error { events <- e; return nil })
	}()
	for len(got) < 3 {
		got = append(got, next("resumed"))
	}
	rstop()
	if got[0].Type != EventReady || got[1].Alert.State != alert.StateCleared || got[2].Alert.Lamp != "Airbag" {
		t.Fatalf("resumed events %+v, want ready, the cleared ABS and the Airbag warning", got)
	}
	if got[1].ID <= last {
		t.Errorf("resumed at %d after %d", got[1].ID, last)
	}
	select {
	case e := <-events:
		t.Errorf("an extra event after resuming: %+v", e)
	case <-time.After(200 * time.Millisecond):
	}
	// A traffic client's whole view, raw: no vehicle id.
	code, list := f.get(t, "GET", "/v1/alerts", "tms", "bearer", "")
	raw = sseRead(t, f.srv.URL+"/v1/alerts/stream", "0", 4)
	for _, v := range []string{"a1", "a2", "a3", "w1", "w2", "boot1"} {
		if bytes.Contains(list, []byte(`"`+v+`"`)) || strings.Contains(raw, `"`+v+`"`) || strings.Contains(raw, ":"+v+":") {
			t.Errorf("a traffic client sees %s (%d):\n%s\n%s", v, code, list, raw)
		}
	}
}

// TestVehicles: a twin by id, and the vehicles in an area now.
func TestVehicles(t *testing.T) {
	f := newFixture(t)
	f.send(t, "car-in", cellA, true, "ABS")
	f.send(t, "car-far", cellFar, false)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	var body []byte
	await.Until(t, testTimeout, "twin", func() bool {
		var code int
		code, body = f.get(t, "GET", "/v1/vehicles/car-in", "ops", "bearer", "")
		return code == 200
	})
	var tw twin.Twin
	if err := json.Unmarshal(body, &tw); err != nil || tw.Cell.Value != cellA.Token() || !tw.FogOn() || !tw.Lamps["ABS"].Value {
		t.Fatalf("twin %s: %v", body, err)
	}
	var list VehicleList
	await.Until(t, testTimeout, "vehicles in the area", func() bool {
		code, body := f.get(t, "GET", "/v1/vehicles?bbox="+bboxA, "ops", "bearer", "")
		return code == 200 && json.Unmarshal(body, &list) == nil && len(list.Vehicles) == 1
	})
	if v := list.Vehicles[0]; v.Vehicle != "car-in" || v.Cell != cellA.Token() {
		t.Errorf("vehicles %+v", list)
	}
	var cells CellList
	_, body = f.get(t, "GET", "/v1/cells?bbox="+bboxA, "ops", "bearer", "")
	if json.Unmarshal(body, &cells) != nil || len(cells.Cells) != 1 || cells.Cells[0].Cell != cellA.Token() || cells.Cells[0].Vehicles != 1 ||
		strings.Contains(string(body), "car-in") {
		t.Errorf("cells %s: want one cell with one vehicle, unnamed", body)
	}
	time.Sleep(20 * time.Millisecond)
	_, body = f.get(t, "GET", "/v1/vehicles?bbox="+bboxA+"&max_age=10ms", "ops", "bearer", "")
	if json.Unmarshal(body, &list) != nil || len(list.Vehicles) != 0 {
		t.Errorf("max_age=10ms: %s", body)
	}
	_, body = f.get(t, "GET", "/v1/cells?bbox="+bboxA+"&max_age=10ms", "ops", "bearer", "")
	if json.Unmarshal(body, &cells) != nil || len(cells.Cells) != 0 {
		t.Errorf("cells with max_age=10ms: %s", body)
	}
	_ = ctx
}

// TestNoticePost: POST /v1/notices stores one notice per cell of the area
// in KANAL_NOTICES, each the same wire.Notice.
func TestNoticePost(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	box := "11.55,48.12,11.60,48.15"
	resp, err := f.client("ops").SendNotice(ctx, NoticeRequest{BBox: box, Text: "Road closed", ExpiresIn: "30m"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := parseBBoxForTest(box)
	cells, _ := grid.Cover(b, 1000)
	if resp.Cells != len(cells) || resp.ID == "" {
		t.Fatalf("response %+v, want %d cells", resp, len(cells))
	}
	s, err := f.js.Stream(ctx, wire.NoticesStream)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := s.Info(ctx)
	if int(info.State.Msgs) != len(cells) {
		t.Fatalf("%d notices stored, want %d", info.State.Msgs, len(cells))
	}
	m, err := s.GetLastMsgForSubject(ctx, wire.NoticeSubject(cells[0].Token()))
	if err != nil {
		t.Fatal(err)
	}
	n, err := wire.ParseNotice(m.Data)
	if err != nil || n.ID != resp.ID || n.Text != "Road closed" || n.Kind != "operator" || n.Expires.Sub(n.Issued) != 30*time.Minute {
		t.Errorf("notice %+v, %v", n, err)
	}
	_, err = f.client("tms").SendNotice(ctx, NoticeRequest{BBox: box, Text: "x"})
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 403 {
		t.Errorf("a traffic user sent a notice: %v", err)
	}
}
