package geo

import (
	"errors"
	"fmt"

	"github.com/golang/geo/s2"
)

// ErrTooManyCells is the error Cover wraps when a box needs more cells than
// allowed; the gateway answers it with 400 (ask for a smaller box).
var ErrTooManyCells = errors.New("too many cells")

// Cover returns the cells of the grid's level that intersect b, sorted by id:
// every point of the box lies in one of them. It returns an error wrapping
// ErrTooManyCells when more than maxCells would be needed, before building
// them: at level 13 a continent takes millions of cells.
//
// The result is what s2.RegionCoverer gives with MinLevel = MaxLevel = the
// grid level, but the coverer cannot be bounded: its MaxCells is a soft limit
// that a forced level overrides. Cover descends the cell tree itself, from
// the cube faces down, keeping at each level the children that intersect the
// box (an intersecting cell always has an intersecting child, so no level has
// fewer cells than the next): it stops at the first level with more than
// maxCells cells, having done at most about 4 × maxCells tests per level.
func (g Grid) Cover(b BBox, maxCells int) ([]Cell, error) {
	if g.level == 0 {
		return nil, errZeroGrid
	}
	if maxCells < 1 {
		return nil, fmt.Errorf("cover bbox %v: maxCells %d, want at least 1", b, maxCells)
	}
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("cover bbox %v: %w", b, err)
	}
	rect := b.rect()
	cur := make([]s2.CellID, 0, 6)
	for face := range 6 {
		if id := s2.CellIDFromFace(face); rect.IntersectsCell(s2.CellFromCellID(id)) {
			cur = append(cur, id)
		}
	}
	if len(cur) > maxCells {
		return nil, fmt.Errorf("cover bbox %v: more than %d cells at level 0: %w", b, maxCells, ErrTooManyCells)
	}
	var next []s2.CellID
	for level := 1; level <= g.Level(); level++ {
		next = next[:0]
		for _, id := range cur {
			for _, ch := range id.Children() {
				if !rect.IntersectsCell(s2.CellFromCellID(ch)) {
					continue
				}
				if len(next) == maxCells {
					return nil, fmt.Errorf("cover bbox %v: more than %d cells at level %d: %w", b, maxCells, level, ErrTooManyCells)
				}
				next = append(next, ch)
			}
		}
		cur, next = next, cur
	}
	out := make([]Cell, len(cur))
	for i, id := range cur {
		out[i] = Cell(id)
	}
	return out, nil
}
