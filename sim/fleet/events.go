package fleet

import (
	"math"
	"math/rand/v2"

	"github.com/kanal-dev/kanal/sim"
)

// lampEvent is a warning lamp coming on, seconds after the start.
type lampEvent struct {
	at   float64
	lamp sim.Lamp
}

// events are one vehicle's lamps and breakdowns, drawn before it starts
// from their rates (Poisson processes: exponential gaps), so they do not
// depend on where it drives.
type events struct {
	lamps  []lampEvent
	breaks []float64 // when a breakdown is due; it happens at the next moment of driving
}

func newEvents(rng *rand.Rand, o Options) events {
	var ev events
	end := o.Duration.Seconds()
	on := sim.Lamps(0)
	for _, at := range poisson(rng, o.WarningRate, end) {
		l := sim.AlertLamps[intn(rng, len(sim.AlertLamps))]
		if on.Has(l) {
			continue // already on: a lamp comes on once
		}
		on = on.With(l)
		ev.lamps = append(ev.lamps, lampEvent{at, l})
	}
	ev.breaks = poisson(rng, o.BreakdownRate, end)
	return ev
}

// poisson returns the times, in seconds before end, of events at a rate
// per hour.
func poisson(rng *rand.Rand, perHour, end float64) []float64 {
	if perHour <= 0 {
		return nil
	}
	var out []float64
	for t := 0.0; ; {
		t += -math.Log(1-unit(rng)) * 3600 / perHour
		if t >= end {
			return out
		}
		out = append(out, t)
	}
}

// unit returns a float in [0, 1), from the generator's Uint64 only (see
// sim.Uniform).
func unit(r *rand.Rand) float64 { return sim.Uniform(r, 0, 1) }

// intn returns an int in [0, n).
func intn(r *rand.Rand, n int) int { return min(int(sim.Uniform(r, 0, float64(n))), n-1) }
