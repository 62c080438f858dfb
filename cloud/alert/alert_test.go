package alert

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestAlertJSON(t *testing.T) {
	a := newAlert(KindFog, episodeID(base, KindFog, cellA.Token()), cellA.Token())
	a.State, a.Count, a.First, a.Last, a.Published = StateRaised, 3, base, base.Add(time.Second), base.Add(2*time.Second)
	a.Corroboration = &Corroboration{Wipers: 2.0 / 3, LowSpeed: 1}
	data, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"schema":"kanal.alert.v1"`, `"id":"fog:` + cellA.Token() + `:1762929900000000000"`,
		`"kind":"fog"`, `"state":"raised"`, `"cell":"` + cellA.Token() + `"`, `"centre":{"lat":`, `"corners":[{"lat":`,
		`"count":3`, `"first":"2025-11-12T06:45:00Z"`, `"corroboration":{"wipers":0.666`, `"low_speed":1}`, `"published":`} {
		if !strings.Contains(string(data), field) {
			t.Errorf("JSON lacks %s: %s", field, data)
		}
	}
	if strings.Contains(string(data), "vehicle") || strings.Contains(string(data), "lamp") {
		t.Errorf("a fog alert with empty fields shows them: %s", data)
	}
	back, err := Parse(data)
	if err != nil || back.ID != a.ID || back.Corners != a.Corners || !back.Last.Equal(a.Last) {
		t.Fatalf("Parse: %+v, %v", back, err)
	}
	if a.MsgID() != a.ID+":raised" || a.FleetMsgID() != "fleet:"+a.ID+":raised" || a.MsgID() == a.FleetMsgID() {
		t.Errorf("msg ids %q %q", a.MsgID(), a.FleetMsgID())
	}
	if a.Subject() != "kanal.alerts.fog."+cellA.Token() || a.Topic() != "kanal/v1/alerts/fog/"+cellA.Token() {
		t.Errorf("subject %q topic %q", a.Subject(), a.Topic())
	}
	a.Vehicle = "car-1"
	if a.Anonymous().Vehicle != "" || a.Vehicle != "car-1" {
		t.Error("Anonymous changed its receiver or kept the vehicle")
	}
	for _, bad := range []string{`{`, `{"schema":"kanal.alert.v2","id":"x","kind":"fog","state":"raised"}`,
		`{"schema":"kanal.alert.v1","kind":"fog","state":"raised"}`, `{"schema":"kanal.alert.v1","id":"x","kind":"fog","state":"maybe"}`} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%s) accepted", bad)
		}
	}
	if n := newAlert(KindWarning, "w", ""); n.Cell != "" || n.Centre.Lat != 0 || n.Corners[0].Lat != 0 {
		t.Errorf("an alert without a cell has geometry: %+v", n)
	}
}

func TestAlertSubject(t *testing.T) {
	for _, tc := range []struct {
		subject, kind, cell string
		ok                  bool
	}{
		{"kanal.alerts.fog.479e758c", "fog", "479e758c", true},
		{"kanal.alerts.fog", "", "", false},
		{"kanal.alerts..479e758c", "", "", false},
		{"kanal.alerts.fog.a.b", "", "", false},
		{"kanal.fleet.alerts.fog.car", "", "", false},
	} {
		kind, cell, ok := alertSubject(tc.subject)
		if ok != tc.ok || ok && (kind != tc.kind || cell != tc.cell) {
			t.Errorf("alertSubject(%q) = %q, %q, %v", tc.subject, kind, cell, ok)
		}
	}
	for _, tc := range []struct {
		m           outMsg
		kind, state string
		ok          bool
	}{
		{outMsg{Subject: "kanal.alerts.fog.479e758c", MsgID: "fog:479e758c:1:raised"}, "fog", "raised", true},
		{outMsg{Subject: "kanal.fleet.alerts.warning.car-1", MsgID: "fleet:warning:c:ABS:1:cleared"}, "warning", "cleared", true},
		{outMsg{Subject: "kanal.notices.479e758c", MsgID: "notice:x"}, "", "", false},
	} {
		kind, state, ok := alertOf(&tc.m)
		if kind != tc.kind || state != tc.state || ok != tc.ok {
			t.Errorf("alertOf(%v) = %q, %q, %v", tc.m, kind, state, ok)
		}
	}
}

// TestSortOutbox: messages of several records come out in decision order.
func TestSortOutbox(t *testing.T) {
	a := []outMsg{{Seq: 1, MsgID: "a1"}, {Seq: 4, MsgID: "a4"}}
	b := []outMsg{{Seq: 2, MsgID: "b2"}, {Seq: 3, MsgID: "b3"}, {Seq: 5, MsgID: "b5"}}
	var got []string
	for _, m := range sortOutbox([][]outMsg{b, a}) {
		got = append(got, m.MsgID)
	}
	if strings.Join(got, " ") != "a1 b2 b3 a4 b5" {
		t.Errorf("order %v", got)
	}
	tm := &term{}
	prev := int64(0)
	for range 1000 {
		n := tm.nextSeq()
		if n <= prev {
			t.Fatalf("nextSeq %d after %d", n, prev)
		}
		prev = n
	}
	loaded := time.Now().Add(time.Hour).UnixNano() // an outbox decided by a clock ahead of this one
	tm.seq = loaded
	if n := tm.nextSeq(); n != loaded+1 {
		t.Errorf("nextSeq %d after loading %d", n, loaded)
	}
}
