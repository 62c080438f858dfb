package sim

import (
	"fmt"
	"time"

	"github.com/kanal-dev/kanal/can"
	"github.com/kanal-dev/kanal/dbc"
)

// Scenario describes one synthetic drive of the demo vehicle. Times are
// seconds from the start of the drive.
type Scenario struct {
	Name     string
	Seed     uint64
	Start    time.Time // timestamp of the first frame
	Duration float64   // seconds
	Bus      string    // interface name in the log; "" means can0

	StartLat, StartLon, StartHeading float64 // degrees
	Altitude                         float64 // m
	SpeedKmh                         [2]float64
	CruiseS                          [2]float64 // how long a cruise lasts
	StopS                            [2]float64 // how long a stop lasts
	TurnChance                       float64    // probability of turning after a stop

	// FogFrom–FogTo is the fog episode: the driver turns the front and rear
	// fog lights and low beam on, wipes, and slows down. Empty when equal.
	FogFrom, FogTo float64
	// Lamps switch warning lamps (DBC signal names of IC_Warnings) on.
	Lamps []LampEvent
	// HazardFrom–HazardTo switches the hazard lights on.
	HazardFrom, HazardTo float64

	FuelPercent float64
	OdometerKm  float64
	AmbientC    float64
	HumidityPct float64
	LightPct    float64
	EngineHours float64
}

// LampEvent switches a warning lamp on at a time, for the rest of the drive.
// WarnABS and WarnESC also set the system's error bit (ABSError, ESCError).
type LampEvent struct {
	Signal string  // e.g. "WarnABS"
	At     float64 // seconds
}

// Stats says what a Drive wrote.
type Stats struct {
	Frames  int
	Seconds float64
	// Events lists what happened when, with the position, for READMEs.
	Events []string
}

// Drive writes the scenario's frames to w, in time order. db must be the
// demo vehicle's DBC (kanal_demo.dbc).
func Drive(db *dbc.Database, sc Scenario, w *can.LogWriter) (Stats, error) {
	enc, err := NewEncoder(db)
	if err != nil {
		return Stats{}, err
	}
	var lamps []lampAt
	for _, l := range sc.Lamps {
		lamp, ok := LampBySignal(l.Signal)
		if !ok {
			return Stats{}, fmt.Errorf("sim: scenario %s: no warning lamp %s in IC_Warnings", sc.Name, l.Signal)
		}
		lamps = append(lamps, lampAt{lamp, l.At})
	}
	v := newVehicle(&sc, lamps)
	tx, err := NewTransmitter(scenarioModel{v}, TransmitterOptions{Encoder: enc, Start: sc.Start, Bus: sc.Bus, Noise: v.rng,
		Duration: time.Duration(sc.Duration * float64(time.Second))})
	if err != nil {
		return Stats{}, err
	}
	st := Stats{}
	for {
		t, _, ok := tx.Next()
		if !ok {
			break
		}
		if err := w.Write(t); err != nil {
			return st, err
		}
		st.Frames++
	}
	if err := tx.Err(); err != nil {
		return st, err
	}
	st.Seconds = sc.Duration
	st.Events = v.ev.lines
	return st, nil
}
