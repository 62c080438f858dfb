package sim

import (
	"math"
	"math/rand/v2"
)

// phase is what the driver is doing.
type phase uint8

const (
	parked phase = iota // engine on, gear P, parking brake on
	accelerating
	cruising
	braking
	stopped
)

// vehicle is the state the frames are made from. Units: m/s, degrees, km,
// seconds, °C.
type vehicle struct {
	rng *rand.Rand
	sc  *Scenario

	t       float64 // seconds since the start
	phase   phase
	until   float64 // end of a timed phase (cruise, stop)
	target  float64 // target speed, m/s
	speed   float64 // m/s
	accel   float64 // m/s², last step
	lat     float64 // degrees
	lon     float64 // degrees
	heading float64 // degrees, 0 = north
	yawRate float64 // deg/s
	turnTo  float64 // heading the current turn ends at
	indL    bool    // direction indicators
	indR    bool
	trip    float64 // km
	fuel    float64 // percent
	coolant float64 // °C
	oil     float64 // °C
	alt     float64 // m
	stops   int
}

func newVehicle(sc *Scenario) *vehicle {
	return &vehicle{
		rng: rand.New(rand.NewPCG(sc.Seed, 0x6b616e616c)), sc: sc,
		lat: sc.StartLat, lon: sc.StartLon, heading: sc.StartHeading, turnTo: sc.StartHeading,
		fuel: sc.FuelPercent, coolant: 62, oil: 58, alt: sc.Altitude,
	}
}

// uniform returns a float in [lo, hi). It uses only Uint64, whose PCG output
// is fixed by its specification, so the drives stay byte-identical across Go
// versions.
func (v *vehicle) uniform(lo, hi float64) float64 {
	return lo + (hi-lo)*float64(v.rng.Uint64()>>11)/(1<<53)
}

// noise is a small symmetric jitter.
func (v *vehicle) noise(amp float64) float64 { return v.uniform(-amp, amp) }

// inFog reports whether the scenario's fog episode is on at time t.
func (v *vehicle) inFog() bool {
	return v.sc.FogFrom < v.sc.FogTo && v.t >= v.sc.FogFrom && v.t < v.sc.FogTo
}

// cruiseSpeed picks the next target speed in m/s.
func (v *vehicle) cruiseSpeed() float64 {
	lo, hi := v.sc.SpeedKmh[0], v.sc.SpeedKmh[1]
	if v.inFog() {
		lo, hi = 0.55*lo, 0.6*hi
	}
	return v.uniform(lo, hi) / 3.6
}

// step advances the model by dt seconds.
func (v *vehicle) step(dt float64) {
	v.t += dt
	prev := v.speed
	switch v.phase {
	case parked:
		if v.t >= 3 {
			v.phase, v.target = accelerating, v.cruiseSpeed()
		}
	case accelerating:
		v.speed = math.Min(v.target, v.speed+v.uniform(1.2, 2.2)*dt)
		if v.speed >= v.target {
			v.phase, v.until = cruising, v.t+v.uniform(v.sc.CruiseS[0], v.sc.CruiseS[1])
		}
	case cruising:
		v.speed = math.Max(0, v.speed+v.noise(0.4)*dt)
		if v.inFog() && v.speed > 12 {
			v.speed -= 1.5 * dt // slow down on entering fog
		}
		if v.t >= v.until {
			v.phase = braking
		}
	case braking:
		v.speed = math.Max(0, v.speed-v.uniform(1.5, 2.5)*dt)
		if v.speed == 0 {
			v.phase, v.until = stopped, v.t+v.uniform(v.sc.StopS[0], v.sc.StopS[1])
			v.stops++
			v.planTurn()
		}
	case stopped:
		if v.t >= v.until {
			v.phase, v.target = accelerating, v.cruiseSpeed()
		}
	}
	v.accel = (v.speed - prev) / dt
	v.steer(dt)
	v.move(dt)
	v.warmUp(dt)
}

// planTurn decides, at a stop, whether the next start turns at the crossing.
func (v *vehicle) planTurn() {
	switch r := v.uniform(0, 1); {
	case r < v.sc.TurnChance/2:
		v.turnTo, v.indL = v.heading-90, true
	case r < v.sc.TurnChance:
		v.turnTo, v.indR = v.heading+90, true
	}
}

// steer turns toward turnTo once the vehicle moves, at up to 18°/s.
func (v *vehicle) steer(dt float64) {
	d := v.turnTo - v.heading
	v.yawRate = 0
	if math.Abs(d) > 0.01 && v.speed > 1 {
		rate := math.Copysign(math.Min(18, math.Abs(d)/dt), d)
		v.heading += rate * dt
		v.yawRate = rate
	} else if math.Abs(d) <= 0.01 {
		v.indL, v.indR = false, false
		v.yawRate = v.noise(0.3) // lane keeping
	}
	v.heading = math.Mod(v.heading+360, 360)
	v.turnTo = v.heading + remainder(v.turnTo-v.heading)
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
	dist := v.speed * dt
	h := v.heading * math.Pi / 180
	v.lat += float64(dist*math.Cos(h)) / earthRadius * 180 / math.Pi
	v.lon += float64(dist*math.Sin(h)) / (earthRadius * math.Cos(v.lat*math.Pi/180)) * 180 / math.Pi
	v.trip += dist / 1000
	v.alt += v.noise(0.02)
}

func (v *vehicle) warmUp(dt float64) {
	v.coolant = math.Min(90, v.coolant+0.25*dt)
	v.oil = math.Min(96, v.oil+0.12*dt)
	v.fuel = math.Max(0, v.fuel-(0.0004+v.speed*0.00004)*dt)
}

// gear returns the gear a 6-speed automatic would hold, and engine rpm.
func (v *vehicle) gear() (gear int, rpm float64) {
	kmh := v.speed * 3.6
	ratios := [...]float64{0, 115, 62, 43, 33, 27, 22}
	limits := [...]float64{0, 18, 32, 48, 62, 80, math.MaxFloat64}
	if v.phase == parked {
		return 0, 780 + v.noise(15)
	}
	gear = 1
	for gear < 6 && kmh > limits[gear] {
		gear++
	}
	rpm = math.Max(780, kmh*ratios[gear]) + v.noise(15)
	return gear, rpm
}

// pedals returns accelerator and brake pedal positions in percent.
func (v *vehicle) pedals() (acc, brake float64) {
	switch v.phase {
	case accelerating:
		return 20 + 8*v.accel + v.noise(2), 0
	case cruising:
		return 12 + v.speed*0.4 + v.noise(1.5), 0
	case braking:
		return 0, 15 + 7*(-v.accel) + v.noise(2)
	case stopped, parked:
		return 0, 22
	}
	return 0, 0
}
