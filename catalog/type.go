package catalog

import (
	"fmt"
	"math"
)

// Type is the data type of a catalog entry, named as in COVESA VSS
// (`boolean`, `uint8`, …, `float`, `double`). VSS `string` signals with an
// `allowed` list become `enum`: the value carried is the index into Allowed,
// so every reading fits in Value.Num. 64-bit integers are left out on purpose:
// a float64 holds them exactly only up to 2^53.
type Type uint8

// The types of catalog entries. The zero Type is invalid, so a missing
// `type:` in a file is caught.
const (
	Bool Type = iota + 1
	Uint8
	Uint16
	Uint32
	Int8
	Int16
	Int32
	Float
	Double
	Enum
	// Cell is a geo grid cell: the S2 cell id (a uint64) as a float64. An S2
	// id of level L has 2L+4 significant bits, so it is exact in a float64
	// for every level up to 24 (geo.MaxLevel). The edge agent produces it
	// from the precise position, which never leaves the vehicle; no DBC
	// signal maps to it.
	Cell
)

var typeNames = [...]string{
	Bool:   "boolean",
	Uint8:  "uint8",
	Uint16: "uint16",
	Uint32: "uint32",
	Int8:   "int8",
	Int16:  "int16",
	Int32:  "int32",
	Float:  "float",
	Double: "double",
	Enum:   "enum",
	Cell:   "cell",
}

// ParseType returns the Type named s, as written in a catalog file.
func ParseType(s string) (Type, error) {
	for t, name := range typeNames {
		if name != "" && name == s {
			return Type(t), nil
		}
	}
	return 0, fmt.Errorf("unknown type %q (want boolean, uint8, uint16, uint32, int8, int16, int32, float, double, enum or cell)", s)
}

// String returns the name used in catalog files.
func (t Type) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// Valid reports whether t is one of the declared types.
func (t Type) Valid() bool { return t >= Bool && t <= Cell }

// IsInteger reports whether values of t must be whole numbers (booleans and
// enum indexes included).
func (t Type) IsInteger() bool { return t != Float && t != Double && t.Valid() }

// Range returns the smallest and largest value the type can hold. For Enum
// it is the range of the index type (uint16), narrowed by Entry.Range to the
// allowed list.
func (t Type) Range() (lo, hi float64) {
	switch t {
	case Bool:
		return 0, 1
	case Uint8:
		return 0, math.MaxUint8
	case Uint16, Enum:
		return 0, math.MaxUint16
	case Uint32:
		return 0, math.MaxUint32
	case Int8:
		return math.MinInt8, math.MaxInt8
	case Int16:
		return math.MinInt16, math.MaxInt16
	case Int32:
		return math.MinInt32, math.MaxInt32
	case Float:
		return -math.MaxFloat32, math.MaxFloat32
	case Cell:
		return 0, math.MaxUint64
	default:
		return -math.MaxFloat64, math.MaxFloat64
	}
}
