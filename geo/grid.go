package geo

import (
	"errors"
	"fmt"

	"github.com/golang/geo/s2"
)

// Grid rounds positions to the cells of one level. It is a small value:
// pass it by value and share it between goroutines freely. The zero Grid is
// not usable (its Cell returns an error), so a Grid that was never built
// cannot silently send level-0 cells; make one with NewGrid.
type Grid struct {
	level int8 // the level + 1, so that the zero Grid is recognisable
}

// NewGrid returns the grid of the given level, 0 to MaxLevel. Config files
// that leave the level out should pass DefaultLevel.
func NewGrid(level int) (Grid, error) {
	if level < 0 || level > MaxLevel {
		return Grid{}, fmt.Errorf("grid level %d: want 0 to %d", level, MaxLevel)
	}
	return Grid{level: int8(level + 1)}, nil
}

// Level returns the grid's level, or -1 for the zero Grid.
func (g Grid) Level() int { return int(g.level) - 1 }

// AvgEdgeM returns the average edge length of the grid's cells over the
// sphere, in metres: what "cells of about 1 km" means for this level.
func (g Grid) AvgEdgeM() float64 {
	if g.level == 0 {
		return 0
	}
	return s2.AvgEdgeMetric.Value(g.Level()) * EarthRadiusM
}

// Cell returns the cell of the grid's level that contains the position
// (degrees). It is the agent's hot path, run for every GPS fix, and does not
// allocate for a valid position. A latitude or longitude that is NaN,
// infinite or out of range is an error naming it ("lat", "lon"): the caller
// then has no position to send, which is the safe outcome.
//
// Both poles and the antimeridian are handled: every longitude at a pole
// gives the pole's one cell, and longitude -180 gives the cell of 180.
func (g Grid) Cell(lat, lng float64) (Cell, error) {
	if g.level == 0 {
		return 0, errZeroGrid
	}
	if err := checkLat("lat", lat); err != nil {
		return 0, err
	}
	if err := checkLng("lon", lng); err != nil {
		return 0, err
	}
	id := s2.CellIDFromLatLng(LatLng{lat, lng}.norm())
	return Cell(id.Parent(g.Level())), nil
}

// CellOf is Cell for a LatLng.
func (g Grid) CellOf(ll LatLng) (Cell, error) { return g.Cell(ll.Lat, ll.Lng) }

var errZeroGrid = errors.New("zero geo.Grid: make it with geo.NewGrid")
