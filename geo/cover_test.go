package geo

import (
	"errors"
	"runtime"
	"slices"
	"testing"

	"github.com/golang/geo/s2"
)

// munichBox is about 2 by 2 km around Marienplatz.
var munichBox = BBox{MinLng: 11.555, MinLat: 48.12, MaxLng: 11.585, MaxLat: 48.14}

func TestCoverMunich(t *testing.T) {
	g := mustGrid(t, DefaultLevel)
	cells, err := g.Cover(munichBox, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(cells) < 4 || len(cells) > 16 {
		t.Fatalf("%d cells for a 2 km box of 1 km cells: %v", len(cells), cells)
	}
	if !slices.IsSorted(cells) {
		t.Fatalf("cells not sorted: %v", cells)
	}
	// Every point of the box falls in a cell of the cover: a 50 × 50 sample,
	// edges and corners included.
	const n = 50
	used := map[Cell]bool{}
	for i := 0; i <= n; i++ {
		for j := 0; j <= n; j++ {
			ll := LatLng{
				Lat: munichBox.MinLat + (munichBox.MaxLat-munichBox.MinLat)*float64(i)/n,
				Lng: munichBox.MinLng + (munichBox.MaxLng-munichBox.MinLng)*float64(j)/n,
			}
			c, err := g.CellOf(ll)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := slices.BinarySearch(cells, c); !ok {
				t.Fatalf("%v lies in %v, which is not in the cover %v", ll, c, cells)
			}
			used[c] = true
		}
	}
	// And every cell of the cover intersects the box (none is spare): with
	// this sample, each holds a sampled point.
	for _, c := range cells {
		if c.Level() != DefaultLevel || !munichBox.IntersectsCell(c) {
			t.Fatalf("cell %v of level %d does not intersect the box", c, c.Level())
		}
		if !used[c] {
			t.Errorf("cell %v of the cover holds no sampled point", c)
		}
	}
}

// TestCoverAsRegionCoverer: Cover gives what s2.RegionCoverer gives with
// MinLevel = MaxLevel = the grid level, for boxes it can afford.
func TestCoverAsRegionCoverer(t *testing.T) {
	boxes := []struct {
		desc  string
		box   BBox
		level int
	}{
		{"munich", munichBox, DefaultLevel},
		{"munich fine", munichBox, 15},
		{"antimeridian", BBox{179.98, -0.01, -179.98, 0.01}, DefaultLevel},
		{"north pole", BBox{-180, 89.99, 180, 90}, DefaultLevel},
		{"south pole sector", BBox{10, -90, 40, -89.95}, DefaultLevel},
		{"cube corner", BBox{44.99, 35.25, 45.01, 35.28}, DefaultLevel},
		{"equator", BBox{-0.02, -0.01, 0.02, 0.01}, DefaultLevel},
		{"a point", BBox{11.57, 48.13, 11.57, 48.13}, DefaultLevel},
		{"world at level 2", BBox{-180, -90, 180, 90}, 2},
		{"bavaria at level 8", BBox{9, 47.3, 13.8, 50.5}, 8},
	}
	for _, tt := range boxes {
		t.Run(tt.desc, func(t *testing.T) {
			got, err := mustGrid(t, tt.level).Cover(tt.box, 10_000)
			if err != nil {
				t.Fatal(err)
			}
			rc := s2.RegionCoverer{MinLevel: tt.level, MaxLevel: tt.level, MaxCells: 10_000}
			var want []Cell
			for _, id := range rc.Covering(tt.box.rect()) {
				want = append(want, Cell(id))
			}
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("Cover: %d cells %v\nRegionCoverer: %d cells %v", len(got), got, len(want), want)
			}
		})
	}
}

func TestCoverAntimeridian(t *testing.T) {
	g := mustGrid(t, DefaultLevel)
	box, err := ParseBBox("179.99,-0.01,-179.99,0.01")
	if err != nil {
		t.Fatal(err)
	}
	cells, err := g.Cover(box, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, ll := range []LatLng{{0, 179.995}, {0, 180}, {0, -180}, {0, -179.995}, {0.01, 179.99}, {-0.01, -179.99}} {
		c, _ := g.CellOf(ll)
		if !slices.Contains(cells, c) {
			t.Errorf("the cell %v of %v is not in the cover %v", c, ll, cells)
		}
	}
	for _, c := range cells {
		if lng := c.Center().Lng; lng > -179 && lng < 179 {
			t.Errorf("cell %v with centre at lon %g is far from the antimeridian", c, lng)
		}
	}
	// The same box not crossing (-179.99 to 179.99) is the rest of the world.
	if _, err := g.Cover(BBox{-179.99, -0.01, 179.99, 0.01}, 100); !errors.Is(err, ErrTooManyCells) {
		t.Fatalf("the box around the world: %v, want ErrTooManyCells", err)
	}
}

func TestCoverLimit(t *testing.T) {
	g := mustGrid(t, DefaultLevel)
	all, err := g.Cover(munichBox, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if exact, err := g.Cover(munichBox, len(all)); err != nil || !slices.Equal(exact, all) {
		t.Fatalf("maxCells = %d, the cells needed: %v, %v", len(all), exact, err)
	}
	if cs, err := g.Cover(munichBox, len(all)-1); !errors.Is(err, ErrTooManyCells) || cs != nil {
		t.Fatalf("maxCells = %d, one short: %v, %v; want ErrTooManyCells", len(all)-1, cs, err)
	}
	if _, err := mustGrid(t, 0).Cover(BBox{-180, -90, 180, 90}, 5); !errors.Is(err, ErrTooManyCells) {
		t.Fatalf("six faces in five cells: %v", err)
	}
	if cs, err := mustGrid(t, 0).Cover(BBox{-180, -90, 180, 90}, 6); err != nil || len(cs) != 6 {
		t.Fatalf("the world at level 0: %v, %v; want six faces", cs, err)
	}
	for _, max := range []int{0, -1} {
		if _, err := g.Cover(munichBox, max); err == nil || errors.Is(err, ErrTooManyCells) {
			t.Errorf("maxCells %d: %v, want an error about the argument", max, err)
		}
	}
	var fe *FieldError
	if _, err := g.Cover(BBox{11, 49, 12, 48}, 100); !errors.As(err, &fe) || fe.Field != "minLat" {
		t.Errorf("an inverted box: %v, want a FieldError for minLat", err)
	}
}

// TestCoverContinentIsCheap: Europe at level 13 needs millions of cells;
// refusing it must not build them.
func TestCoverContinentIsCheap(t *testing.T) {
	europe := BBox{-10, 35, 40, 70}
	for _, level := range []int{DefaultLevel, MaxLevel} {
		g := mustGrid(t, level)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		cells, err := g.Cover(europe, 10_000)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrTooManyCells) || cells != nil {
			t.Fatalf("level %d: Europe in 10,000 cells: %d cells, %v", level, len(cells), err)
		}
		// 10,000 ids are 80 kB; the slices grow by doubling.
		if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
			t.Fatalf("level %d: refusing Europe allocated %d bytes", level, n)
		}
	}
}

func BenchmarkCover(b *testing.B) {
	g := mustGrid(b, DefaultLevel)
	b.ReportAllocs()
	var n int
	for b.Loop() {
		cells, err := g.Cover(munichBox, 100)
		if err != nil {
			b.Fatal(err)
		}
		n = len(cells)
	}
	b.ReportMetric(float64(n), "cells")
}
