package city

import "fmt"

// Class is a road's kind: it sets the speed limit, and crossings of two
// major roads (arterials, the ring) have traffic lights.
type Class uint8

// The road classes.
const (
	Residential Class = iota // 30 km/h
	Arterial                 // 50 km/h
	Ring                     // 60 km/h: the outer ring
)

var classNames = [...]string{"residential", "arterial", "ring"}

// String returns the class's name.
func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return fmt.Sprintf("class(%d)", c)
}

// SpeedKmh is the class's speed limit.
func (c Class) SpeedKmh() float64 {
	switch c {
	case Arterial:
		return 50
	case Ring:
		return 60
	}
	return 30
}

// Major reports whether the class is an arterial or the ring: residential
// streets give way to major roads.
func (c Class) Major() bool { return c != Residential }

// Control is what a driver meets at the end of an edge.
type Control uint8

// The controls of a crossing, as seen from the road arriving at it.
const (
	Free            Control = iota // a bend or a major road through a minor crossing: only the turn slows
	RightBeforeLeft                // residential crossing: slow down to look
	Stop                           // a residential street meeting a major road: stop, then go
	Light                          // a traffic light
)

var controlNames = [...]string{"free", "right-before-left", "stop", "light"}

// String returns the control's name.
func (c Control) String() string {
	if int(c) < len(controlNames) {
		return controlNames[c]
	}
	return fmt.Sprintf("control(%d)", c)
}

// Node is a crossing (or a bend) of the network.
type Node struct {
	X, Y     float64 // metres east and north of the centre
	Lat, Lon float64 // degrees
	Out      []int   // edges leaving the node
	// Light: the cycle of the traffic light in seconds and where in its
	// cycle it is at time 0; zero Cycle means none. North-south traffic has
	// green for the first half of the cycle, east-west for the second, each
	// minus AllRed.
	Cycle, Offset float64
	major         int // major roads meeting here
	degree        int // roads meeting here
}

// AllRed is how long, at the end of each half of a light's cycle, neither
// direction has green (amber and all-red).
const AllRed = 3.0

// Edge is one direction of a road between two neighbouring nodes.
type Edge struct {
	From, To int
	Class    Class
	Length   float64 // m
	Heading  float64 // degrees, 0 = north, clockwise
	Speed    float64 // limit, m/s
}
