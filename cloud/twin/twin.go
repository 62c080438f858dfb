package twin

import (
	"time"

	"github.com/kanal-dev/kanal/internal/wire"
)

// Twin is what the cloud knows of one vehicle. It is the JSON of a
// KANAL_TWINS entry and of GET /v1/vehicles/{id}; fields are only added,
// never renamed. Times are the vehicle's (from its reports), except where
// a field says otherwise.
type Twin struct {
	Vehicle string `json:"vehicle"`
	// Seen is the time of the vehicle's latest report of any signal.
	Seen time.Time `json:"seen,omitzero"`
	// Cell is the token of the grid cell the vehicle last reported. The
	// agent sends none inside a privacy zone; Cell then keeps the last one.
	Cell Reading[string] `json:"cell,omitzero"`
	// Online is the vehicle's presence (its status topic and last will).
	Online Reading[bool] `json:"online,omitzero"`
	// Boot is the boot id of the latest presence or batch.
	Boot     string        `json:"boot,omitempty"`
	FogFront Reading[bool] `json:"fog_front,omitzero"`
	FogRear  Reading[bool] `json:"fog_rear,omitzero"`
	Hazard   Reading[bool] `json:"hazard,omitzero"`
	// Wipers is the front wiper mode as the catalog names it (OFF, SLOW,
	// INTERVAL, ...).
	Wipers Reading[string] `json:"wipers,omitzero"`
	// Speed is the speed band (SpeedBand).
	Speed Reading[string] `json:"speed,omitzero"`
	// Lamps are the warning lamps by short name (ABS, Airbag, ...; see
	// LampName), for the lamps the vehicle has reported.
	Lamps map[string]Reading[bool] `json:"lamps,omitempty"`
	// Updated is when the cloud last changed this twin, by its own clock.
	Updated time.Time `json:"updated,omitzero"`
}

// FogOn reports whether the latest reports say front or rear fog lights on.
func (t *Twin) FogOn() bool { return t.FogFront.Value || t.FogRear.Value }

// WipersOn reports whether the front wipers run in any mode but OFF.
func (t *Twin) WipersOn() bool {
	return t.Wipers.Known() && t.Wipers.Value != "OFF" && t.Wipers.Value != ""
}

// Stopped reports whether the latest speed report is in BandStopped.
func (t *Twin) Stopped() bool { return t.Speed.Known() && t.Speed.Value == BandStopped }

// SetPresence applies a presence message and reports whether the online
// state changed. A message older than the latest one applied is ignored
// (the broker's retained copy may come after a newer will).
func (t *Twin) SetPresence(p wire.Presence) bool {
	at := p.At.UTC()
	if at.IsZero() {
		return false
	}
	if t.Online.Known() && !at.After(t.Online.At) {
		return false
	}
	if p.Boot != "" {
		t.Boot = p.Boot
	}
	return t.Online.Set(p.Online, at)
}

// seen advances Seen to at.
func (t *Twin) seen(at time.Time) {
	if at.After(t.Seen) {
		t.Seen = at
	}
}
