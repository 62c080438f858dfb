package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/kanal-dev/kanal/can"
)

// StepMS is the model's time step in milliseconds: a Transmitter advances
// its Model by this much before the frames of the next 10 ms are made.
const StepMS = 10

// Model is a vehicle whose frames a Transmitter sends.
type Model interface {
	// Step advances the model by dt seconds (StepMS).
	Step(dt float64)
	// State is what the frames are made of. The Transmitter reads it after
	// each step; the pointer must stay the same.
	State() *State
}

// TransmitterOptions configures a Transmitter.
type TransmitterOptions struct {
	// Encoder is the demo vehicle's (kanal_demo.dbc). Required.
	Encoder *Encoder
	// Start is the timestamp of the drive's first millisecond.
	Start time.Time
	// Duration ends the frames; 0 sends forever.
	Duration time.Duration
	// Bus is the interface name of the frames; "" means can0.
	Bus string
	// Phase shifts the vehicle's message schedule, in ms (the moment its
	// ECUs woke up): two vehicles with different phases do not send in
	// step. 0 for the demo drives.
	Phase int
	// Noise draws the signals' sensor noise and the timestamps' jitter.
	// Required. A model may share it (the demo drives do) or keep its own
	// (the fleet does, so that where a vehicle drives does not depend on
	// the frames).
	Noise *rand.Rand
}

// cycles are the demo vehicle's message cycle times in ms (GenMsgCycleTime
// of the DBC).
var cycles = map[string]int{
	"VDC_Speed": 50, "VDC_WheelSpeeds": 100, "ECM_Engine": 100, "VCU_Drive": 100,
	"EPS_Steering": 100, "BCM_Lights": 200, "BCM_Wipers": 500, "IC_Warnings": 500,
	"IC_Odometer": 1000, "ECM_Fluids": 1000, "BMS_LowVoltage": 1000, "DIAG_Status": 333,
	"GNSS_Position": 200, "GNSS_Motion": 200, "VCU_TripFD": 500,
}

// schedule is one message's cycle: its period, when it is next due and how
// often it was sent (for counters and multiplexer pages).
type schedule struct {
	period int // ms
	next   int // ms
	count  int
	vals   values
}

// pending is a frame made for the current millisecond, not yet returned.
type pending struct {
	at  time.Time
	msg int
	f   can.Frame
}

// Transmitter sends the demo vehicle's frames: every message at its cycle
// time, encoded from the Model's State, in time order, with the timestamps'
// sub-millisecond jitter of a real bus. Its output depends only on the model
// and the Noise source, so a seed gives the same frames every time. It does
// not allocate per frame. Not safe for concurrent use.
type Transmitter struct {
	opts  TransmitterOptions
	model Model
	st    *State
	msgs  []schedule
	end   int       // ms; 0: none
	step  int       // the next step boundary, ms
	due   []pending // one per message at most
	n, i  int       // due[i:n] are still to be returned
	err   error
}

// NewTransmitter returns a Transmitter of model's frames. Every message of
// the encoder's DBC must be one of the demo vehicle's.
func NewTransmitter(model Model, opts TransmitterOptions) (*Transmitter, error) {
	if opts.Encoder == nil || opts.Noise == nil {
		return nil, errors.New("sim: transmitter: Encoder and Noise are required")
	}
	if opts.Bus == "" {
		opts.Bus = "can0"
	}
	if opts.Phase < 0 {
		return nil, fmt.Errorf("sim: transmitter: phase %d is negative", opts.Phase)
	}
	if opts.Duration < 0 {
		return nil, fmt.Errorf("sim: transmitter: duration %v is negative", opts.Duration)
	}
	tx := &Transmitter{opts: opts, model: model, st: model.State(), end: int(opts.Duration / time.Millisecond)}
	for i := range opts.Encoder.msgs {
		em := &opts.Encoder.msgs[i]
		p, ok := cycles[em.m.Name]
		if !ok {
			return nil, fmt.Errorf("sim: message %s is not part of the demo vehicle", em.m.Name)
		}
		// the first sends are staggered so that not every message lands on the same ms
		tx.msgs = append(tx.msgs, schedule{period: p, next: 3 + (7*i+opts.Phase)%p, vals: newValues(em)})
	}
	tx.due = make([]pending, len(tx.msgs))
	return tx, nil
}

// Next returns the next frame and the index of its message in the DBC, or
// false at the end of the Duration or after an encoding error (Err).
func (tx *Transmitter) Next() (can.Timed, int, bool) {
	for tx.i == tx.n {
		if tx.err != nil || !tx.fill() {
			return can.Timed{}, -1, false
		}
	}
	p := &tx.due[tx.i]
	tx.i++
	return can.Timed{Time: p.at, Bus: tx.opts.Bus, Frame: p.f}, p.msg, true
}

// Err returns the encoding error that ended the frames, if any.
func (tx *Transmitter) Err() error { return tx.err }

// State returns the model's state.
func (tx *Transmitter) State() *State { return tx.st }

// Value returns the physical value last encoded for signal sig (the index in
// the DBC message's signals) of message msg: what a decoder reads from the
// last frame Next returned of that message.
func (tx *Transmitter) Value(msg, sig int) float64 { return tx.msgs[msg].vals.get(sig) }

// fill makes the frames of the next millisecond at which a message is due,
// stepping the model up to it. It returns false at the end.
func (tx *Transmitter) fill() bool {
	ms := tx.msgs[0].next
	for i := range tx.msgs {
		ms = min(ms, tx.msgs[i].next)
	}
	if tx.end > 0 && ms >= tx.end {
		return false
	}
	for tx.step <= ms {
		tx.model.Step(StepMS / 1000.0)
		tx.step += StepMS
	}
	tx.i, tx.n = 0, 0
	for i := range tx.msgs {
		m := &tx.msgs[i]
		if m.next > ms {
			continue
		}
		m.next += m.period
		if tx.st.Off {
			continue // the ignition is off: the schedule runs on, nothing is sent
		}
		m.count++
		f, err := tx.encode(i)
		if err != nil {
			tx.err = err
			return false
		}
		jitter := time.Duration(Uniform(tx.opts.Noise, 0, 900)) * time.Microsecond
		p := pending{at: tx.opts.Start.Add(time.Duration(ms)*time.Millisecond + jitter), msg: i, f: f}
		// insertion sort, stable: frames of one ms in jitter order
		j := tx.n
		for j > 0 && p.at.Before(tx.due[j-1].at) {
			tx.due[j] = tx.due[j-1]
			j--
		}
		tx.due[j] = p
		tx.n++
	}
	return true
}

// encode builds the frame of message i from the state.
func (tx *Transmitter) encode(i int) (can.Frame, error) {
	m := &tx.msgs[i]
	m.vals.reset()
	tx.signals(m)
	f, err := m.vals.encode()
	if err != nil {
		return f, err
	}
	if m.vals.em.m.Name == "VCU_TripFD" {
		var sum byte
		for _, b := range f.Data[:f.Len-1] {
			sum ^= b
		}
		f.Data[f.Len-1] = sum
	}
	return f, nil
}

// Uniform returns a float in [lo, hi). It uses only Uint64, whose PCG output
// is fixed by its specification, so the drives stay byte-identical across Go
// versions (rand's Float64 and IntN are not promised to stay as they are).
func Uniform(r *rand.Rand, lo, hi float64) float64 {
	return lo + (hi-lo)*float64(r.Uint64()>>11)/(1<<53)
}
