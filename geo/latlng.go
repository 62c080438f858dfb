package geo

import (
	"math"
	"strconv"

	"github.com/golang/geo/s1"
	"github.com/golang/geo/s2"
)

// EarthRadiusM is the mean radius of the Earth in metres, the radius of the
// sphere with the Earth's surface area. It is the value of S2's earth package
// (and of s2earth.h in C++), so distances agree with other S2 users; the
// sphere differs from the WGS 84 ellipsoid by up to 0.3 %, far below the size
// of a grid cell or a privacy zone.
const EarthRadiusM = 6371010.0

// LatLng is a position in degrees: latitude north positive, longitude east
// positive, as GPS receivers and the catalog's Latitude and Longitude signals
// give it. A LatLng is precise: it stays inside the agent.
type LatLng struct {
	Lat float64 `json:"lat" yaml:"lat"`
	Lng float64 `json:"lon" yaml:"lon"`
}

// Validate reports a latitude or longitude that is NaN, infinite or out of
// range ([-90, 90] and [-180, 180]), naming it as "lat" or "lon".
func (ll LatLng) Validate() error {
	if err := checkLat("lat", ll.Lat); err != nil {
		return err
	}
	return checkLng("lon", ll.Lng)
}

// DistanceM returns the great-circle distance to o in metres.
func (ll LatLng) DistanceM(o LatLng) float64 {
	return ll.s2().Distance(o.s2()).Radians() * EarthRadiusM
}

// String formats ll as "lat,lon" with the shortest exact decimals. A LatLng
// is precise: do not log it.
func (ll LatLng) String() string {
	return strconv.FormatFloat(ll.Lat, 'g', -1, 64) + "," + strconv.FormatFloat(ll.Lng, 'g', -1, 64)
}

func (ll LatLng) s2() s2.LatLng { return s2.LatLngFromDegrees(ll.Lat, ll.Lng) }

// norm returns ll for S2 with each place given one form. Longitudes -180
// and 180 are one meridian, but S2's points for them differ in the last
// bits, which puts them in different cells wherever the antimeridian is a
// cell boundary (at the equator, for one). Every longitude names a pole;
// S2's rounding gives them one cell today, and norm keeps it so.
func (ll LatLng) norm() s2.LatLng {
	lat, lng := ll.Lat, ll.Lng
	if lat == 90 || lat == -90 {
		lng = 0
	} else if lng == -180 {
		lng = 180
	}
	return s2.LatLngFromDegrees(lat, lng)
}

// point returns the S2 point of ll, normalized as norm does.
func (ll LatLng) point() s2.Point { return s2.PointFromLatLng(ll.norm()) }

func fromS2(ll s2.LatLng) LatLng {
	return LatLng{Lat: ll.Lat.Degrees(), Lng: ll.Lng.Degrees()}
}

func fromPoint(p s2.Point) LatLng { return fromS2(s2.LatLngFromPoint(p)) }

// angleM converts a distance in metres on the Earth's surface to an angle.
func angleM(m float64) s1.Angle { return s1.Angle(m/EarthRadiusM) * s1.Radian }

// checkLat and checkLng report a coordinate named field that is not a
// finite number in range. They do not allocate when v is valid, so the
// grid's hot path stays free of allocations.
func checkLat(field string, v float64) error {
	if v >= -90 && v <= 90 {
		return nil
	}
	return badCoord(field, v, "[-90, 90]")
}

func checkLng(field string, v float64) error {
	if v >= -180 && v <= 180 {
		return nil
	}
	return badCoord(field, v, "[-180, 180]")
}

func badCoord(field string, v float64, valid string) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return &FieldError{Field: field, Reason: "not a finite number: " + strconv.FormatFloat(v, 'g', -1, 64)}
	}
	return &FieldError{Field: field, Reason: strconv.FormatFloat(v, 'g', -1, 64) + " out of range " + valid}
}
