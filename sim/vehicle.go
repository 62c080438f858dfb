package sim

import (
	"math"
	"math/rand/v2"
)

// vehicle is the model of a Scenario's drive: a speed profile of cruises
// and stops with turns at the stops, on open ground (no road network). It
// shares its random source with the frames' noise, which fixes the bundled
// drives' bytes.
type vehicle struct {
	State
	rng *rand.Rand
	sc  *Scenario
	ev  *eventLog

	until  float64 // end of a timed phase (cruise, stop)
	target float64 // target speed, m/s
	turnTo float64 // heading the current turn ends at
	stops  int
	lamps  []lampAt
}

// lampAt is a scenario's lamp event resolved to a Lamp.
type lampAt struct {
	lamp Lamp
	at   float64
}

func newVehicle(sc *Scenario, lamps []lampAt) *vehicle {
	v := &vehicle{
		rng: rand.New(rand.NewPCG(sc.Seed, 0x6b616e616c)), sc: sc, turnTo: sc.StartHeading, lamps: lamps,
		State: State{Lat: sc.StartLat, Lon: sc.StartLon, Heading: sc.StartHeading,
			Fuel: sc.FuelPercent, Coolant: 62, Oil: 58, Alt: sc.Altitude,
			LightPct: sc.LightPct, AmbientC: sc.AmbientC, HumidityPct: sc.HumidityPct,
			OdometerKm: sc.OdometerKm, EngineHours: sc.EngineHours},
	}
	v.ev = newEventLog(sc)
	return v
}

// scenarioModel is a vehicle as a Model (a method State would clash with
// the embedded field).
type scenarioModel struct{ *vehicle }

// State implements Model.
func (m scenarioModel) State() *State { return &m.vehicle.State }

// Step advances the drive, then the scenario's fog, hazard and lamps
// follow the clock, and the event log notes changes.
func (v *vehicle) Step(dt float64) {
	v.step(dt)
	fog := v.inFog()
	v.FogLights, v.Foggy = fog, fog
	v.Hazard = v.T >= v.sc.HazardFrom && v.T < v.sc.HazardTo
	for _, l := range v.lamps {
		if v.T >= l.at {
			v.Lamps = v.Lamps.With(l.lamp)
		}
	}
	v.ev.check(v)
}

// uniform returns a float in [lo, hi).
func (v *vehicle) uniform(lo, hi float64) float64 { return Uniform(v.rng, lo, hi) }

// noise is a small symmetric jitter.
func (v *vehicle) noise(amp float64) float64 { return v.uniform(-amp, amp) }

// inFog reports whether the scenario's fog episode is on.
func (v *vehicle) inFog() bool {
	return v.sc.FogFrom < v.sc.FogTo && v.T >= v.sc.FogFrom && v.T < v.sc.FogTo
}

// cruiseSpeed picks the next target speed in m/s.
func (v *vehicle) cruiseSpeed() float64 {
	lo, hi := v.sc.SpeedKmh[0], v.sc.SpeedKmh[1]
	if v.inFog() {
		lo, hi = 0.55*lo, 0.6*hi
	}
	return v.uniform(lo, hi) / 3.6
}

// step advances the drive by dt seconds.
func (v *vehicle) step(dt float64) {
	v.T += dt
	prev := v.Speed
	switch v.Phase {
	case Parked:
		if v.T >= 3 {
			v.Phase, v.target = Accelerating, v.cruiseSpeed()
		}
	case Accelerating:
		v.Speed = math.Min(v.target, v.Speed+v.uniform(1.2, 2.2)*dt)
		if v.Speed >= v.target {
			v.Phase, v.until = Cruising, v.T+v.uniform(v.sc.CruiseS[0], v.sc.CruiseS[1])
		}
	case Cruising:
		v.Speed = math.Max(0, v.Speed+v.noise(0.4)*dt)
		if v.inFog() && v.Speed > 12 {
			v.Speed -= 1.5 * dt // slow down on entering fog
		}
		if v.T >= v.until {
			v.Phase = Braking
		}
	case Braking:
		v.Speed = math.Max(0, v.Speed-v.uniform(1.5, 2.5)*dt)
		if v.Speed == 0 {
			v.Phase, v.until = Stopped, v.T+v.uniform(v.sc.StopS[0], v.sc.StopS[1])
			v.stops++
			v.planTurn()
		}
	case Stopped:
		if v.T >= v.until {
			v.Phase, v.target = Accelerating, v.cruiseSpeed()
		}
	}
	v.Accel = (v.Speed - prev) / dt
	v.steer(dt)
	v.move(dt)
	v.warmUp(dt)
}

// planTurn decides, at a stop, whether the next start turns at the crossing.
func (v *vehicle) planTurn() {
	switch r := v.uniform(0, 1); {
	case r < v.sc.TurnChance/2:
		v.turnTo, v.IndicatorLeft = v.Heading-90, true
	case r < v.sc.TurnChance:
		v.turnTo, v.IndicatorRight = v.Heading+90, true
	}
}

// steer turns toward turnTo once the vehicle moves, at up to 18°/s.
func (v *vehicle) steer(dt float64) {
	d := v.turnTo - v.Heading
	v.YawRate = 0
	if math.Abs(d) > 0.01 && v.Speed > 1 {
		rate := math.Copysign(math.Min(18, math.Abs(d)/dt), d)
		v.Heading += rate * dt
		v.YawRate = rate
	} else if math.Abs(d) <= 0.01 {
		v.IndicatorLeft, v.IndicatorRight = false, false
		v.YawRate = v.noise(0.3) // lane keeping
	}
	v.Heading = math.Mod(v.Heading+360, 360)
	v.turnTo = v.Heading + remainder(v.turnTo-v.Heading)
}

// remainder folds an angle difference into (-180, 180].
func remainder(d float64) float64 {
	d = math.Mod(d, 360)
	switch {
	case d > 180:
		return d - 360
	case d <= -180:
		return d + 360
	}
	return d
}

const earthRadius = 6371000.0

func (v *vehicle) move(dt float64) {
	dist := v.Speed * dt
	h := v.Heading * math.Pi / 180
	v.Lat += float64(dist*math.Cos(h)) / earthRadius * 180 / math.Pi
	v.Lon += float64(dist*math.Sin(h)) / (earthRadius * math.Cos(v.Lat*math.Pi/180)) * 180 / math.Pi
	v.Trip += dist / 1000
	v.Alt += v.noise(0.02)
}

func (v *vehicle) warmUp(dt float64) {
	v.Coolant = math.Min(90, v.Coolant+0.25*dt)
	v.Oil = math.Min(96, v.Oil+0.12*dt)
	v.Fuel = math.Max(0, v.Fuel-(0.0004+v.Speed*0.00004)*dt)
}
