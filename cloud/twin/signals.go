package twin

import (
	"fmt"
	"strings"
	"time"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/geo"
)

// Catalog paths the twin follows. Their ids are looked up in the catalog
// (NewSignals), never written down: the catalog is the contract.
const (
	PathSpeed    = "Vehicle.Speed"
	PathCell     = "Vehicle.Kanal.Location.Cell"
	PathFogFront = "Vehicle.Body.Lights.Fog.Front.IsOn"
	PathFogRear  = "Vehicle.Body.Lights.Fog.Rear.IsOn"
	PathHazard   = "Vehicle.Body.Lights.Hazard.IsSignaling"
	PathWipers   = "Vehicle.Body.Windshield.Front.Wiping.Mode"

	// LampPrefix and LampSuffix frame every warning lamp's path:
	// Vehicle.Kanal.Warning.<Lamp>.IsOn.
	LampPrefix = "Vehicle.Kanal.Warning."
	LampSuffix = ".IsOn"
)

// LampName returns the short name of a warning lamp's catalog path
// (ABS for Vehicle.Kanal.Warning.ABS.IsOn), or false for another path.
func LampName(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, LampPrefix)
	if !ok {
		return "", false
	}
	name, ok := strings.CutSuffix(rest, LampSuffix)
	if !ok || name == "" || strings.Contains(name, ".") {
		return "", false
	}
	return name, true
}

// LampPath returns the catalog path of the lamp with short name name.
func LampPath(name string) string { return LampPrefix + name + LampSuffix }

// Field says which part of a twin a value changed.
type Field uint8

// The fields of a Change.
const (
	FieldNone    Field = iota // the value's signal is not one the twin follows
	FieldInvalid              // a followed signal with a value that does not fit it; ignored
	FieldCell
	FieldFogFront
	FieldFogRear
	FieldHazard
	FieldWipers
	FieldSpeed
	FieldLamp
)

// Change is what applying one value did to a twin.
type Change struct {
	Field Field
	// Lamp is the lamp's short name for FieldLamp.
	Lamp string
	// Changed reports a new value; a report of the same value (or an older
	// report) leaves it false.
	Changed bool
}

// Signals maps the catalog ids of the signals a twin follows to its
// fields. It is immutable and safe for concurrent use.
type Signals struct {
	speed, cell, fogFront, fogRear, hazard, wipers uint32
	wiperEntry                                     *catalog.Entry
	lamps                                          map[uint32]string // id → short name
}

// NewSignals looks the twin's signals up in cat by path. Every path above
// must be in it with the type the twin expects, and at least one lamp.
func NewSignals(cat *catalog.Catalog) (*Signals, error) {
	s := &Signals{lamps: map[uint32]string{}}
	for _, f := range []struct {
		path string
		typ  catalog.Type
		id   *uint32
	}{
		{PathSpeed, catalog.Float, &s.speed},
		{PathCell, catalog.Cell, &s.cell},
		{PathFogFront, catalog.Bool, &s.fogFront},
		{PathFogRear, catalog.Bool, &s.fogRear},
		{PathHazard, catalog.Bool, &s.hazard},
		{PathWipers, catalog.Enum, &s.wipers},
	} {
		e, ok := cat.ByPath(f.path)
		if !ok {
			return nil, fmt.Errorf("twin signals: catalog has no %s", f.path)
		}
		if e.Type != f.typ {
			return nil, fmt.Errorf("twin signals: %s is %s in the catalog, want %s", f.path, e.Type, f.typ)
		}
		*f.id = e.ID
	}
	s.wiperEntry, _ = cat.ByPath(PathWipers)
	for i := range cat.Entries() {
		e := &cat.Entries()[i]
		if name, ok := LampName(e.Path); ok && e.Type == catalog.Bool {
			s.lamps[e.ID] = name
		}
	}
	if len(s.lamps) == 0 {
		return nil, fmt.Errorf("twin signals: catalog has no %s*%s lamps", LampPrefix, LampSuffix)
	}
	return s, nil
}

// Lamps returns the short names of the warning lamps the catalog has.
func (s *Signals) Lamps() []string {
	out := make([]string, 0, len(s.lamps))
	for _, n := range s.lamps {
		out = append(out, n)
	}
	return out
}

// Apply applies one value to t, at the value's own time, and says what it
// changed. Values of other signals return FieldNone and leave t as it was;
// they still advance Seen, since they are reports of a living vehicle.
func (s *Signals) Apply(t *Twin, v catalog.Value) Change {
	at := time.Unix(0, v.Time).UTC()
	t.seen(at)
	switch v.ID {
	case s.cell:
		c, err := geo.CellFromFloat64(v.Num)
		if err != nil {
			return Change{Field: FieldInvalid}
		}
		return Change{Field: FieldCell, Changed: t.Cell.Set(c.Token(), at)}
	case s.fogFront:
		return setBool(&t.FogFront, v.Num, at, FieldFogFront)
	case s.fogRear:
		return setBool(&t.FogRear, v.Num, at, FieldFogRear)
	case s.hazard:
		return setBool(&t.Hazard, v.Num, at, FieldHazard)
	case s.wipers:
		mode, ok := s.wiperEntry.Label(v.Num)
		if !ok {
			return Change{Field: FieldInvalid}
		}
		return Change{Field: FieldWipers, Changed: t.Wipers.Set(mode, at)}
	case s.speed:
		band := SpeedBand(v.Num)
		if band == "" {
			return Change{Field: FieldInvalid}
		}
		return Change{Field: FieldSpeed, Changed: t.Speed.Set(band, at)}
	}
	name, ok := s.lamps[v.ID]
	if !ok {
		return Change{}
	}
	if v.Num != 0 && v.Num != 1 {
		return Change{Field: FieldInvalid, Lamp: name}
	}
	if t.Lamps == nil {
		t.Lamps = map[string]Reading[bool]{}
	}
	r := t.Lamps[name]
	changed := r.Set(v.Num == 1, at)
	t.Lamps[name] = r
	return Change{Field: FieldLamp, Lamp: name, Changed: changed}
}

func setBool(r *Reading[bool], num float64, at time.Time, f Field) Change {
	if num != 0 && num != 1 {
		return Change{Field: FieldInvalid}
	}
	return Change{Field: f, Changed: r.Set(num == 1, at)}
}
