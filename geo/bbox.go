package geo

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/golang/geo/r1"
	"github.com/golang/geo/s1"
	"github.com/golang/geo/s2"
)

// BBox is a bounding box in degrees, bounded by two parallels and two
// meridians, as traffic services ask for an area: the gateway's
// `bbox=minLon,minLat,maxLon,maxLat` (the order of GeoJSON and OGC APIs).
// A box with MinLng > MaxLng crosses the antimeridian: 179,-10,-179,10 is
// the two degrees of longitude around 180. Bounds are inclusive.
type BBox struct {
	MinLng, MinLat, MaxLng, MaxLat float64
}

// bboxFields are the names of the bounds in the order of the text form.
var bboxFields = [4]string{"minLon", "minLat", "maxLon", "maxLat"}

// ParseBBox parses "minLon,minLat,maxLon,maxLat" (spaces around a number
// are allowed) and validates the box. An error names the field at fault.
func ParseBBox(s string) (BBox, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return BBox{}, fmt.Errorf("bbox %q: %d fields, want 4: minLon,minLat,maxLon,maxLat", s, len(parts))
	}
	var v [4]float64
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			return BBox{}, fmt.Errorf("bbox %q: %w", s, &FieldError{Field: bboxFields[i], Reason: "empty"})
		}
		f, err := strconv.ParseFloat(p, 64)
		if err != nil {
			return BBox{}, fmt.Errorf("bbox %q: %w", s, &FieldError{Field: bboxFields[i], Reason: fmt.Sprintf("%q is not a number", p)})
		}
		v[i] = f
	}
	b := BBox{MinLng: v[0], MinLat: v[1], MaxLng: v[2], MaxLat: v[3]}
	if err := b.Validate(); err != nil {
		return BBox{}, fmt.Errorf("bbox %q: %w", s, err)
	}
	return b, nil
}

// Validate reports a bound that is not a finite number in range, or a
// minLat above maxLat, naming the field as the text form does.
func (b BBox) Validate() error {
	v := [4]float64{b.MinLng, b.MinLat, b.MaxLng, b.MaxLat}
	for i, f := range v {
		check := checkLng
		if i%2 == 1 {
			check = checkLat
		}
		if err := check(bboxFields[i], f); err != nil {
			return err
		}
	}
	if b.MinLat > b.MaxLat {
		return &FieldError{Field: "minLat", Reason: fmt.Sprintf("%s above maxLat %s", ftoa(b.MinLat), ftoa(b.MaxLat))}
	}
	return nil
}

// String returns the text form ParseBBox reads, with the shortest decimals
// that give the same numbers back.
func (b BBox) String() string {
	return ftoa(b.MinLng) + "," + ftoa(b.MinLat) + "," + ftoa(b.MaxLng) + "," + ftoa(b.MaxLat)
}

// CrossesAntimeridian reports whether the box spans longitude 180.
func (b BBox) CrossesAntimeridian() bool { return b.MinLng > b.MaxLng }

// Contains reports whether ll lies in the box, bounds included. Longitudes
// -180 and 180 are the same meridian: a box that ends at one contains
// points given at the other. A pole lies on every meridian: a box that
// reaches latitude 90 contains the north pole, whatever its longitudes.
func (b BBox) Contains(ll LatLng) bool {
	if ll.Validate() != nil {
		return false
	}
	if ll.Lat == 90 || ll.Lat == -90 {
		return ll.Lat >= b.MinLat && ll.Lat <= b.MaxLat
	}
	lng := ll.Lng
	if lng == -180 {
		lng = 180
	}
	return b.rect().ContainsLatLng(s2.LatLngFromDegrees(ll.Lat, lng))
}

// IntersectsCell reports whether any part of c lies in the box: the filter
// for alerts and vehicles known only by their cell.
func (b BBox) IntersectsCell(c Cell) bool {
	if !c.Valid() {
		return false
	}
	return b.rect().IntersectsCell(s2.CellFromCellID(s2.CellID(c)))
}

// rect returns the box as an S2 rectangle. Longitude -180 becomes 180 (one
// meridian, and S2 would read the pair 180,-180 as its empty interval),
// except in -180..180, the full circle.
func (b BBox) rect() s2.Rect {
	lat := r1.Interval{Lo: radians(b.MinLat), Hi: radians(b.MaxLat)}
	if b.MinLng == -180 && b.MaxLng == 180 {
		return s2.Rect{Lat: lat, Lng: s1.FullInterval()}
	}
	lo, hi := b.MinLng, b.MaxLng
	if lo == -180 {
		lo = 180
	}
	if hi == -180 {
		hi = 180
	}
	// lo > hi is an inverted interval: the one across the antimeridian.
	return s2.Rect{Lat: lat, Lng: s1.Interval{Lo: radians(lo), Hi: radians(hi)}}
}

func radians(deg float64) float64 { return (s1.Angle(deg) * s1.Degree).Radians() }

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
