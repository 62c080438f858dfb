package geo

import (
	"errors"
	"strings"
	"testing"
)

func TestParseBBox(t *testing.T) {
	tests := []struct {
		desc, in string
		want     BBox
		field    string // the FieldError's field; "-" for an error without one
	}{
		{desc: "munich", in: "11.5,48.1,11.6,48.2", want: BBox{11.5, 48.1, 11.6, 48.2}},
		{desc: "spaces", in: " 11.5 , 48.1,11.6 ,48.2 ", want: BBox{11.5, 48.1, 11.6, 48.2}},
		{desc: "antimeridian", in: "179,-10,-179,10", want: BBox{179, -10, -179, 10}},
		{desc: "world", in: "-180,-90,180,90", want: BBox{-180, -90, 180, 90}},
		{desc: "a point", in: "11.57,48.13,11.57,48.13", want: BBox{11.57, 48.13, 11.57, 48.13}},
		{desc: "three fields", in: "1,2,3", field: "-"},
		{desc: "five fields", in: "1,2,3,4,5", field: "-"},
		{desc: "empty", in: "", field: "-"},
		{desc: "empty minLon", in: ",48.1,11.6,48.2", field: "minLon"},
		{desc: "word", in: "11.5,north,11.6,48.2", field: "minLat"},
		{desc: "NaN", in: "11.5,48.1,NaN,48.2", field: "maxLon"},
		{desc: "Inf", in: "11.5,48.1,11.6,+Inf", field: "maxLat"},
		{desc: "overflow", in: "1e999,48.1,11.6,48.2", field: "minLon"},
		{desc: "lat out of range", in: "11.5,-90.5,11.6,48.2", field: "minLat"},
		{desc: "lon out of range", in: "11.5,48.1,200,48.2", field: "maxLon"},
		{desc: "lat order", in: "11.5,48.3,11.6,48.2", field: "minLat"},
		{desc: "lat first by mistake", in: "48.1,11.5,48.2,11.4", field: "minLat"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			b, err := ParseBBox(tt.in)
			if tt.field == "" {
				if err != nil || b != tt.want {
					t.Fatalf("ParseBBox(%q) = %v, %v; want %v", tt.in, b, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseBBox(%q) = %v, want an error", tt.in, b)
			}
			if !strings.Contains(err.Error(), "bbox") {
				t.Errorf("error %q does not say it is about a bbox", err)
			}
			var fe *FieldError
			if tt.field == "-" {
				if !strings.Contains(err.Error(), "minLon,minLat,maxLon,maxLat") {
					t.Errorf("error %q does not show the form", err)
				}
				return
			}
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("ParseBBox(%q) error %v, want one naming %s", tt.in, err, tt.field)
			}
		})
	}
}

func TestParseBBoxFile(t *testing.T) {
	for _, l := range testdataLines(t, "bboxes.txt") {
		kind, rest := l[0], l[1]
		t.Run(kind+"/"+rest, func(t *testing.T) {
			switch kind {
			case "ok":
				b, err := ParseBBox(rest)
				if err != nil {
					t.Fatal(err)
				}
				if back, err := ParseBBox(b.String()); err != nil || back != b {
					t.Fatalf("round trip via %q: %v, %v", b.String(), back, err)
				}
			case "bad":
				field, in, _ := strings.Cut(rest, " ")
				_, err := ParseBBox(in)
				var fe *FieldError
				switch {
				case err == nil:
					t.Fatalf("ParseBBox(%q): no error", in)
				case field != "-" && (!errors.As(err, &fe) || fe.Field != field):
					t.Fatalf("ParseBBox(%q) = %v, want an error naming %s", in, err, field)
				}
			default:
				t.Fatalf("testdata/bboxes.txt: kind %q", kind)
			}
		})
	}
}

