package geo

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/golang/geo/s2"
)

// MaxLevel is the finest cell level Kanal uses. The catalog carries a cell
// as a float64 (catalog type `cell`, see catalog/type.go): an S2 cell id of
// level L has 2L+4 significant bits (3 for the face, 2 per level, the
// trailing marker bit), so it is exact in a float64's 53-bit mantissa up to
// level 24 (52 bits). Level 24 cells are about 55 cm across, finer than any
// GPS fix, so nothing useful lies beyond it.
const MaxLevel = 24

// DefaultLevel is the grid level the agent uses when none is configured:
// cells of about 1 km (1.13 km on average over the sphere; the Munich cell at
// 48.13°N has edges of 949 and 1,114 m and 1.05 km²), coarse enough that a
// cell does not single out a house, fine enough for fog on a stretch of road.
const DefaultLevel = 13

// Cell is an S2 cell id of level 0 to MaxLevel, a plain number so that it
// is cheap to keep, compare and carry as a catalog value. Its zero value is
// invalid. Methods of an invalid Cell return zero values, except Token ("X")
// and Level (-1); Grid, ParseToken and CellFromFloat64 never return one.
type Cell uint64

// ParseToken returns the cell whose token is s. It is strict, because a token
// names a cell in topics and subjects, where two spellings of one cell would
// be two different names: s must be the canonical token Token gives (lower-case
// hexadecimal, no trailing zeros) of a valid cell of level at most MaxLevel.
func ParseToken(s string) (Cell, error) {
	c, err := parseToken(s)
	if err != nil {
		return 0, fmt.Errorf("cell token %q: %w", s, err)
	}
	return c, nil
}

func parseToken(s string) (Cell, error) {
	switch {
	case s == "":
		return 0, errors.New("empty")
	case s == "X":
		return 0, errors.New("the token of no cell (id 0)")
	case len(s) > 16:
		return 0, fmt.Errorf("%d characters, at most 16", len(s))
	}
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case b >= '0' && b <= '9', b >= 'a' && b <= 'f':
		case b >= 'A' && b <= 'F':
			return 0, fmt.Errorf("upper-case hexadecimal at offset %d: tokens are lower case", i)
		default:
			return 0, fmt.Errorf("%q at offset %d is not a hexadecimal digit", b, i)
		}
	}
	if s[len(s)-1] == '0' {
		return 0, errors.New("trailing zero: tokens drop them")
	}
	n, _ := strconv.ParseUint(s, 16, 64) // 1 to 16 hexadecimal digits: it parses
	c := Cell(n << (4 * (16 - len(s))))
	if err := c.check(); err != nil {
		return 0, err
	}
	return c, nil
}

// CellFromFloat64 returns the cell a catalog value of type `cell` carries.
// It rejects a value that is not the exact float64 of a valid Cell.
func CellFromFloat64(v float64) (Cell, error) {
	// 2^64 is the first float64 above every uint64.
	if !(v >= 0 && v < 1<<64) || v != math.Trunc(v) {
		return 0, fmt.Errorf("cell value %v: not a cell id", v)
	}
	c := Cell(uint64(v))
	if err := c.check(); err != nil {
		return 0, fmt.Errorf("cell value %v: %w", v, err)
	}
	return c, nil
}

// check says why c is not Valid.
func (c Cell) check() error {
	id := s2.CellID(c)
	switch {
	case c == 0:
		return errors.New("id 0 is no cell")
	case id.Face() >= 6:
		return fmt.Errorf("face %d does not exist (0 to 5)", id.Face())
	case !id.IsValid():
		return errors.New("not a cell id (its lowest set bit is at an odd position)")
	case id.Level() > MaxLevel:
		return fmt.Errorf("level %d is finer than MaxLevel %d", id.Level(), MaxLevel)
	}
	return nil
}

// Valid reports whether c is an S2 cell of level 0 to MaxLevel.
func (c Cell) Valid() bool {
	return c != 0 && s2.CellID(c).IsValid() && s2.CellID(c).Level() <= MaxLevel
}

