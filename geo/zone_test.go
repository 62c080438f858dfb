package geo

import (
	"errors"
	"math"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// home is a zone of 300 m around a point in Munich.
var home = Zone{Name: "home", Lat: 48.137154, Lng: 11.576124, RadiusM: 300}

// offset returns the point d metres from ll in the direction of bearing
// (degrees clockwise from north), on the sphere of EarthRadiusM.
func offset(ll LatLng, d, bearing float64) LatLng {
	rad := math.Pi / 180
	lat1, lng1, b := ll.Lat*rad, ll.Lng*rad, bearing*rad
	a := d / EarthRadiusM
	lat2 := math.Asin(math.Sin(lat1)*math.Cos(a) + math.Cos(lat1)*math.Sin(a)*math.Cos(b))
	lng2 := lng1 + math.Atan2(math.Sin(b)*math.Sin(a)*math.Cos(lat1), math.Cos(a)-math.Sin(lat1)*math.Sin(lat2))
	lng := math.Remainder(lng2/rad, 360)
	return LatLng{Lat: lat2 / rad, Lng: lng}
}

func TestZoneValidate(t *testing.T) {
	tests := []struct {
		desc  string
		z     Zone
		field string // "" when valid
	}{
		{desc: "home", z: home},
		{desc: "largest", z: Zone{Name: "city", Lat: 1, Lng: 1, RadiusM: MaxZoneRadiusM}},
		{desc: "pole", z: Zone{Name: "station", Lat: -90, Lng: 0, RadiusM: 50}},
		{desc: "no name", z: Zone{Lat: 48, Lng: 11, RadiusM: 100}, field: "name"},
		{desc: "no centre", z: Zone{Name: "home", RadiusM: 100}, field: "lat"},
		{desc: "lat NaN", z: Zone{Name: "home", Lat: math.NaN(), Lng: 11, RadiusM: 100}, field: "lat"},
		{desc: "lat out of range", z: Zone{Name: "home", Lat: 148, Lng: 11, RadiusM: 100}, field: "lat"},
		{desc: "lon out of range", z: Zone{Name: "home", Lat: 48, Lng: 211, RadiusM: 100}, field: "lon"},
		{desc: "no radius", z: Zone{Name: "home", Lat: 48, Lng: 11}, field: "radius_m"},
		{desc: "negative radius", z: Zone{Name: "home", Lat: 48, Lng: 11, RadiusM: -5}, field: "radius_m"},
		{desc: "NaN radius", z: Zone{Name: "home", Lat: 48, Lng: 11, RadiusM: math.NaN()}, field: "radius_m"},
		{desc: "radius in the wrong unit", z: Zone{Name: "home", Lat: 48, Lng: 11, RadiusM: 300_000}, field: "radius_m"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			err := tt.z.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("Validate() = %v, want a FieldError for %s", err, tt.field)
			}
		})
	}
}

func TestNewZonesErrors(t *testing.T) {
	tests := []struct {
		desc  string
		zs    []Zone
		says  []string
		field string
	}{
		{
			desc:  "bad second zone",
			zs:    []Zone{home, {Name: "depot", Lat: 48, Lng: 11, RadiusM: 0}},
			says:  []string{"zone 1", `"depot"`, "radius_m"},
			field: "radius_m",
		},
		{
			desc:  "two zones named alike",
			zs:    []Zone{home, {Name: "depot", Lat: 48, Lng: 11, RadiusM: 10}, {Name: "home", Lat: 47, Lng: 10, RadiusM: 10}},
			says:  []string{"zone 2", `"home"`, "zone 0"},
			field: "name",
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			zs, err := NewZones(tt.zs)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("NewZones: %v, want a FieldError for %s", err, tt.field)
			}
			for _, s := range tt.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %s", err, s)
				}
			}
			if zs.Len() != 0 {
				t.Errorf("NewZones returned %d zones with its error", zs.Len())
			}
		})
	}
}