func TestBBoxContains(t *testing.T) {
	tests := []struct {
		desc string
		box  BBox
		in   []LatLng
		out  []LatLng
	}{
		{
			desc: "munich",
			box:  BBox{11.5, 48.1, 11.6, 48.2},
			in:   []LatLng{munich, {48.1, 11.5}, {48.2, 11.6}, {48.1, 11.6}},
			out:  []LatLng{{48.0999, 11.55}, {48.15, 11.6001}, {-48.15, 11.55}, {48.15, -11.55}},
		},
		{
			desc: "across the antimeridian",
			box:  BBox{179, -10, -179, 10},
			in:   []LatLng{{0, 179}, {0, 179.5}, {0, 180}, {0, -180}, {0, -179.5}, {10, -179}},
			out:  []LatLng{{0, 178.9}, {0, -178.9}, {0, 0}, {10.1, 180}},
		},
		{
			desc: "ending at 180",
			box:  BBox{170, 0, 180, 10},
			in:   []LatLng{{5, 180}, {5, -180}, {5, 175}},
			out:  []LatLng{{5, -179.9}, {5, 169}},
		},
		{
			desc: "starting at -180",
			box:  BBox{-180, 0, -170, 10},
			in:   []LatLng{{5, 180}, {5, -180}, {5, -175}},
			out:  []LatLng{{5, 179.9}, {5, -169}},
		},
		{
			desc: "the antimeridian alone",
			box:  BBox{180, -90, -180, 90},
			in:   []LatLng{{0, 180}, {0, -180}, {-45, 180}, {90, 0}},
			out:  []LatLng{{0, 179.9}, {0, -179.9}, {0, 0}},
		},
		{
			desc: "the antimeridian written -180,-180",
			box:  BBox{-180, -10, -180, 10},
			in:   []LatLng{{0, 180}, {0, -180}},
			out:  []LatLng{{0, 179.9}, {0, -179.9}, {11, 180}},
		},
		{
			desc: "reaching the pole",
			box:  BBox{10, 80, 20, 90},
			in:   []LatLng{{90, 0}, {90, 15}, {90, -180}, {85, 15}},
			out:  []LatLng{{-90, 0}, {85, 25}, {85, 0}},
		},
		{
			desc: "world",
			box:  BBox{-180, -90, 180, 90},
			in:   []LatLng{{90, 0}, {-90, 0}, {0, 180}, {0, -180}, munich},
		},
		{
			desc: "invalid points are in no box",
			box:  BBox{-180, -90, 180, 90},
			out:  []LatLng{{91, 0}, {0, 181}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			for _, ll := range tt.in {
				if !tt.box.Contains(ll) {
					t.Errorf("%v does not contain %v", tt.box, ll)
				}
			}
			for _, ll := range tt.out {
				if tt.box.Contains(ll) {
					t.Errorf("%v contains %v", tt.box, ll)
				}
			}
		})
	}
	if !(BBox{179, -10, -179, 10}).CrossesAntimeridian() || (BBox{-179, -10, 179, 10}).CrossesAntimeridian() {
		t.Error("CrossesAntimeridian wrong")
	}
}

func TestBBoxIntersectsCell(t *testing.T) {
	box := BBox{11.5, 48.1, 11.6, 48.2}
	c := mustCell(t, DefaultLevel, munich)
	if !box.IntersectsCell(c) {
		t.Fatalf("%v does not intersect the cell of a point in it", box)
	}
	// A cell straddling the box's edge intersects it though its centre is outside.
	edge := mustCell(t, DefaultLevel, LatLng{48.1, 11.55})
	if box.Contains(edge.Center()) && box.Contains(edge.Corners()[0]) && box.Contains(edge.Corners()[2]) {
		t.Fatalf("cell %v is not on the box's edge", edge)
	}
	if !box.IntersectsCell(edge) {
		t.Fatalf("%v does not intersect %v on its edge", box, edge)
	}
	far := mustCell(t, DefaultLevel, LatLng{52.52, 13.405})
	if box.IntersectsCell(far) || box.IntersectsCell(0) {
		t.Fatalf("%v intersects a Berlin cell or the zero cell", box)
	}
	anti := BBox{179.99, -1, -179.99, 1}
	for _, lng := range []float64{179.995, -179.995} {
		if c := mustCell(t, DefaultLevel, LatLng{0.5, lng}); !anti.IntersectsCell(c) {
			t.Errorf("%v does not intersect the cell at lon %g", anti, lng)
		}
	}
}

func FuzzParseBBox(f *testing.F) {
	for _, l := range testdataLines(f, "bboxes.txt") {
		in := l[1]
		if l[0] == "bad" {
			_, in, _ = strings.Cut(in, " ")
		}
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseBBox(s)
		if err != nil {
			if b != (BBox{}) {
				t.Fatalf("ParseBBox(%q) returned %v with error %v", s, b, err)
			}
			return
		}
		if err := b.Validate(); err != nil {
			t.Fatalf("ParseBBox(%q) = %v, which does not validate: %v", s, b, err)
		}
		back, err := ParseBBox(b.String())
		if err != nil || back != b {
			t.Fatalf("round trip %q → %q: %v, %v", s, b.String(), back, err)
		}
		// The box contains its own corners, across the antimeridian too.
		for _, ll := range []LatLng{{b.MinLat, b.MinLng}, {b.MaxLat, b.MaxLng}} {
			if !b.Contains(ll) {
				t.Fatalf("%v does not contain its corner %v", b, ll)
			}
		}
	})
}
