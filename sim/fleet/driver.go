package fleet

import (
	"math"
	"math/rand/v2"

	"github.com/kanal-dev/kanal/sim"
	"github.com/kanal-dev/kanal/sim/city"
)

// mode is what a simulated vehicle is doing.
type mode uint8

const (
	starting mode = iota // engine on, in P, about to leave
	driving
	broken   // broken down: braking to a stop, then standing with hazard lights
	arriving // at the destination, in P, lights going off
	parked   // ignition off: silent
)

// Driving constants.
const (
	maxBrake     = 6.0  // m/s², the hardest a driver brakes for a light turning red
	amberBrake   = 4.0  // m/s²: a driver stops for amber when it takes no more than this
	turnRate     = 25.0 // °/s the heading follows the road round a corner
	fogSpeed     = 0.6  // of the limit, in fog
	stopWait     = 1.5  // s at a stop sign
	arriveFor    = 3.0  // s in P at the destination before the ignition goes off
	breakdownDec = 2.5  // m/s² of a breaking-down vehicle rolling to a stop
	indicateM    = 40.0 // m before a turn the indicator goes on
)

// driver is one vehicle's model on the city's roads: trips between places
// along the fastest routes, speeds by road class, stops at red lights and
// stop signs, slowing for turns and in fog, the fog lights after a
// reaction time, warning lamps and breakdowns at their times, parking with
// the ignition off between trips. It implements sim.Model. Its random
// source is its own: where it drives does not depend on its frames.
type driver struct {
	st  sim.State
	c   *city.City
	fog fog
	rng *rand.Rand
	ev  events

	// character
	speedFactor float64 // of the limit
	accel       float64 // m/s²
	brake       float64 // m/s², comfortable
	fogUser     bool
	fogReact    float64 // s in fog before the fog lights go on
	fogRelease  float64 // s out of fog before they go off
	parkMean    float64 // s
	breakFor    float64 // s

	mode       mode
	until      float64 // end of a timed mode (starting, arriving, parked, standing broken)
	node       int     // where a trip starts
	route      []int
	leg        int     // index in route
	s          float64 // m along the current edge
	cleared    bool    // the current edge's end may be passed (green, stopped at the sign)
	waitUntil  float64 // at a stop sign
	x, y       float64
	target     float64 // heading the vehicle turns toward
	fogIn      float64 // since when in fog, -1 when not
	fogOut     float64 // since when out of fog with the lights still on, -1
	nextLamp   int
	nextBreak  int
	brokenStop bool // a broken-down vehicle has come to a standstill
}

func newDriver(c *city.City, fg fog, rng *rand.Rand, ev events, o Options, weather sim.State) *driver {
	u := func(lo, hi float64) float64 { return sim.Uniform(rng, lo, hi) }
	d := &driver{c: c, fog: fg, rng: rng, ev: ev,
		speedFactor: u(0.9, 1.1), accel: u(1.2, 2.2), brake: u(1.8, 2.8),
		fogUser: u(0, 1) < o.Fog.LightUse, fogReact: u(1, 4), fogRelease: u(2, 8),
		parkMean: o.ParkFor.Seconds(), breakFor: o.BreakdownFor.Seconds(),
		fogIn: -1, fogOut: -1}
	d.st = weather
	d.st.Fuel = u(25, 90)
	d.st.Coolant, d.st.Oil = u(20, 85), u(20, 90)
	d.st.OdometerKm = math.Round(u(3000, 180000)*10) / 10
	d.st.EngineHours = math.Round(u(100, 6000)*20) / 20
	d.node = c.Place(rng)
	nd := &c.Nodes[d.node]
	d.x, d.y = nd.X, nd.Y
	d.mode, d.until = starting, u(0.5, 4)
	d.plan()
	d.locate()
	return d
}

// State implements sim.Model.
func (d *driver) State() *sim.State { return &d.st }

// plan picks the next destination and routes there from d.node.
func (d *driver) plan() {
	for range 10 {
		to := d.c.Place(d.rng)
		if to == d.node {
			continue
		}
		r, err := d.c.Route(d.node, to)
		if err == nil && len(r) > 0 {
			d.route, d.leg, d.s, d.cleared, d.waitUntil = r, 0, 0, false, -1
			d.st.Heading = d.c.Edges[r[0]].Heading
			d.target = d.st.Heading
			return
		}
	}
	d.route = nil // nowhere to go: stay parked
}

