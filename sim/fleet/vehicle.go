package fleet

import (
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/kanal-dev/kanal/can"
	"github.com/kanal-dev/kanal/geo"
	"github.com/kanal-dev/kanal/sim"
)

// Vehicle generates one simulated vehicle's frames, in time order, as fast
// as they are asked for; Source paces them on a clock. It also notes, from
// the frames it made, what the cloud will learn from them (its reports:
// cell changes, fog lights, hazard lights, warning lamps), from which
// TruthOf computes the alerts. Not safe for concurrent use.
type Vehicle struct {
	ID    string
	Index int

	d      *driver
	tx     *sim.Transmitter
	rep    reporter
	start  time.Time
	frames atomic.Uint64
	last   atomic.Int64 // the last frame's time, Unix ns
	done   bool
}

// Next returns the vehicle's next frame, or io.EOF after the fleet's
// Duration.
func (v *Vehicle) Next() (can.Timed, error) {
	if v.done {
		return can.Timed{}, io.EOF
	}
	t, msg, ok := v.tx.Next()
	if !ok {
		v.done = true
		if err := v.tx.Err(); err != nil {
			return t, fmt.Errorf("vehicle %s: %w", v.ID, err)
		}
		return t, io.EOF
	}
	v.frames.Add(1)
	v.last.Store(t.Time.UnixNano())
	v.rep.frame(v.tx, t.Time.UnixNano(), msg)
	return t, nil
}

// Frames returns how many frames Next has returned. It may be called while
// another goroutine calls Next.
func (v *Vehicle) Frames() uint64 { return v.frames.Load() }

// Time returns the time of the last frame Next returned (the fleet's
// start before the first). It may be called while another goroutine calls
// Next: at speed 0, where every vehicle runs at its own pace, it says how
// far each one has come.
func (v *Vehicle) Time() time.Time {
	if ns := v.last.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return v.start
}

// Done reports whether the vehicle's frames have ended.
func (v *Vehicle) Done() bool { return v.done }

// State returns the vehicle's model state: where it is and what it does,
// precisely, as inside a vehicle. Not while another goroutine calls Next.
func (v *Vehicle) State() *sim.State { return &v.d.st }

// reportKind is what a report says.
type reportKind uint8

const (
	repCell    reportKind = iota // val: the new cell
	repFog                       // val: 1 fog lights on (front or rear), 0 off
	repHazard                    // val: 1 on, 0 off
	repStopped                   // val: 1 below 2 km/h; only while the hazard lights are on
	repLamp                      // val: the lamp, on
	repSilent                    // the vehicle falls silent after this frame (ignition off)
	repAwake                     // the first frame after silence
)

// report is one change the cloud learns of, at a frame's time.
type report struct {
	t    int64 // Unix ns
	kind reportKind
	val  uint64
}

// silentGap is the longest pause between two frames of a running vehicle
// (its slowest message is 1 s); a longer one is the ignition off.
const silentGap = 1500 * time.Millisecond

// stoppedKmh is the speed below which the cloud's twins call a vehicle
// stopped (cloud/twin BandStopped).
const stoppedKmh = 2.0

// reporter follows a vehicle's frames and notes every change of what the
// cloud's rules read: the values exactly as encoded, so as a decoder reads
// them, and the cell as the agent computes it from them.
type reporter struct {
	sig     *signalRefs
	grid    geo.Grid
	last    int64
	cell    geo.Cell
	fog     int8 // -1 unknown
	hazard  int8
	stopped int8
	lamps   sim.Lamps
	reports []report
}

func (r *reporter) add(t int64, k reportKind, val uint64) {
	r.reports = append(r.reports, report{t, k, val})
}

func b2i(b bool) int8 {
	if b {
		return 1
	}
	return 0
}

// frame notes what a frame of message msg at time t changes.
func (r *reporter) frame(tx *sim.Transmitter, t int64, msg int) {
	if r.last != 0 && t-r.last > int64(silentGap) {
		r.add(r.last, repSilent, 0)
		r.add(t, repAwake, 0)
	}
	r.last = t
	s := r.sig
	switch msg {
	case s.position:
		c, err := r.grid.Cell(tx.Value(msg, s.lat), tx.Value(msg, s.lon))
		if err == nil && c != r.cell {
			r.cell = c
			r.add(t, repCell, uint64(c))
		}
	case s.lights:
		if fog := b2i(tx.Value(msg, s.fogFront) == 1 || tx.Value(msg, s.fogRear) == 1); fog != r.fog {
			r.fog = fog
			r.add(t, repFog, uint64(fog))
		}
		if hz := b2i(tx.Value(msg, s.hazard) == 1); hz != r.hazard {
			r.hazard = hz
			r.add(t, repHazard, uint64(hz))
			if hz == 1 && r.stopped >= 0 {
				r.add(t, repStopped, uint64(r.stopped))
			}
		}
	case s.speedMsg:
		st := b2i(tx.Value(msg, s.speed) < stoppedKmh)
		if st != r.stopped {
			r.stopped = st
			if r.hazard == 1 {
				r.add(t, repStopped, uint64(st))
			}
		}
	case s.warnings:
		for i, l := range lampList {
			if tx.Value(msg, s.lamps[i]) == 1 && !r.lamps.Has(l) {
				r.lamps = r.lamps.With(l)
				r.add(t, repLamp, uint64(l))
			}
		}
	}
}
