package geo

import (
	"fmt"

	"github.com/golang/geo/s2"
)

// MaxZoneRadiusM bounds a zone's radius: 100 km is a city with its suburbs.
// A larger radius is almost surely a unit mistake (kilometres written as
// metres), and a zone that wide would silence a vehicle for whole trips.
const MaxZoneRadiusM = 100_000.0

// zoneSlackM widens every zone by 1 cm so that a position computed to lie
// exactly at the radius is inside despite rounding: privacy errs on the
// side of silence.
const zoneSlackM = 0.01

// Zone is a privacy zone: a place (a home, a depot) and a radius around it
// inside which no position leaves the vehicle, not even a cell. Trips end at
// such places, and the end of a trip cannot be known in real time without
// delaying every position, so zones are what keeps where a trip ends private.
type Zone struct {
	Name    string  `yaml:"name"`     // names the zone in the agent's own logs; never sent
	Lat     float64 `yaml:"lat"`      // centre, degrees north
	Lng     float64 `yaml:"lon"`      // centre, degrees east
	RadiusM float64 `yaml:"radius_m"` // metres, great-circle; more than 0, at most MaxZoneRadiusM
}

// Validate reports the first bad field of z, named as in the config file
// ("name", "lat", "lon", "radius_m"). Every field is required: a zone at
// latitude 0, longitude 0 is a missing centre far more often than a place in
// the Gulf of Guinea, so the centre 0,0 is refused.
func (z Zone) Validate() error {
	switch {
	case z.Name == "":
		return &FieldError{Field: "name", Reason: "required"}
	case z.Lat == 0 && z.Lng == 0:
		return &FieldError{Field: "lat", Reason: "lat and lon are both 0: the centre is missing"}
	}
	if err := (LatLng{z.Lat, z.Lng}).Validate(); err != nil {
		return err
	}
	if !(z.RadiusM > 0 && z.RadiusM <= MaxZoneRadiusM) {
		return &FieldError{Field: "radius_m", Reason: fmt.Sprintf("%s, want more than 0 and at most %s metres", ftoa(z.RadiusM), ftoa(MaxZoneRadiusM))}
	}
	return nil
}

// Zones is a validated set of privacy zones. The zero Zones has none, and
// then Contains and Overlaps are always false. A Zones is read-only after
// NewZones: share it between goroutines freely.
type Zones struct {
	zones []zone
}

type zone struct {
	name string
	cap  s2.Cap // the zone's disc, widened by zoneSlackM
}

// NewZones validates zs and returns them ready for the per-position tests.
// An error names the zone by index and name, and the field; two zones with
// one name are an error, as they would be indistinguishable in logs.
func NewZones(zs []Zone) (Zones, error) {
	out := Zones{zones: make([]zone, 0, len(zs))}
	seen := make(map[string]int, len(zs))
	for i, z := range zs {
		if err := z.Validate(); err != nil {
			return Zones{}, fmt.Errorf("zone %d %q: %w", i, z.Name, err)
		}
		if j, dup := seen[z.Name]; dup {
			return Zones{}, fmt.Errorf("zone %d %q: %w", i, z.Name, &FieldError{Field: "name", Reason: fmt.Sprintf("also the name of zone %d", j)})
		}
		seen[z.Name] = i
		centre := LatLng{z.Lat, z.Lng}.point()
		out.zones = append(out.zones, zone{name: z.Name, cap: s2.CapFromCenterAngle(centre, angleM(z.RadiusM+zoneSlackM))})
	}
	return out, nil
}

// Len returns the number of zones.
func (zs Zones) Len() int { return len(zs.zones) }

// Contains reports whether the position (degrees) lies in a zone, by
// great-circle distance, the radius included, and names the first such zone.
// It runs for every GPS fix and does not allocate. An invalid position (see
// LatLng.Validate) is in no zone; Grid.Cell refuses it anyway.
func (zs Zones) Contains(lat, lng float64) (name string, inside bool) {
	if len(zs.zones) == 0 || (LatLng{lat, lng}).Validate() != nil {
		return "", false
	}
	p := LatLng{lat, lng}.point()
	for _, z := range zs.zones {
		if z.cap.ContainsPoint(p) {
			return z.name, true
		}
	}
	return "", false
}

// Overlaps reports whether any part of c lies in a zone, and names the first
// such zone. A position just outside a zone can fall in a cell that covers
// the zone's centre; sending that cell reveals the zone's area as surely as
// the position would. The agent may suppress such cells as well.
func (zs Zones) Overlaps(c Cell) (name string, overlaps bool) {
	if len(zs.zones) == 0 || !c.Valid() {
		return "", false
	}
	sc := s2.CellFromCellID(s2.CellID(c))
	for _, z := range zs.zones {
		if z.cap.IntersectsCell(sc) {
			return z.name, true
		}
	}
	return "", false
}