// Token returns S2's token of c: the id in hexadecimal without trailing
// zeros, 1 to 16 characters ("479ddf5c" for the level-13 cell of Munich's Marienplatz). The
// token of an invalid cell is "X", as in S2, which ParseToken rejects.
func (c Cell) Token() string {
	if !c.Valid() {
		return "X"
	}
	return s2.CellID(c).ToToken()
}

// String returns the token, so cells print as they are named.
func (c Cell) String() string { return c.Token() }

// MarshalText returns the token, so cells are tokens in JSON and YAML.
func (c Cell) MarshalText() ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("marshal cell %#x: %w", uint64(c), err)
	}
	return []byte(c.Token()), nil
}

// UnmarshalText parses a token with ParseToken.
func (c *Cell) UnmarshalText(b []byte) error {
	v, err := ParseToken(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// Float64 returns c as the catalog carries it: exact, since c has at most
// 52 significant bits (see MaxLevel).
func (c Cell) Float64() float64 { return float64(c) }

// Level returns the level of c, 0 (a cube face) to MaxLevel, or -1 when c is
// invalid.
func (c Cell) Level() int {
	if !c.Valid() {
		return -1
	}
	return s2.CellID(c).Level()
}

// Parent returns the cell of the given level that contains c, c itself at
// its own level, and the invalid Cell 0 when level is not in 0..c.Level().
func (c Cell) Parent(level int) Cell {
	if !c.Valid() || level < 0 || level > c.Level() {
		return 0
	}
	return Cell(s2.CellID(c).Parent(level))
}

// Center returns the centre of c, the point the cloud draws a cell at.
// Every position in the cell maps to it, so it says no more than the cell.
func (c Cell) Center() LatLng {
	if !c.Valid() {
		return LatLng{}
	}
	return fromS2(s2.CellID(c).LatLng())
}

// Corners returns the four corners of c counter-clockwise, as S2 gives them
// (lower left, lower right, upper right, upper left in the face's (u,v)
// plane; which of them is north-west depends on the cube face). Cell edges
// are great-circle arcs between them.
func (c Cell) Corners() [4]LatLng {
	var out [4]LatLng
	if !c.Valid() {
		return out
	}
	sc := s2.CellFromCellID(s2.CellID(c))
	for k := range out {
		out[k] = fromPoint(sc.Vertex(k))
	}
	return out
}

// Neighbours returns the cells of c's level that touch it, across an edge
// or at a corner, sorted by id: 8 in general, 7 for a cell at a corner of a
// cube face, where only three cells meet. The agent listens for notices in
// its cell and these, so a warning reaches vehicles about to drive in.
func (c Cell) Neighbours() []Cell {
	if !c.Valid() {
		return nil
	}
	ids := s2.CellID(c).AllNeighbors(c.Level())
	out := make([]Cell, 0, len(ids))
	for _, id := range ids {
		out = append(out, Cell(id))
	}
	// AllNeighbors repeats a cell at a cube-face corner.
	slices.Sort(out)
	return slices.Compact(out)
}

// Contains reports whether ll lies in c. Cells are closed: a point on an
// edge lies in both cells that share it.
func (c Cell) Contains(ll LatLng) bool {
	if !c.Valid() || ll.Validate() != nil {
		return false
	}
	return s2.CellFromCellID(s2.CellID(c)).ContainsPoint(ll.point())
}

// EdgeM returns the mean length of c's four edges in metres, the size a
// person means by "cells of about 1 km".
func (c Cell) EdgeM() float64 {
	if !c.Valid() {
		return 0
	}
	sc := s2.CellFromCellID(s2.CellID(c))
	var sum float64
	for k := range 4 {
		sum += sc.Vertex(k).Distance(sc.Vertex((k + 1) % 4)).Radians()
	}
	return sum / 4 * EarthRadiusM
}

// AreaM2 returns the area of c in square metres.
func (c Cell) AreaM2() float64 {
	if !c.Valid() {
		return 0
	}
	return s2.CellFromCellID(s2.CellID(c)).ExactArea() * EarthRadiusM * EarthRadiusM
}
