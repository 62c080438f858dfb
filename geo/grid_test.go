package geo

import (
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/golang/geo/s2"
)

func TestNewGrid(t *testing.T) {
	for _, level := range []int{0, 1, DefaultLevel, MaxLevel} {
		g, err := NewGrid(level)
		if err != nil || g.Level() != level {
			t.Errorf("NewGrid(%d) = level %d, %v", level, g.Level(), err)
		}
	}
	for _, level := range []int{-1, MaxLevel + 1, 30, 1000} {
		if _, err := NewGrid(level); err == nil || !strings.Contains(err.Error(), "0 to 24") {
			t.Errorf("NewGrid(%d): error %v, want one naming the range", level, err)
		}
	}
}

func TestZeroGrid(t *testing.T) {
	var g Grid
	if g.Level() != -1 || g.AvgEdgeM() != 0 {
		t.Fatalf("zero Grid: level %d, edge %g", g.Level(), g.AvgEdgeM())
	}
	if c, err := g.Cell(munich.Lat, munich.Lng); err == nil {
		t.Fatalf("zero Grid gave cell %v", c)
	}
	if cs, err := g.Cover(BBox{11, 48, 12, 49}, 10); err == nil {
		t.Fatalf("zero Grid covered with %v", cs)
	}
}

func TestGridCellLevels(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for level := 0; level <= MaxLevel; level++ {
		g := mustGrid(t, level)
		for range 500 {
			ll := randomLatLng(r)
			c, err := g.Cell(ll.Lat, ll.Lng)
			if err != nil {
				t.Fatal(err)
			}
			if c.Level() != level || !c.Contains(ll) {
				t.Fatalf("level %d: Cell(%v) = %v of level %d, contains %v", level, ll, c, c.Level(), c.Contains(ll))
			}
			if want := Cell(s2.CellIDFromLatLng(s2.LatLngFromDegrees(ll.Lat, ll.Lng)).Parent(level)); c != want && ll.Lng != -180 {
				t.Fatalf("level %d: Cell(%v) = %v, S2 says %v", level, ll, c, want)
			}
			if c2, _ := g.CellOf(ll); c2 != c {
				t.Fatalf("CellOf = %v, Cell = %v", c2, c)
			}
		}
	}
}

func TestGridCellErrors(t *testing.T) {
	g := mustGrid(t, DefaultLevel)
	tests := []struct {
		desc     string
		lat, lng float64
		field    string
	}{
		{"lat NaN", math.NaN(), 11, "lat"},
		{"lon NaN", 48, math.NaN(), "lon"},
		{"lat +Inf", math.Inf(1), 11, "lat"},
		{"lon -Inf", 48, math.Inf(-1), "lon"},
		{"lat 90.5", 90.5, 11, "lat"},
		{"lon -180.5", 48, -180.5, "lon"},
		{"lat and lon swapped", 11.57, 480.13, "lon"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			c, err := g.Cell(tt.lat, tt.lng)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("Cell(%v, %v) = %v, %v; want a FieldError for %s", tt.lat, tt.lng, c, err, tt.field)
			}
			if c != 0 {
				t.Fatalf("Cell returned %v with its error", c)
			}
		})
	}
}

func TestGridPoles(t *testing.T) {
	for _, lat := range []float64{90, -90} {
		for _, level := range []int{0, 2, DefaultLevel, MaxLevel} {
			g := mustGrid(t, level)
			first, err := g.Cell(lat, 0)
			if err != nil {
				t.Fatal(err)
			}
			pole := LatLng{lat, 0}
			if !first.Contains(pole) {
				t.Fatalf("lat %g level %d: cell %v does not contain the pole", lat, level, first)
			}
			for _, lng := range []float64{-180, -135, -90, -0.000001, 45, 90, 179.999, 180} {
				c, err := g.Cell(lat, lng)
				if err != nil || c != first {
					t.Fatalf("lat %g level %d lon %g: cell %v, %v; want %v as at lon 0", lat, level, lng, c, err, first)
				}
			}
			if d := first.Center().DistanceM(pole); level >= 2 && d > 2*first.EdgeM() {
				t.Fatalf("lat %g level %d: centre %g m from the pole, cells are %g m", lat, level, d, first.EdgeM())
			}
		}
	}
}

// TestGridAntimeridian: longitudes 180 and -180 are one place. Without
// normalizing, S2 puts them in different cells wherever the antimeridian is
// a cell boundary (the equator at 180 is a cube-face corner's edge).
func TestGridAntimeridian(t *testing.T) {
	for _, level := range []int{1, DefaultLevel, MaxLevel} {
		g := mustGrid(t, level)
		for _, lat := range []float64{-89.9, -45, -10, 0, 10, 48.13, 89.9} {
			east, err1 := g.Cell(lat, 180)
			west, err2 := g.Cell(lat, -180)
			if err1 != nil || err2 != nil || east != west {
				t.Errorf("level %d lat %g: lon 180 → %v, lon -180 → %v (%v, %v)", level, lat, east, west, err1, err2)
			}
			if !east.Contains(LatLng{lat, -180}) || !east.Contains(LatLng{lat, 180}) {
				t.Errorf("level %d lat %g: cell %v does not contain both spellings", level, lat, east)
			}
		}
	}
	// The normalization matters: S2 alone splits these.
	a := s2.CellIDFromLatLng(s2.LatLngFromDegrees(10, 180)).Parent(DefaultLevel)
	b := s2.CellIDFromLatLng(s2.LatLngFromDegrees(10, -180)).Parent(DefaultLevel)
	if a == b {
		t.Fatal("S2 gives one cell for lon ±180 at lat 10: pick a latitude where it does not")
	}
}

func TestGridCellAllocs(t *testing.T) {
	g := mustGrid(t, DefaultLevel)
	var sink Cell
	allocs := testing.AllocsPerRun(1000, func() {
		c, err := g.Cell(munich.Lat, munich.Lng)
		if err != nil {
			t.Fatal(err)
		}
		sink ^= c
	})
	if allocs != 0 {
		t.Fatalf("Grid.Cell: %g allocations, want 0", allocs)
	}
	_ = sink
}

// BenchmarkGridCell measures the agent's hot path: a GPS fix to its cell.
func BenchmarkGridCell(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	fixes := make([]LatLng, 4096)
	for i := range fixes {
		fixes[i] = randomLatLng(r)
	}
	for _, level := range []int{DefaultLevel, MaxLevel} {
		b.Run("level="+strconv.Itoa(level), func(b *testing.B) {
			g := mustGrid(b, level)
			b.ReportAllocs()
			var sink Cell
			i := 0
			for b.Loop() {
				ll := fixes[i&(len(fixes)-1)]
				c, err := g.Cell(ll.Lat, ll.Lng)
				if err != nil {
					b.Fatal(err)
				}
				sink ^= c
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "fixes/s")
			_ = sink
		})
	}
}
