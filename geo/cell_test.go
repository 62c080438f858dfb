package geo

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/golang/geo/s2"
)

func TestParseToken(t *testing.T) {
	tests := []struct {
		desc, token string
		level       int    // when valid
		errWant     string // substring of the error, "" when valid
	}{
		{desc: "munich level 13", token: "479ddf5c", level: 13},
		{desc: "face 0", token: "1", level: 0},
		{desc: "face 5", token: "b", level: 0},
		{desc: "level 24", token: "479ddf5c00001", level: 24},
		{desc: "level 23", token: "479ddf5c00004", level: 23},
		{desc: "empty", token: "", errWant: "empty"},
		{desc: "token of id 0", token: "X", errWant: "no cell"},
		{desc: "upper case", token: "479DDF5C", errWant: "upper-case"},
		{desc: "trailing zero", token: "479ddf5c0", errWant: "trailing zero"},
		{desc: "too long", token: "479ddf5c000000001", errWant: "17 characters"},
		{desc: "prefix", token: "0x47", errWant: `'x' at offset 1`},
		{desc: "space", token: " 47", errWant: `' ' at offset 0`},
		{desc: "sign", token: "+47", errWant: `'+' at offset 0`},
		{desc: "face 6", token: "d", errWant: "face 6"},
		{desc: "face 7", token: "f", errWant: "face 7"},
		{desc: "odd lowest bit", token: "2", errWant: "odd position"},
		{desc: "level 26", token: "479ddf5c000001", errWant: "level 26"},
		{desc: "leaf level 30", token: "479ddf5c00000001", errWant: "level 30"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			c, err := ParseToken(tt.token)
			if tt.errWant != "" {
				if err == nil {
					t.Fatalf("ParseToken(%q) = %v, want an error with %q", tt.token, c, tt.errWant)
				}
				if !strings.Contains(err.Error(), tt.errWant) || !strings.Contains(err.Error(), `"`+tt.token+`"`) {
					t.Fatalf("ParseToken(%q) error %q, want it to quote the token and say %q", tt.token, err, tt.errWant)
				}
				if c != 0 {
					t.Errorf("ParseToken(%q) returned cell %#x with its error", tt.token, uint64(c))
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseToken(%q): %v", tt.token, err)
			}
			if !c.Valid() || c.Level() != tt.level || c.Token() != tt.token {
				t.Fatalf("ParseToken(%q) = %v (valid %v, level %d), want level %d", tt.token, c, c.Valid(), c.Level(), tt.level)
			}
		})
	}
}

func TestParseTokenFile(t *testing.T) {
	for _, l := range testdataLines(t, "tokens.txt") {
		kind, token := l[0], l[1]
		t.Run(kind+"/"+token, func(t *testing.T) {
			c, err := ParseToken(token)
			switch kind {
			case "ok":
				if err != nil || c.Token() != token {
					t.Fatalf("ParseToken(%q) = %v, %v: want it back", token, c, err)
				}
			case "bad":
				if err == nil {
					t.Fatalf("ParseToken(%q) = %v, want an error", token, c)
				}
			default:
				t.Fatalf("testdata/tokens.txt: kind %q, want ok or bad", kind)
			}
		})
	}
}

func TestTokenRoundTrip(t *testing.T) {
	cells, _ := sampleCells(t, 200)
	for _, c := range cells {
		tok := c.Token()
		back, err := ParseToken(tok)
		if err != nil || back != c {
			t.Fatalf("level %d: ParseToken(%q) = %#x, %v; want %#x", c.Level(), tok, uint64(back), err, uint64(c))
		}
		if c.String() != tok {
			t.Fatalf("String() = %q, Token() = %q", c.String(), tok)
		}
		if s2tok := s2.CellID(c).ToToken(); s2tok != tok {
			t.Fatalf("Token() = %q, S2 says %q", tok, s2tok)
		}
	}
}

