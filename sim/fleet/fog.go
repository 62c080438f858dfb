package fleet

import (
	"math"
	"math/rand/v2"
	"time"
)

// FogBank is a patch of fog drifting with the wind: a disc that forms,
// moves at a constant velocity and thins out again. Positions are metres
// east and north of the city's centre, times offsets from the fleet's start.
type FogBank struct {
	From    time.Duration `json:"from"` // when it starts to form
	To      time.Duration `json:"to"`   // when it is gone
	X       float64       `json:"x_m"`  // centre at From
	Y       float64       `json:"y_m"`
	VX      float64       `json:"vx_mps"` // drift, m/s
	VY      float64       `json:"vy_mps"`
	RadiusM float64       `json:"radius_m"` // when fully formed
	// Lat and Lon are the centre at the middle of its life, for people.
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Center returns the bank's centre at t seconds after the start.
func (b *FogBank) Center(t float64) (x, y float64) {
	dt := t - b.From.Seconds()
	return b.X + b.VX*dt, b.Y + b.VY*dt
}

// Radius returns the bank's radius at t seconds after the start: 0 outside
// its life, growing over the first fifth (at most a minute) and shrinking
// over the last.
func (b *FogBank) Radius(t float64) float64 {
	from, to := b.From.Seconds(), b.To.Seconds()
	if t < from || t >= to {
		return 0
	}
	ramp := math.Min((to-from)/5, 60)
	return b.RadiusM * math.Min(1, math.Min(t-from, to-t)/ramp)
}

// Inside reports whether the point (x, y) is in the bank at time t.
func (b *FogBank) Inside(x, y, t float64) bool {
	r := b.Radius(t)
	if r == 0 {
		return false
	}
	cx, cy := b.Center(t)
	dx, dy := x-cx, y-cy
	return dx*dx+dy*dy < r*r
}

// fog is every bank of a run.
type fog []FogBank

// Inside reports whether (x, y) is in any bank at time t.
func (f fog) Inside(x, y, t float64) bool {
	for i := range f {
		if f[i].Inside(x, y, t) {
			return true
		}
	}
	return false
}

// newFog places o.Fog.Banks banks: evenly spread over the run, each passing
// at the middle of its life over a random point of the inner part of the
// city, all drifting with one wind.
func newFog(o Options, sizeM float64, latLng func(x, y float64) (float64, float64)) fog {
	n := o.Fog.Banks
	if n == 0 {
		return nil
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x666f67)) // "fog"
	wind := unit(rng) * 2 * math.Pi
	speed := o.Fog.SpeedKmh / 3.6
	vx, vy := speed*math.Sin(wind), speed*math.Cos(wind)
	life := min(o.Fog.Life, o.Duration)
	span := o.Duration - life
	banks := make(fog, n)
	for i := range banks {
		from := time.Duration(0)
		if n > 1 {
			from = span * time.Duration(i) / time.Duration(n-1)
		}
		px, py := (unit(rng)-0.5)*0.6*sizeM, (unit(rng)-0.5)*0.6*sizeM
		half := life.Seconds() / 2
		b := FogBank{From: from, To: from + life, X: px - vx*half, Y: py - vy*half, VX: vx, VY: vy, RadiusM: o.Fog.RadiusM}
		b.Lat, b.Lon = latLng(px, py)
		banks[i] = b
	}
	return banks
}
