package sim

import (
	"fmt"
	"math"
	"sort"
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

// message is a DBC message with its cycle and the next time it is due.
type message struct {
	m      *dbc.Message
	period int // ms
	next   int // ms
	count  int
}

// cycle times of the demo vehicle in ms (GenMsgCycleTime of the DBC); the
// first send is staggered so that not every message lands on the same ms.
var cycles = map[string]int{
	"VDC_Speed": 50, "VDC_WheelSpeeds": 100, "ECM_Engine": 100, "VCU_Drive": 100,
	"EPS_Steering": 100, "BCM_Lights": 200, "BCM_Wipers": 500, "IC_Warnings": 500,
	"IC_Odometer": 1000, "ECM_Fluids": 1000, "BMS_LowVoltage": 1000, "DIAG_Status": 333,
	"GNSS_Position": 200, "GNSS_Motion": 200, "VCU_TripFD": 500,
}

// Drive writes the scenario's frames to w, in time order. db must be the
// demo vehicle's DBC (kanal_demo.dbc).
func Drive(db *dbc.Database, sc Scenario, w *can.LogWriter) (Stats, error) {
	if sc.Bus == "" {
		sc.Bus = "can0"
	}
	var msgs []*message
	for i, m := range db.Messages {
		p, ok := cycles[m.Name]
		if !ok {
			return Stats{}, fmt.Errorf("sim: message %s is not part of the demo vehicle", m.Name)
		}
		msgs = append(msgs, &message{m: m, period: p, next: 3 + 7*i%p})
	}
	v := newVehicle(&sc)
	st := Stats{}
	ev := newEventLog(&sc, v)
	const stepMS = 10
	end := int(sc.Duration * 1000)
	type pending struct {
		at    time.Time
		frame can.Frame
	}
	var due []pending
	for ms := 0; ms < end; ms++ {
		if ms%stepMS == 0 {
			v.step(stepMS / 1000.0)
			ev.check(v)
		}
		due = due[:0]
		for _, m := range msgs {
			if ms < m.next {
				continue
			}
			m.next += m.period
			m.count++
			f, err := encode(m, v)
			if err != nil {
				return st, err
			}
			jitter := time.Duration(v.uniform(0, 900)) * time.Microsecond
			due = append(due, pending{sc.Start.Add(time.Duration(ms)*time.Millisecond + jitter), f})
		}
		sort.SliceStable(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
		for _, p := range due {
			if err := w.Write(can.Timed{Time: p.at, Bus: sc.Bus, Frame: p.frame}); err != nil {
				return st, err
			}
			st.Frames++
		}
	}
	st.Seconds = sc.Duration
	st.Events = ev.lines
	return st, nil
}

// encode builds the frame of one message from the vehicle state.
func encode(m *message, v *vehicle) (can.Frame, error) {
	vals := signals(m, v)
	data, err := m.m.Encode(vals)
	if err != nil {
		return can.Frame{}, fmt.Errorf("sim: %w", err)
	}
	if m.m.Name == "VCU_TripFD" {
		var sum byte
		for _, b := range data[:len(data)-1] {
			sum ^= b
		}
		data[len(data)-1] = sum
	}
	f := can.Frame{ID: m.m.ID, Len: uint8(len(data))}
	if m.m.Extended {
		f.Flags |= can.Extended
	}
	if m.m.FD {
		f.Flags |= can.FD | can.BRS
	}
	copy(f.Data[:], data)
	return f, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// round rounds to a resolution, so encoded values do not depend on the
// last bits of the model's arithmetic.
func round(x, res float64) float64 { return math.Round(x/res) * res }