// Step implements sim.Model.
func (d *driver) Step(dt float64) {
	d.st.T += dt
	t := d.st.T
	prev := d.st.Speed
	for d.nextLamp < len(d.ev.lamps) && d.ev.lamps[d.nextLamp].at <= t {
		d.st.Lamps = d.st.Lamps.With(d.ev.lamps[d.nextLamp].lamp)
		d.nextLamp++
	}
	switch d.mode {
	case parked:
		if t >= d.until {
			d.plan()
			if d.route != nil {
				d.mode, d.until, d.st.Off = starting, t+sim.Uniform(d.rng, 2, 4), false
			} else {
				d.until = t + d.parkMean
			}
		}
	case starting:
		if t >= d.until {
			d.mode = driving
		}
	case arriving:
		d.st.FogLights, d.st.Hazard, d.st.IndicatorLeft, d.st.IndicatorRight = false, false, false, false
		if t >= d.until {
			d.mode, d.st.Off = parked, true
			d.until = t + math.Max(30, -math.Log(1-sim.Uniform(d.rng, 0, 1))*d.parkMean)
			d.node = d.c.Edges[d.route[len(d.route)-1]].To
		}
	case driving, broken:
		if d.mode == driving && d.nextBreak < len(d.ev.breaks) && d.ev.breaks[d.nextBreak] <= t {
			d.nextBreak++
			d.mode, d.st.Hazard, d.brokenStop = broken, true, false
		}
		d.drive(dt, t)
	}
	d.st.Accel = (d.st.Speed - prev) / dt
	d.st.Phase = d.phase()
	d.steer(dt)
	d.locate()
	d.fogLights(t)
	d.warmUp(dt)
}

// phase is the frames' view of the mode.
func (d *driver) phase() sim.Phase {
	switch {
	case d.mode != driving && d.mode != broken:
		return sim.Parked
	case d.st.Speed == 0:
		return sim.Stopped
	case d.st.Accel > 0.05:
		return sim.Accelerating
	case d.st.Accel < -0.05:
		return sim.Braking
	}
	return sim.Cruising
}

// drive moves the vehicle along its route for one step.
func (d *driver) drive(dt, t float64) {
	e := d.route[d.leg]
	ed := &d.c.Edges[e]
	v := d.st.Speed
	limit := ed.Speed * d.speedFactor
	if d.st.Foggy {
		limit *= fogSpeed
	}
	remaining := ed.Length - d.s
	var a float64
	stop := false
	switch {
	case d.mode == broken:
		a = -breakdownDec
		if v == 0 {
			if !d.brokenStop {
				d.brokenStop, d.until = true, t+d.breakFor
			}
			if t >= d.until {
				d.mode, d.st.Hazard = driving, false
			}
		}
	default:
		var vEnd float64
		vEnd, stop = d.atEnd(e, t, v, remaining)
		need := 0.0
		if v > vEnd {
			need = (v*v - vEnd*vEnd) / (2 * math.Max(remaining-0.5, 0.05))
		}
		switch {
		case stop && remaining < 0.6 && v < 1.5:
			d.st.Speed, d.s = 0, ed.Length
			d.standAt(e, t)
			return
		case need >= 0.85*d.brake:
			a = -math.Min(need, maxBrake)
		case v < limit:
			a = d.accel * (1 - math.Pow(v/limit, 4))
		case v > limit+0.5:
			a = -1
		}
	}
	v = math.Max(0, v+a*dt)
	d.st.Speed = v
	if stop && v*dt >= remaining { // never past a stop line
		d.st.Speed, d.s = 0, ed.Length
		d.st.Trip += math.Max(remaining, 0) / 1000
		d.standAt(e, t)
		return
	}
	d.advance(v * dt)
}

// atEnd returns the speed the vehicle may have at the end of edge e, and
// whether that is a stop: the destination, a red light, a stop sign; else
// the turn into the next edge and its limit.
func (d *driver) atEnd(e int, t, v, remaining float64) (vEnd float64, stop bool) {
	if d.leg == len(d.route)-1 {
		return 0, true
	}
	if !d.cleared {
		switch d.c.Control(e) {
		case city.Light:
			// The light is looked at every step until the vehicle is too
			// close to stop for it: then it goes through, on amber if it
			// must (the all-red time covers it).
			canStop := remaining > v*v/(2*amberBrake) || v < 1
			switch {
			case !canStop:
				d.cleared = true
			case !d.c.Green(e, t):
				return 0, true
			}
		case city.Stop:
			return 0, true
		}
	}
	next := d.route[d.leg+1]
	vEnd = d.c.Edges[next].Speed * d.speedFactor
	if d.st.Foggy {
		vEnd *= fogSpeed
	}
	switch turn := math.Abs(d.c.Turn(e, next)); {
	case turn > 60:
		vEnd = math.Min(vEnd, 18/3.6)
	case turn > 25:
		vEnd = math.Min(vEnd, 30/3.6)
	}
	if d.c.Control(e) == city.RightBeforeLeft {
		vEnd = math.Min(vEnd, 15/3.6)
	}
	return vEnd, false
}