func TestZonesContains(t *testing.T) {
	zs, err := NewZones([]Zone{home, {Name: "pole", Lat: 90, Lng: 0, RadiusM: 1000},
		{Name: "ferry", Lat: -16.5, Lng: 179.9995, RadiusM: 200}})
	if err != nil {
		t.Fatal(err)
	}
	centre := LatLng{home.Lat, home.Lng}
	tests := []struct {
		desc string
		at   LatLng
		want string // zone name, "" for none
	}{
		{desc: "centre", at: centre, want: "home"},
		{desc: "1 m inside", at: offset(centre, 299, 0), want: "home"},
		{desc: "at the radius north", at: offset(centre, 300, 0), want: "home"},
		{desc: "at the radius east", at: offset(centre, 300, 90), want: "home"},
		{desc: "at the radius south-west", at: offset(centre, 300, 225), want: "home"},
		{desc: "5 cm outside", at: offset(centre, 300.05, 0), want: ""},
		{desc: "1 m outside east", at: offset(centre, 301, 90), want: ""},
		{desc: "Marienplatz, 500 m away", at: munich, want: ""},
		{desc: "the pole itself", at: LatLng{90, 123}, want: "pole"},
		{desc: "near the pole on another meridian", at: LatLng{89.995, -170}, want: "pole"},
		{desc: "across the antimeridian", at: LatLng{-16.5, -179.9995}, want: "ferry"},
		{desc: "west of the ferry zone", at: LatLng{-16.5, 179.99}, want: ""},
		{desc: "invalid position", at: LatLng{math.NaN(), 11}, want: ""},
		{desc: "out of range", at: LatLng{48.137154, 371.576124}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if d := tt.at.DistanceM(centre); strings.Contains(tt.desc, "radius") && math.Abs(d-300) > 1e-6 {
				t.Fatalf("test point %g m from the centre, want 300", d)
			}
			name, inside := zs.Contains(tt.at.Lat, tt.at.Lng)
			if name != tt.want || inside != (tt.want != "") {
				t.Fatalf("Contains(%v) = %q, %v; want %q", tt.at, name, inside, tt.want)
			}
		})
	}
}

func TestZonesRadiusSweep(t *testing.T) {
	// Against LatLng.DistanceM in every direction and many radii.
	for _, r := range []float64{1, 10, 300, 5_000, MaxZoneRadiusM} {
		for _, lat := range []float64{-80, 0, 48.1, 89.9} {
			z := Zone{Name: "z", Lat: lat, Lng: 170, RadiusM: r}
			zs, err := NewZones([]Zone{z})
			if err != nil {
				t.Fatal(err)
			}
			for bearing := 0.0; bearing < 360; bearing += 7.5 {
				in, out := offset(LatLng{lat, 170}, r*0.999, bearing), offset(LatLng{lat, 170}, r*1.001+0.02, bearing)
				if _, ok := zs.Contains(in.Lat, in.Lng); !ok {
					t.Fatalf("radius %g lat %g bearing %g: point %g m away is outside", r, lat, bearing, in.DistanceM(LatLng{lat, 170}))
				}
				if _, ok := zs.Contains(out.Lat, out.Lng); ok {
					t.Fatalf("radius %g lat %g bearing %g: point %g m away is inside", r, lat, bearing, out.DistanceM(LatLng{lat, 170}))
				}
			}
		}
	}
}

func TestZonesOverlaps(t *testing.T) {
	g := mustGrid(t, DefaultLevel)
	c, _ := g.CellOf(munich)
	// A zone just outside c: its centre 50 m beyond the middle of an edge.
	corners := c.Corners()
	mid := LatLng{(corners[0].Lat + corners[1].Lat) / 2, (corners[0].Lng + corners[1].Lng) / 2}
	away := offset(mid, 50, bearingFrom(c.Center(), mid))
	if c.Contains(away) {
		t.Fatalf("test zone centre %v is inside %v", away, c)
	}
	tests := []struct {
		desc   string
		zone   Zone
		cell   Cell
		want   bool
		inside bool // whether the zone contains the cell's centre
	}{
		{desc: "zone around the cell's centre", zone: Zone{Name: "a", Lat: c.Center().Lat, Lng: c.Center().Lng, RadiusM: 10}, cell: c, want: true, inside: true},
		{desc: "zone over the edge", zone: Zone{Name: "b", Lat: away.Lat, Lng: away.Lng, RadiusM: 100}, cell: c, want: true},
		{desc: "zone short of the edge", zone: Zone{Name: "c", Lat: away.Lat, Lng: away.Lng, RadiusM: 30}, cell: c, want: false},
		{desc: "zone covering the whole cell", zone: Zone{Name: "d", Lat: munich.Lat, Lng: munich.Lng, RadiusM: 5000}, cell: c, want: true, inside: true},
		{desc: "far away", zone: Zone{Name: "e", Lat: 52.52, Lng: 13.405, RadiusM: 5000}, cell: c, want: false},
		{desc: "the zero cell", zone: home, cell: 0, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			zs, err := NewZones([]Zone{tt.zone})
			if err != nil {
				t.Fatal(err)
			}
			name, ok := zs.Overlaps(tt.cell)
			if ok != tt.want || (ok && name != tt.zone.Name) {
				t.Fatalf("Overlaps(%v) = %q, %v; want %v", tt.cell, name, ok, tt.want)
			}
			if tt.cell != 0 {
				if _, in := zs.Contains(tt.cell.Center().Lat, tt.cell.Center().Lng); in != tt.inside {
					t.Fatalf("Contains(centre) = %v, want %v", in, tt.inside)
				}
			}
		})
	}
	// The cell of a position just outside a zone can reveal the zone.
	zs, _ := NewZones([]Zone{home})
	edge := offset(LatLng{home.Lat, home.Lng}, 310, 90)
	if _, in := zs.Contains(edge.Lat, edge.Lng); in {
		t.Fatal("310 m from a 300 m zone is inside")
	}
	if ec, _ := g.CellOf(edge); !func() bool { _, ok := zs.Overlaps(ec); return ok }() {
		t.Fatalf("the cell %v of a point 10 m outside the zone does not overlap it", ec)
	}
}

