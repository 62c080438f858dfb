package geo

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestLatLngValidate(t *testing.T) {
	tests := []struct {
		desc  string
		ll    LatLng
		field string // "" when valid
		says  string
	}{
		{desc: "munich", ll: munich},
		{desc: "north pole", ll: LatLng{90, 0}},
		{desc: "south pole", ll: LatLng{-90, 180}},
		{desc: "antimeridian east", ll: LatLng{0, 180}},
		{desc: "antimeridian west", ll: LatLng{0, -180}},
		{desc: "lat NaN", ll: LatLng{math.NaN(), 0}, field: "lat", says: "NaN"},
		{desc: "lat +Inf", ll: LatLng{math.Inf(1), 0}, field: "lat", says: "+Inf"},
		{desc: "lon -Inf", ll: LatLng{0, math.Inf(-1)}, field: "lon", says: "-Inf"},
		{desc: "lon NaN", ll: LatLng{0, math.NaN()}, field: "lon", says: "NaN"},
		{desc: "lat above 90", ll: LatLng{90.000001, 0}, field: "lat", says: "90.000001 out of range [-90, 90]"},
		{desc: "lat below -90", ll: LatLng{-91, 0}, field: "lat", says: "-91 out of range"},
		{desc: "lon above 180", ll: LatLng{0, 180.5}, field: "lon", says: "180.5 out of range [-180, 180]"},
		{desc: "lon below -180", ll: LatLng{0, -360}, field: "lon", says: "-360 out of range"},
		{desc: "raw GPS sentinel", ll: LatLng{214.7483647, 0}, field: "lat", says: "214.7483647"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			err := tt.ll.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate(%v): %v", tt.ll, err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("Validate(%v) = %v, want a FieldError for %s saying %q", tt.ll, err, tt.field, tt.says)
			}
		})
	}
}

func TestDistanceM(t *testing.T) {
	tests := []struct {
		desc string
		a, b LatLng
		want float64 // metres
		tol  float64
	}{
		{desc: "same place", a: munich, b: munich, want: 0, tol: 0},
		{desc: "one degree of latitude", a: LatLng{48, 11}, b: LatLng{49, 11}, want: EarthRadiusM * math.Pi / 180, tol: 1e-6},
		{desc: "across the antimeridian", a: LatLng{0, 179.5}, b: LatLng{0, -179.5}, want: EarthRadiusM * math.Pi / 180, tol: 1e-6},
		{desc: "pole to pole", a: LatLng{90, 0}, b: LatLng{-90, 0}, want: EarthRadiusM * math.Pi, tol: 1e-3},
		{desc: "munich to berlin", a: munich, b: LatLng{52.52, 13.405}, want: 504_000, tol: 2_000},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := tt.a.DistanceM(tt.b); math.Abs(got-tt.want) > tt.tol {
				t.Fatalf("DistanceM = %.6f, want %.6f ± %g", got, tt.want, tt.tol)
			}
			if got, back := tt.a.DistanceM(tt.b), tt.b.DistanceM(tt.a); got != back {
				t.Fatalf("DistanceM not symmetric: %g and %g", got, back)
			}
		})
	}
}

func TestLatLngString(t *testing.T) {
	if s := (LatLng{48.137154, -11.5}).String(); s != "48.137154,-11.5" {
		t.Fatalf("String = %q", s)
	}
}
