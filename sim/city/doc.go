// Package city generates the synthetic road network the simulated fleet
// drives on: a grid of streets around a centre (Munich's Marienplatz by
// default) with residential streets, arterials and an outer ring, crossings
// with traffic lights, stop signs and right-before-left rules, and shortest
// routes by travel time between any two crossings.
//
// Coordinates are metres east (X) and north (Y) of the centre on a flat
// plane, which over a few kilometres is within centimetres of the sphere;
// LatLng turns them into degrees on the same sphere the demo vehicle's model
// uses. A City is immutable once built and safe for concurrent use: every
// vehicle of a fleet routes on the same one.
//
// The same Options (seed included) give the same City.
package city