// bearingFrom returns the initial bearing in degrees from a to b.
func bearingFrom(a, b LatLng) float64 {
	rad := math.Pi / 180
	y := math.Sin((b.Lng-a.Lng)*rad) * math.Cos(b.Lat*rad)
	x := math.Cos(a.Lat*rad)*math.Sin(b.Lat*rad) - math.Sin(a.Lat*rad)*math.Cos(b.Lat*rad)*math.Cos((b.Lng-a.Lng)*rad)
	return math.Atan2(y, x) / rad
}

func TestZeroZones(t *testing.T) {
	var zs Zones
	if zs.Len() != 0 {
		t.Fatal("zero Zones has zones")
	}
	if _, in := zs.Contains(home.Lat, home.Lng); in {
		t.Fatal("zero Zones contains a point")
	}
	if _, ok := zs.Overlaps(mustCell(t, DefaultLevel, munich)); ok {
		t.Fatal("zero Zones overlaps a cell")
	}
	empty, err := NewZones(nil)
	if err != nil || empty.Len() != 0 {
		t.Fatalf("NewZones(nil) = %d zones, %v", empty.Len(), err)
	}
}

func TestZonesContainsAllocs(t *testing.T) {
	zs, err := NewZones([]Zone{home, {Name: "depot", Lat: 48.2, Lng: 11.6, RadiusM: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(1000, func() { zs.Contains(munich.Lat, munich.Lng) }); a != 0 {
		t.Fatalf("Contains: %g allocations, want 0", a)
	}
}

func TestZonesYAML(t *testing.T) {
	data, err := os.ReadFile("testdata/zones.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var list []Zone
	if err := yaml.Unmarshal(data, &list); err != nil {
		t.Fatal(err)
	}
	want := []Zone{home, {Name: "depot", Lat: -33.868820, Lng: 151.209296, RadiusM: 1500},
		{Name: "dateline-ferry", Lat: -16.5, Lng: 179.9995, RadiusM: 200}}
	if len(list) != len(want) {
		t.Fatalf("%d zones, want %d", len(list), len(want))
	}
	for i := range want {
		if list[i] != want[i] {
			t.Errorf("zone %d = %+v, want %+v", i, list[i], want[i])
		}
	}
	if _, err := NewZones(list); err != nil {
		t.Fatal(err)
	}
}

func TestZonesYAMLErrors(t *testing.T) {
	data, err := os.ReadFile("testdata/zones_bad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var list []Zone
	err = yaml.Unmarshal(data, &list)
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		t.Fatalf("Unmarshal: %v, want a *yaml.TypeError", err)
	}
	// Every mistake, each with its line.
	want := []string{
		`line 4: zone: unknown key "lng"`,
		`line 2: zone: lon is required`,
		"line 7: cannot unmarshal !!str `north` into float64 (zone lat)",
		`line 13: zone "far": radius_m: 200000`,
		`line 17: zone: radius_m given twice (also line 16)`,
		`line 14: zone: name is required`,
		`line 18: zone: want a mapping`,
	}
	got := strings.Join(te.Errors, "\n")
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("errors lack %q:\n%s", w, got)
		}
	}
	if len(te.Errors) != len(want) {
		t.Errorf("%d errors, want %d:\n%s", len(te.Errors), len(want), got)
	}
}

func FuzzZoneYAML(f *testing.F) {
	for _, name := range []string{"testdata/zones.yaml", "testdata/zones_bad.yaml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data))
	}
	f.Add("name: x\nlat: 1\nlon: 2\nradius_m: 3\n")
	f.Fuzz(func(t *testing.T, s string) {
		var z Zone
		if err := yaml.Unmarshal([]byte(s), &z); err != nil {
			return
		}
		if z == (Zone{}) {
			return // an empty document leaves z alone
		}
		if err := z.Validate(); err != nil {
			t.Fatalf("UnmarshalYAML accepted %+v, which does not validate: %v", z, err)
		}
	})
}

func BenchmarkZonesContains(b *testing.B) {
	zs, err := NewZones([]Zone{home, {Name: "depot", Lat: 48.2, Lng: 11.6, RadiusM: 1000},
		{Name: "parents", Lat: 47.9, Lng: 12.1, RadiusM: 200}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		zs.Contains(munich.Lat, munich.Lng)
	}
}
