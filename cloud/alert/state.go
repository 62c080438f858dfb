package alert

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/kanal-dev/kanal/cloud/twin"
	"github.com/kanal-dev/kanal/geo"
)

// Keys of StateBucket.
const (
	cellKeyPrefix    = "cell."
	vehicleKeyPrefix = "vehicle."
)

// outMsg is a message the engine decided to publish: an alert (either
// view) or a notice. Decisions are written to StateBucket, in the record
// that made them, before they are published (see the package comment).
type outMsg struct {
	// Seq orders the decisions of all records: they are published in it,
	// and recovery relies on that order (outbox.go).
	Seq     int64  `json:"seq"`
	Subject string `json:"subject"`
	MsgID   string `json:"msg_id"`
	Data    []byte `json:"data"`
	// Trigger is the report time (Unix ns) of the value that raised the
	// alert, for the latency metric; 0 for time-driven changes.
	Trigger int64 `json:"trigger,omitempty"`
}

// episode is a raised warning or breakdown, to be cleared with the same id
// and cell.
type episode struct {
	ID    string    `json:"id"`
	Cell  string    `json:"cell,omitempty"`
	Lamp  string    `json:"lamp,omitempty"`
	Start time.Time `json:"start"`
}

// fogRecord is the fog rule's state of one cell, under cell.{token}.
type fogRecord struct {
	Raised bool      `json:"raised,omitempty"`
	ID     string    `json:"id,omitempty"`
	Start  time.Time `json:"start,omitzero"`
	First  time.Time `json:"first,omitzero"`
	Last   time.Time `json:"last,omitzero"`
	Count  int       `json:"count,omitempty"`
	// BelowSince is when the count fell below min_vehicles while raised,
	// by the processor's clock; zero while it is not below.
	BelowSince time.Time `json:"below_since,omitzero"`
	// AsOf is the latest report the record's decisions rest on (see
	// asOf.go): a raise whose trigger is no later replays one decided.
	AsOf   time.Time `json:"as_of,omitzero"`
	Outbox []outMsg  `json:"outbox,omitempty"`
}

// empty reports a record with nothing but AsOf: a tombstone, kept until it
// expires (asOf.go).
func (r *fogRecord) empty() bool { return !r.Raised && len(r.Outbox) == 0 }

// vehicleRecord is the warning and breakdown rules' state of one vehicle,
// under vehicle.{id}.
type vehicleRecord struct {
	Warnings  map[string]episode `json:"warnings,omitempty"` // by lamp
	Breakdown *episode           `json:"breakdown,omitempty"`
	// AsOf is the vehicle's latest report when the record was written
	// (see asOf.go): a lamp change no later was decided already.
	AsOf   time.Time `json:"as_of,omitzero"`
	Outbox []outMsg  `json:"outbox,omitempty"`
}

// empty reports a record with nothing but AsOf: a tombstone.
func (r *vehicleRecord) empty() bool {
	return len(r.Warnings) == 0 && r.Breakdown == nil && len(r.Outbox) == 0
}

// vehicle is the engine's state of one vehicle.
type vehicle struct {
	id                  string
	twin                twin.Twin
	rec                 vehicleRecord
	fog                 string // the cell whose fog set holds the vehicle, "" for none
	twinDirty, recDirty bool
	recStored           bool // rec has a key in StateBucket
	// freshSince is when (processor clock) the twin got newer report
	// times that are not written yet, zero when there are none: reports
	// that repeat known values are written TwinRefresh later (fresh.go).
	freshSince time.Time
	inFresh    bool // v is in term.fresh
}

// fogSince returns when the vehicle's fog lights (front or rear, the
// earlier of those on) came on.
func (v *vehicle) fogSince() time.Time {
	var t time.Time
	for _, r := range []twin.Reading[bool]{v.twin.FogFront, v.twin.FogRear} {
		if r.Value && (t.IsZero() || r.Since.Before(t)) {
			t = r.Since
		}
	}
	return t
}

// cell is the engine's state of one grid cell: the fog rule's record and
// the vehicles with fog lights on whose latest cell it is.
type cell struct {
	token            string
	fog              map[string]*vehicle
	rec              fogRecord
	dirty, recStored bool
}

// idle reports whether the cell holds nothing worth keeping in memory.
func (c *cell) idle() bool {
	return len(c.fog) == 0 && c.rec.empty() && !c.dirty && !c.recStored
}

// decodeRecord reads a StateBucket entry into the state: it returns the
// cell token or vehicle id and which of the two it is.
func decodeRecord(key string, data []byte) (id string, fog *fogRecord, veh *vehicleRecord, ok bool) {
	switch {
	case strings.HasPrefix(key, cellKeyPrefix):
		id = key[len(cellKeyPrefix):]
		if _, err := geo.ParseToken(id); err != nil {
			return "", nil, nil, false
		}
		var r fogRecord
		if json.Unmarshal(data, &r) != nil {
			return "", nil, nil, false
		}
		return id, &r, nil, true
	case strings.HasPrefix(key, vehicleKeyPrefix):
		id = key[len(vehicleKeyPrefix):]
		var r vehicleRecord
		if id == "" || json.Unmarshal(data, &r) != nil {
			return "", nil, nil, false
		}
		return id, nil, &r, true
	}
	return "", nil, nil, false
}
