package geo

import (
	"bufio"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// munich is the position the tests round: Marienplatz, 48.13N 11.57E.
var munich = LatLng{Lat: 48.13, Lng: 11.57}

// mustGrid returns the grid of level or stops the test.
func mustGrid(t testing.TB, level int) Grid {
	t.Helper()
	g, err := NewGrid(level)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// mustCell returns the cell of ll at level or stops the test.
func mustCell(t testing.TB, level int, ll LatLng) Cell {
	t.Helper()
	c, err := mustGrid(t, level).CellOf(ll)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// randomLatLng returns a position uniform on the sphere, so that the cube's
// faces, edges and the poles all get their share.
func randomLatLng(r *rand.Rand) LatLng {
	return LatLng{
		Lat: math.Asin(2*r.Float64()-1) * 180 / math.Pi,
		Lng: r.Float64()*360 - 180,
	}
}

// sampleCells returns n cells of every level 0..MaxLevel at random positions
// from a fixed seed, with the positions they were made from.
func sampleCells(t testing.TB, n int) (cells []Cell, from []LatLng) {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	for level := 0; level <= MaxLevel; level++ {
		g := mustGrid(t, level)
		for range n {
			ll := randomLatLng(r)
			c, err := g.CellOf(ll)
			if err != nil {
				t.Fatal(err)
			}
			cells = append(cells, c)
			from = append(from, ll)
		}
	}
	return cells, from
}

// testdataLines returns the lines of a testdata file that are neither blank
// nor comments, split into the first word and the rest (after one space).
func testdataLines(t testing.TB, name string) [][2]string {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][2]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		kind, rest, _ := strings.Cut(line, " ")
		out = append(out, [2]string{kind, rest})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("testdata/%s: no cases", name)
	}
	return out
}

// near reports whether a and b are within tol metres of each other.
func near(a, b LatLng, tol float64) bool { return a.DistanceM(b) <= tol }