func TestCellJSON(t *testing.T) {
	c := mustCell(t, DefaultLevel, munich)
	type alert struct {
		Cell Cell `json:"cell"`
	}
	b, err := json.Marshal(alert{Cell: c})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"cell":"479ddf5c"}` {
		t.Fatalf("json = %s, want the token", b)
	}
	var back alert
	if err := json.Unmarshal(b, &back); err != nil || back.Cell != c {
		t.Fatalf("unmarshal %s = %v, %v", b, back.Cell, err)
	}
	if err := json.Unmarshal([]byte(`{"cell":"479DDF5C"}`), &back); err == nil {
		t.Fatal("unmarshal of an upper-case token: no error")
	}
	if _, err := json.Marshal(alert{}); err == nil {
		t.Fatal("marshal of the zero Cell: no error")
	}
}

func TestCellFloat64(t *testing.T) {
	cells, _ := sampleCells(t, 200)
	for _, c := range cells {
		back, err := CellFromFloat64(c.Float64())
		if err != nil || back != c {
			t.Fatalf("level %d: CellFromFloat64(%v) = %#x, %v; want %#x", c.Level(), c.Float64(), uint64(back), err, uint64(c))
		}
	}
	bad := []float64{math.NaN(), math.Inf(1), math.Inf(-1), -1, 0, 0.5, 1 << 64, float64(1 << 62), 1e30}
	for _, v := range bad {
		if c, err := CellFromFloat64(v); err == nil {
			t.Errorf("CellFromFloat64(%v) = %v, want an error", v, c)
		}
	}
}

// TestMaxLevelIsFloat64Limit shows why MaxLevel is 24: every level-24 id
// survives a float64, and many level-25 ids do not.
func TestMaxLevelIsFloat64Limit(t *testing.T) {
	_, from := sampleCells(t, 40)
	inexact := 0
	for _, ll := range from {
		leaf := s2.CellIDFromLatLng(ll.norm())
		if id := leaf.Parent(MaxLevel); uint64(float64(id)) != uint64(id) {
			t.Fatalf("level %d id %#x is not exact in a float64", MaxLevel, uint64(id))
		}
		if id := leaf.Parent(MaxLevel + 1); uint64(float64(id)) != uint64(id) {
			inexact++
		}
	}
	if inexact == 0 {
		t.Fatalf("all %d level-%d ids were exact in a float64: MaxLevel could be higher", len(from), MaxLevel+1)
	}
}

func TestCenterInsideCell(t *testing.T) {
	cells, from := sampleCells(t, 200)
	for i, c := range cells {
		if !c.Contains(c.Center()) {
			t.Fatalf("level %d cell %v does not contain its centre %v", c.Level(), c, c.Center())
		}
		if !c.Contains(from[i]) {
			t.Fatalf("level %d cell %v does not contain the point it was made from", c.Level(), c)
		}
	}
}

func TestCornersOnBoundary(t *testing.T) {
	cells, _ := sampleCells(t, 20)
	for _, c := range cells {
		sc := s2.CellFromCellID(s2.CellID(c))
		corners := c.Corners()
		for k, ll := range corners {
			// A corner as degrees is a rounded point: on the boundary, not always inside.
			if d := distanceM(c, ll); d > 1e-6 {
				t.Fatalf("level %d cell %v: corner %d is %g m outside the cell", c.Level(), c, k, d)
			}
			if d := sc.BoundaryDistance(ll.point()).Angle().Radians() * EarthRadiusM; d > 1e-6 {
				t.Fatalf("level %d cell %v: corner %d is %g m from the boundary", c.Level(), c, k, d)
			}
			if d := ll.DistanceM(fromPoint(sc.Vertex(k))); d > 1e-6 {
				t.Fatalf("level %d cell %v: corner %d is %g m from S2's vertex %d", c.Level(), c, k, d, k)
			}
		}
		// Counter-clockwise seen from outside the sphere: each turn is to the left.
		for k := range 4 {
			a, b, d := corners[k].point(), corners[(k+1)%4].point(), corners[(k+2)%4].point()
			if s2.RobustSign(a, b, d) != s2.CounterClockwise {
				t.Fatalf("level %d cell %v: corners %d,%d,%d are not counter-clockwise", c.Level(), c, k, (k+1)%4, (k+2)%4)
			}
		}
	}
	// A corner of a level 13 cell is shared with neighbours: a point on the boundary.
	c := mustCell(t, DefaultLevel, munich)
	for k, ll := range c.Corners() {
		shared := 0
		for _, n := range c.Neighbours() {
			if distanceM(n, ll) < 1e-6 {
				shared++
			}
		}
		if shared < 2 {
			t.Errorf("corner %d of %v lies in %d neighbours, want at least 2", k, c, shared)
		}
	}
}

// distanceM returns the distance from ll to the nearest point of c.
func distanceM(c Cell, ll LatLng) float64 {
	return s2.CellFromCellID(s2.CellID(c)).Distance(ll.point()).Angle().Radians() * EarthRadiusM
}

// cubeCorner is a vertex of S2's cube: only three cells of a level meet there.
var cubeCorner = LatLng{Lat: math.Atan(1/math.Sqrt2) * 180 / math.Pi, Lng: 45}

func TestNeighbours(t *testing.T) {
	tests := []struct {
		desc   string
		at     LatLng
		want   int
		levels []int
	}{
		{desc: "munich", at: munich, want: 8, levels: []int{6, DefaultLevel, MaxLevel}},
		{desc: "north pole", at: LatLng{90, 0}, want: 8, levels: []int{2, 6, DefaultLevel, MaxLevel}},
		{desc: "south pole", at: LatLng{-90, 0}, want: 8, levels: []int{2, 6, DefaultLevel, MaxLevel}},
		{desc: "antimeridian", at: LatLng{10, 180}, want: 8, levels: []int{6, DefaultLevel, MaxLevel}},
		{desc: "equator on a face edge", at: LatLng{0, 45}, want: 8, levels: []int{6, DefaultLevel, MaxLevel}},
		// Every level-1 cell, a quarter of a face, has a cube corner.
		{desc: "cube-face corner", at: cubeCorner, want: 7, levels: []int{1, 2, 6, DefaultLevel, MaxLevel}},
		{desc: "level 1 anywhere", at: munich, want: 7, levels: []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			for _, level := range tt.levels {
				c := mustCell(t, level, tt.at)
				ns := c.Neighbours()
				if len(ns) != tt.want {
					t.Fatalf("level %d: %d neighbours %v, want %d", level, len(ns), ns, tt.want)
				}
				if !slices.IsSorted(ns) || len(slices.Compact(slices.Clone(ns))) != len(ns) {
					t.Fatalf("level %d: neighbours %v are not sorted and distinct", level, ns)
				}
				for _, n := range ns {
					checkNeighbour(t, c, n)
				}
			}
		})
	}
}

// checkNeighbour checks that n is a cell of c's level, not c, that touches
// c, and that c is a neighbour of n in turn.
func checkNeighbour(t *testing.T, c, n Cell) {
	t.Helper()
	if !n.Valid() || n.Level() != c.Level() || n == c {
		t.Fatalf("neighbour %v of %v: valid %v, level %d, want level %d and not the cell", n, c, n.Valid(), n.Level(), c.Level())
	}
	touch := false
	for _, a := range c.Corners() {
		for _, b := range n.Corners() {
			touch = touch || near(a, b, 1e-3)
		}
	}
	if !touch {
		t.Fatalf("neighbour %v of %v shares no corner with it", n, c)
	}
	if !slices.Contains(n.Neighbours(), c) {
		t.Fatalf("%v is a neighbour of %v but not the other way round", n, c)
	}
}

// TestNeighboursCrossAntimeridian: the cells east of 180 are neighbours of
// those west of it.
func TestNeighboursCrossAntimeridian(t *testing.T) {
	for _, lat := range []float64{-60, -10, 0.3, 33} {
		g := mustGrid(t, DefaultLevel)
		west, _ := g.Cell(lat, 179.9999)
		east, _ := g.Cell(lat, -179.9999)
		if west == east {
			continue // one cell spans the meridian here
		}
		if !slices.Contains(west.Neighbours(), east) {
			t.Errorf("lat %g: cell %v east of 180 is not a neighbour of %v west of it", lat, east, west)
		}
	}
}

func TestParent(t *testing.T) {
	leaf := mustCell(t, MaxLevel, munich)
	for level := 0; level <= MaxLevel; level++ {
		p := leaf.Parent(level)
		if p != mustCell(t, level, munich) {
			t.Fatalf("Parent(%d) = %v, want the level-%d cell of the point", level, p, level)
		}
		if !p.Contains(munich) {
			t.Fatalf("Parent(%d) = %v does not contain the point", level, p)
		}
	}
	c := mustCell(t, DefaultLevel, munich)
	for _, level := range []int{-1, DefaultLevel + 1, 30, 99} {
		if p := c.Parent(level); p != 0 {
			t.Errorf("Parent(%d) of a level %d cell = %v, want 0", level, DefaultLevel, p)
		}
	}
}

func TestInvalidCell(t *testing.T) {
	leaf := Cell(s2.CellIDFromLatLng(munich.norm())) // level 30: beyond MaxLevel
	for _, c := range []Cell{0, Cell(s2.CellIDFromFace(5) + 1<<61), leaf, ^Cell(0), 2} {
		if c.Valid() {
			t.Errorf("%#x: Valid", uint64(c))
		}
		if c.Token() != "X" || c.Level() != -1 || c.Center() != (LatLng{}) || c.Corners() != [4]LatLng{} ||
			c.Neighbours() != nil || c.Parent(0) != 0 || c.Contains(munich) || c.EdgeM() != 0 || c.AreaM2() != 0 {
			t.Errorf("%#x: methods of an invalid cell return values", uint64(c))
		}
		if _, err := c.MarshalText(); err == nil {
			t.Errorf("%#x: MarshalText: no error", uint64(c))
		}
	}
}

// TestDefaultLevelSize pins the figures of DefaultLevel's doc comment: the
// level-13 cell at Munich (48.13N) has edges of 949 and 1,114 m, a mean of
// 1,032 m, and 1.05 km².
func TestDefaultLevelSize(t *testing.T) {
	c := mustCell(t, DefaultLevel, munich)
	if c.Token() != "479ddf5c" {
		t.Fatalf("munich cell %v, want 479ddf5c", c)
	}
	sc := s2.CellFromCellID(s2.CellID(c))
	var edges []float64
	for k := range 4 {
		edges = append(edges, sc.Vertex(k).Distance(sc.Vertex((k+1)%4)).Radians()*EarthRadiusM)
	}
	lo, hi := slices.Min(edges), slices.Max(edges)
	if math.Abs(lo-949) > 1 || math.Abs(hi-1114) > 1 {
		t.Errorf("edges %v m, want 949 to 1114", edges)
	}
	if e := c.EdgeM(); math.Abs(e-1032) > 1 {
		t.Errorf("EdgeM = %g, want 1032", e)
	}
	if a := c.AreaM2(); math.Abs(a-1.05e6) > 0.01e6 {
		t.Errorf("AreaM2 = %g, want 1.05e6", a)
	}
	if e := mustGrid(t, DefaultLevel).AvgEdgeM(); math.Abs(e-1135) > 1 {
		t.Errorf("AvgEdgeM = %g, want 1135", e)
	}
}

// TestCellSizeByLevel checks the figures of the package comment and that
// each level halves the edge and quarters the area.
func TestCellSizeByLevel(t *testing.T) {
	docs := map[int]float64{10: 9079, 12: 2270, 13: 1135, 14: 567, 16: 142, 24: 0.554}
	for level, want := range docs {
		if got := mustGrid(t, level).AvgEdgeM(); math.Abs(got-want)/want > 0.002 {
			t.Errorf("level %d: AvgEdgeM = %g, want %g", level, got, want)
		}
	}
	for level := 6; level <= MaxLevel; level++ { // coarse cells are too distorted
		c, p := mustCell(t, level, munich), mustCell(t, level-1, munich)
		if r := p.EdgeM() / c.EdgeM(); r < 1.8 || r > 2.2 {
			t.Errorf("level %d: edge ratio to parent %g, want about 2", level, r)
		}
		if r := p.AreaM2() / c.AreaM2(); r < 3.5 || r > 4.5 {
			t.Errorf("level %d: area ratio to parent %g, want about 4", level, r)
		}
	}
	if sum := sumFaces(); math.Abs(sum-4*math.Pi*EarthRadiusM*EarthRadiusM)/sum > 1e-9 {
		t.Errorf("six faces cover %g m², want the sphere", sum)
	}
}

func sumFaces() float64 {
	var sum float64
	for face := range 6 {
		sum += Cell(s2.CellIDFromFace(face)).AreaM2()
	}
	return sum
}

func FuzzParseToken(f *testing.F) {
	for _, l := range testdataLines(f, "tokens.txt") {
		f.Add(l[1])
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseToken(s)
		if err != nil {
			if c != 0 {
				t.Fatalf("ParseToken(%q) returned %#x with error %v", s, uint64(c), err)
			}
			if !strings.Contains(err.Error(), "cell token") {
				t.Fatalf("ParseToken(%q) error %q does not say what it parsed", s, err)
			}
			return
		}
		if !c.Valid() || c.Token() != s {
			t.Fatalf("ParseToken(%q) = %#x: valid %v, token %q", s, uint64(c), c.Valid(), c.Token())
		}
		back, err := CellFromFloat64(c.Float64())
		if err != nil || back != c {
			t.Fatalf("float64 round trip of %q: %#x, %v", s, uint64(back), err)
		}
		var u Cell
		if err := u.UnmarshalText([]byte(s)); err != nil || u != c {
			t.Fatalf("UnmarshalText(%q) = %v, %v", s, u, err)
		}
		if _, err := ParseToken(strings.ToUpper(s)); err == nil && strings.ToUpper(s) != s {
			t.Fatalf("ParseToken(%q) accepted upper case", strings.ToUpper(s))
		}
	})
}