// standAt keeps a vehicle standing at the end of edge e until it may go:
// the light turns green, the stop sign's wait is over; at the destination
// it parks.
func (d *driver) standAt(e int, t float64) {
	if d.leg == len(d.route)-1 {
		d.mode, d.until = arriving, t+arriveFor
		return
	}
	switch d.c.Control(e) {
	case city.Light:
		d.cleared = d.c.Green(e, t)
	case city.Stop:
		if d.waitUntil < 0 { // just arrived
			d.waitUntil = t + stopWait
		}
		d.cleared = t >= d.waitUntil
	default:
		d.cleared = true
	}
}

// advance moves the vehicle dist metres along its route.
func (d *driver) advance(dist float64) {
	d.s += dist
	d.st.Trip += dist / 1000
	for {
		ed := &d.c.Edges[d.route[d.leg]]
		if d.s < ed.Length {
			return
		}
		if d.leg == len(d.route)-1 {
			d.s = ed.Length
			return
		}
		d.s -= ed.Length
		d.leg++
		d.cleared, d.waitUntil = false, -1
		d.target = d.c.Edges[d.route[d.leg]].Heading
	}
}

// steer turns the heading toward the road's at up to turnRate, and works
// the indicators: on within indicateM of a turn, off once it is done.
func (d *driver) steer(dt float64) {
	diff := math.Mod(d.target-d.st.Heading+540, 360) - 180
	d.st.YawRate = 0
	if math.Abs(diff) > 0.01 && d.st.Speed > 0.5 {
		rate := math.Copysign(math.Min(turnRate, math.Abs(diff)/dt), diff)
		d.st.Heading = math.Mod(d.st.Heading+rate*dt+360, 360)
		d.st.YawRate = rate
	}
	if d.route == nil || d.mode != driving && d.mode != broken {
		return
	}
	left, right := false, false
	if math.Abs(diff) > 3 {
		left, right = diff < 0, diff > 0
	}
	if d.leg < len(d.route)-1 {
		e := d.route[d.leg]
		if d.c.Edges[e].Length-d.s < indicateM {
			switch turn := d.c.Turn(e, d.route[d.leg+1]); {
			case turn < -25:
				left = true
			case turn > 25:
				right = true
			}
		}
	}
	d.st.IndicatorLeft, d.st.IndicatorRight = left, right
}

// locate puts the position on the current edge.
func (d *driver) locate() {
	if d.route != nil && d.mode != parked {
		ed := &d.c.Edges[d.route[d.leg]]
		a, b := &d.c.Nodes[ed.From], &d.c.Nodes[ed.To]
		f := d.s / ed.Length
		d.x, d.y = a.X+(b.X-a.X)*f, a.Y+(b.Y-a.Y)*f
	}
	d.st.Lat, d.st.Lon = d.c.LatLng(d.x, d.y)
	d.st.Alt = 519 + 0.004*d.y // Munich slopes gently down to the north
}

// fogLights follows the air: in fog the driver switches the fog lights on
// after a reaction time (if they use them at all), out of it off again.
func (d *driver) fogLights(t float64) {
	d.st.Foggy = d.fog.Inside(d.x, d.y, t)
	if d.mode == arriving || d.mode == parked {
		d.st.FogLights, d.fogIn, d.fogOut = false, -1, -1
		return
	}
	if d.st.Foggy {
		d.fogOut = -1
		if d.fogIn < 0 {
			d.fogIn = t
		}
		if d.fogUser && t-d.fogIn >= d.fogReact {
			d.st.FogLights = true
		}
		return
	}
	d.fogIn = -1
	if d.st.FogLights {
		if d.fogOut < 0 {
			d.fogOut = t
		}
		if t-d.fogOut >= d.fogRelease {
			d.st.FogLights, d.fogOut = false, -1
		}
	}
}

func (d *driver) warmUp(dt float64) {
	if d.st.Off {
		d.st.Coolant = math.Max(15, d.st.Coolant-0.02*dt)
		d.st.Oil = math.Max(15, d.st.Oil-0.015*dt)
		return
	}
	d.st.Coolant = math.Min(90, d.st.Coolant+0.25*dt)
	d.st.Oil = math.Min(96, d.st.Oil+0.12*dt)
	d.st.Fuel = math.Max(0, d.st.Fuel-(0.0004+d.st.Speed*0.00004)*dt)
}
