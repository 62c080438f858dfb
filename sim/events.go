package sim

import "fmt"

// eventLog notes the moments a README or a test wants to know about:
// fog, hazard lights and warning lamps switching, with where it happened.
type eventLog struct {
	sc    *Scenario
	fog   bool
	haz   bool
	lamps map[string]bool
	lines []string
}

func newEventLog(sc *Scenario) *eventLog {
	return &eventLog{sc: sc, lamps: map[string]bool{}}
}

func (e *eventLog) check(v *vehicle) {
	if fog := v.inFog(); fog != e.fog {
		e.fog = fog
		e.note(v, map[bool]string{true: "fog: front and rear fog lights on, wipers interval", false: "fog: lights off"}[fog])
	}
	if haz := v.Hazard; haz != e.haz {
		e.haz = haz
		e.note(v, map[bool]string{true: "hazard lights on", false: "hazard lights off"}[haz])
	}
	for _, l := range e.sc.Lamps {
		if v.T >= l.At && !e.lamps[l.Signal] {
			e.lamps[l.Signal] = true
			e.note(v, l.Signal+" lamp on")
		}
	}
}

func (e *eventLog) note(v *vehicle, what string) {
	e.lines = append(e.lines, fmt.Sprintf("t+%.0fs %s at %.4fN %.4fE, %.0f km/h", v.T, what, v.Lat, v.Lon, v.Speed*3.6))
}
