package alert

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/kanal-dev/kanal/geo"
	"github.com/kanal-dev/kanal/internal/wire"
)

// Schema names the version of Alert's JSON. A change that is not an added
// field gets a new name (kanal.alert.v2) and new readers.
const Schema = "kanal.alert.v1"

// Alert kinds.
const (
	KindFog       = "fog"
	KindWarning   = "warning"
	KindBreakdown = "breakdown"
)

// Alert states: an episode is raised once and cleared once.
const (
	StateRaised  = "raised"
	StateCleared = "cleared"
)

// Alert is one change of an alert episode, as published to KANAL_ALERTS,
// to MQTT kanal/v1/alerts/{kind}/{cell} and by the HTTP API, JSON schema
// kanal.alert.v1:
//
//	{"schema":"kanal.alert.v1","id":"fog:479ddf5c:1762929960000000000","kind":"fog",
//	 "state":"raised","cell":"479ddf5c","centre":{"lat":48.13,"lon":11.57},
//	 "corners":[{"lat":..,"lon":..},...],"count":3,
//	 "first":"2025-11-12T06:46:00Z","last":"2025-11-12T06:46:02.5Z",
//	 "corroboration":{"wipers":0.67,"low_speed":1},"published":"2025-11-12T06:46:02.51Z"}
//
// The traffic view (kanal.alerts.{kind}.{cell}, MQTT, HTTP) carries no
// vehicle identity: not in the payload (Vehicle is empty), the subject or
// the headers. The fleet view (kanal.fleet.alerts.{kind}.{vehicle}, for
// operators) is the same alert with Vehicle set.
type Alert struct {
	Schema string `json:"schema"`
	// ID names the episode, the same in its raised and cleared alerts:
	// kind:cell:start for fog (start in Unix ns, the report that raised
	// it), kind:cell:lamp:start for warnings, kind:cell:start for
	// breakdowns (start: when the vehicle stopped with hazard lights on).
	ID    string `json:"id"`
	Kind  string `json:"kind"`
	State string `json:"state"`
	// Cell is the grid cell's token; Centre and Corners draw it (the
	// corners counter-clockwise, as geo.Cell.Corners gives them).
	Cell    string        `json:"cell"`
	Centre  geo.LatLng    `json:"centre"`
	Corners [4]geo.LatLng `json:"corners"`
	// Count is the number of distinct vehicles the alert rests on: those
	// counted in the cell for fog (at raising; the last count at clearing),
	// 1 for warnings and breakdowns.
	Count int `json:"count"`
	// First and Last are the earliest and latest report the alert rests
	// on, in the vehicles' time: for fog, the earliest fog-lights-on report
	// of the counted vehicles and the latest report of any of them.
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	// Corroboration is set for fog: which share of the counted vehicles
	// also had wipers on, and which drove below 50 km/h.
	Corroboration *Corroboration `json:"corroboration,omitempty"`
	// Lamp is the warning lamp's short name (ABS, Airbag, ...) for warnings.
	Lamp string `json:"lamp,omitempty"`
	// Published is when the processor published the alert, by its clock.
	Published time.Time `json:"published"`
	// Vehicle is set in the fleet view only.
	Vehicle string `json:"vehicle,omitempty"`
}

// Corroboration is what else the counted vehicles of a fog alert report,
// as shares from 0 to 1.
type Corroboration struct {
	Wipers   float64 `json:"wipers"`
	LowSpeed float64 `json:"low_speed"`
}

// MsgID is the alert's Nats-Msg-Id in KANAL_ALERTS: the episode id and the
// state, so a replica or a restarted processor publishing the same change
// again is deduplicated by JetStream.
func (a *Alert) MsgID() string { return a.ID + ":" + a.State }

// FleetMsgID is the Nats-Msg-Id of the fleet view of the alert. It differs
// from MsgID (both views are in one stream, and JetStream deduplicates
// across it) and is only ever sent on the fleet subject.
func (a *Alert) FleetMsgID() string { return "fleet:" + a.MsgID() }

// Subject is the alert's traffic subject, kanal.alerts.{kind}.{cell}.
func (a *Alert) Subject() string { return wire.AlertSubject(a.Kind, a.Cell) }

// Topic is the alert's MQTT topic, kanal/v1/alerts/{kind}/{cell}.
func (a *Alert) Topic() string { return wire.AlertTopic(a.Kind, a.Cell) }

// Anonymous returns a copy of a without vehicle identity: the traffic view.
func (a Alert) Anonymous() Alert {
	a.Vehicle = ""
	return a
}

// Parse reads an alert of schema kanal.alert.v1, refusing anything else.
func Parse(data []byte) (Alert, error) {
	var a Alert
	if err := json.Unmarshal(data, &a); err != nil {
		return a, fmt.Errorf("alert: %w", err)
	}
	if a.Schema != Schema {
		return a, fmt.Errorf("alert: schema %q, want %q", a.Schema, Schema)
	}
	if a.ID == "" || a.Kind == "" || (a.State != StateRaised && a.State != StateCleared) {
		return a, fmt.Errorf("alert: id %q, kind %q, state %q: incomplete", a.ID, a.Kind, a.State)
	}
	return a, nil
}

// newAlert returns an alert of kind for the cell with the given token, its
// geometry filled in; "" (no cell known) gives an alert without a cell,
// which only the fleet view carries.
func newAlert(kind, id, token string) Alert {
	a := Alert{Schema: Schema, ID: id, Kind: kind}
	if c, err := geo.ParseToken(token); err == nil {
		a.Cell, a.Centre, a.Corners = token, c.Center(), c.Corners()
	}
	return a
}

// episodeID joins the parts of an episode id with ':', the last being a
// time in Unix nanoseconds.
func episodeID(start time.Time, parts ...string) string {
	s := ""
	for _, p := range parts {
		s += p + ":"
	}
	return s + strconv.FormatInt(start.UnixNano(), 10)
}
