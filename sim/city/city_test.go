package city

import (
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/kanal-dev/kanal/geo"
)

func newCity(t testing.TB, opts Options) *City {
	t.Helper()
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewDefaults(t *testing.T) {
	c := newCity(t, Options{})
	o := c.Options()
	if o.Center != DefaultCenter || o.SizeM != DefaultSizeM || o.BlockM != DefaultBlockM {
		t.Fatalf("defaults %+v", o)
	}
	if n := len(c.Nodes); n != 13*13 {
		t.Fatalf("%d nodes, want 13×13", n)
	}
	classes := map[Class]int{}
	for _, e := range c.Edges {
		classes[e.Class]++
		if e.Length < DefaultBlockM*(1-2*jitter)-1 || e.Length > DefaultBlockM*(1+2*jitter)*math.Sqrt2 {
			t.Fatalf("edge %+v: length %.0f m for a %v m block", e, e.Length, DefaultBlockM)
		}
	}
	for _, cl := range []Class{Residential, Arterial, Ring} {
		if classes[cl] == 0 {
			t.Errorf("no %v roads: %v", cl, classes)
		}
	}
	lights := 0
	for _, nd := range c.Nodes {
		if nd.Cycle > 0 {
			lights++
		}
	}
	if lights < 4 {
		t.Errorf("%d traffic lights", lights)
	}
	// the centre crossing is where two arterials meet, at Marienplatz
	mid := c.Nodes[len(c.Nodes)/2]
	if d := (geo.LatLng{Lat: mid.Lat, Lng: mid.Lon}).DistanceM(DefaultCenter); d > 60 || mid.Cycle == 0 {
		t.Errorf("centre crossing %.0f m from the centre, light cycle %v", d, mid.Cycle)
	}
}

func TestNewReproducible(t *testing.T) {
	a, b := newCity(t, Options{Seed: 7}), newCity(t, Options{Seed: 7})
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed gave different cities")
	}
	if c := newCity(t, Options{Seed: 8}); reflect.DeepEqual(a.Nodes, c.Nodes) {
		t.Fatal("different seeds gave the same city")
	}
}

func TestNewOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"size small", Options{SizeM: 100}, "size_m 100"},
		{"size NaN", Options{SizeM: math.NaN()}, "size_m NaN"},
		{"block large", Options{SizeM: 1000, BlockM: 600}, "block_m 600"},
		{"block small", Options{BlockM: 10}, "block_m 10"},
		{"center lat", Options{Center: geo.LatLng{Lat: 95, Lng: 1}}, "center: lat"},
		{"center polar", Options{Center: geo.LatLng{Lat: 85, Lng: 1}}, "within 80°"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New(%+v): %v, want %q", tc.opts, err, tc.want)
			}
		})
	}
}

func TestLatLngXY(t *testing.T) {
	c := newCity(t, Options{})
	for _, p := range [][2]float64{{0, 0}, {1500, -1500}, {-700, 1234}} {
		lat, lon := c.LatLng(p[0], p[1])
		x, y := c.XY(lat, lon)
		if math.Abs(x-p[0]) > 1e-6 || math.Abs(y-p[1]) > 1e-6 {
			t.Errorf("XY(LatLng(%v)) = %v, %v", p, x, y)
		}
		d := (geo.LatLng{Lat: lat, Lng: lon}).DistanceM(DefaultCenter)
		if want := math.Hypot(p[0], p[1]); math.Abs(d-want) > want*0.003+0.01 {
			t.Errorf("%v: %.1f m from the centre on the sphere, %.1f on the plane", p, d, want)
		}
	}
}

func TestRoutes(t *testing.T) {
	c := newCity(t, Options{Seed: 3})
	rng := rand.New(rand.NewPCG(1, 1))
	for range 300 {
		a, b := rng.IntN(len(c.Nodes)), rng.IntN(len(c.Nodes))
		r, err := c.Route(a, b)
		if err != nil {
			t.Fatal(err)
		}
		if a == b {
			if len(r) != 0 {
				t.Fatalf("route from %d to itself: %v", a, r)
			}
			continue
		}
		at := a
		for i, e := range r {
			ed := c.Edges[e]
			if ed.From != at {
				t.Fatalf("route %d→%d: edge %d starts at %d, not %d", a, b, i, ed.From, at)
			}
			if i > 0 && ed.To == c.Edges[r[i-1]].From {
				t.Fatalf("route %d→%d turns back at edge %d", a, b, i)
			}
			at = ed.To
		}
		if at != b {
			t.Fatalf("route %d→%d ends at %d", a, b, at)
		}
		// no shorter than the straight line
		na, nb := c.Nodes[a], c.Nodes[b]
		length := 0.0
		for _, e := range r {
			length += c.Edges[e].Length
		}
		if length < math.Hypot(nb.X-na.X, nb.Y-na.Y)-1e-6 {
			t.Fatalf("route %d→%d is %.0f m, shorter than the straight line", a, b, length)
		}
	}
	if _, err := c.Route(-1, 3); err == nil {
		t.Fatal("route from node -1")
	}
}

// TestRoutesPreferArterials: across town the fastest route keeps to the
// faster roads more than the grid's share of them.
func TestRoutesPreferArterials(t *testing.T) {
	c := newCity(t, Options{})
	n := int(math.Sqrt(float64(len(c.Nodes))))
	r, err := c.Route(n+1, len(c.Nodes)-n-2) // corner to corner, inside the ring
	if err != nil {
		t.Fatal(err)
	}
	major, all := 0.0, 0.0
	for _, e := range r {
		all += c.Edges[e].Length
		if c.Edges[e].Class.Major() {
			major += c.Edges[e].Length
		}
	}
	if major/all < 0.6 {
		t.Errorf("%.0f%% of the route on major roads", 100*major/all)
	}
}

func TestLights(t *testing.T) {
	c := newCity(t, Options{})
	checked := 0
	for i, nd := range c.Nodes {
		if nd.Cycle == 0 {
			continue
		}
		var ns, ew []int // edges arriving north-south and east-west
		for e, ed := range c.Edges {
			if ed.To != i {
				continue
			}
			if c.Control(e) != Light {
				t.Fatalf("edge into a light: control %v", c.Control(e))
			}
			if h := math.Mod(ed.Heading, 180); h < 45 || h >= 135 {
				ns = append(ns, e)
			} else {
				ew = append(ew, e)
			}
		}
		greenNS, greenEW := 0.0, 0.0
		for ts := 0.0; ts < nd.Cycle; ts += 0.1 {
			gn, ge := len(ns) > 0 && c.Green(ns[0], ts), len(ew) > 0 && c.Green(ew[0], ts)
			if gn && ge {
				t.Fatalf("node %d: both directions green at %.1f s", i, ts)
			}
			if gn {
				greenNS += 0.1
			}
			if ge {
				greenEW += 0.1
			}
		}
		want := nd.Cycle/2 - AllRed
		if len(ns) > 0 && math.Abs(greenNS-want) > 0.25 || len(ew) > 0 && math.Abs(greenEW-want) > 0.25 {
			t.Fatalf("node %d: green %.1f s and %.1f s of a %.1f s cycle, want %.1f each", i, greenNS, greenEW, nd.Cycle, want)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no lights")
	}
}

func TestControls(t *testing.T) {
	c := newCity(t, Options{})
	seen := map[Control]int{}
	for e := range c.Edges {
		seen[c.Control(e)]++
	}
	for _, ctl := range []Control{Free, RightBeforeLeft, Stop, Light} {
		if seen[ctl] == 0 {
			t.Errorf("no %v crossings: %v", ctl, seen)
		}
	}
	for e, ed := range c.Edges {
		if c.Control(e) == Stop && ed.Class.Major() {
			t.Fatalf("a major road stops at a crossing: %+v", ed)
		}
	}
}

func TestTurn(t *testing.T) {
	c := &City{Edges: []Edge{{Heading: 0}, {Heading: 90}, {Heading: 270}, {Heading: 180}, {Heading: 350}}}
	for _, tc := range []struct {
		a, b int
		want float64
	}{{0, 1, 90}, {0, 2, -90}, {0, 3, 180}, {0, 4, -10}, {4, 0, 10}, {1, 0, -90}} {
		if got := c.Turn(tc.a, tc.b); got != tc.want {
			t.Errorf("Turn(%v→%v) = %v, want %v", c.Edges[tc.a].Heading, c.Edges[tc.b].Heading, got, tc.want)
		}
	}
}

func TestPlacesFavourTheCentre(t *testing.T) {
	c := newCity(t, Options{})
	rng := rand.New(rand.NewPCG(2, 2))
	inner := 0
	const n = 4000
	for range n {
		nd := c.Nodes[c.Place(rng)]
		if math.Hypot(nd.X, nd.Y) < DefaultSizeM/4 {
			inner++
		}
	}
	// the inner circle is 20 % of the square's area
	if share := float64(inner) / n; share < 0.3 {
		t.Errorf("%.0f%% of places within %v m of the centre", 100*share, DefaultSizeM/4)
	}
}

func BenchmarkRoute(b *testing.B) {
	c := newCity(b, Options{})
	rng := rand.New(rand.NewPCG(1, 1))
	for b.Loop() {
		if _, err := c.Route(rng.IntN(len(c.Nodes)), rng.IntN(len(c.Nodes))); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLayout: the outer roads are the ring, the centre lines arterials,
// and the classes' limits are a German city's.
func TestLayout(t *testing.T) {
	c := newCity(t, Options{Center: geo.LatLng{Lat: 52.52, Lng: 13.405}, SizeM: 2000, BlockM: 200, Seed: 4})
	half := 1000.0
	for _, e := range c.Edges {
		a, b := c.Nodes[e.From], c.Nodes[e.To]
		onEdge := func(v float64) bool { return math.Abs(math.Abs(v)-half) < 1e-6 }
		switch {
		case onEdge(a.X) && onEdge(b.X), onEdge(a.Y) && onEdge(b.Y):
			if e.Class != Ring {
				t.Fatalf("boundary road %+v is %v", e, e.Class)
			}
		case e.Class == Ring:
			t.Fatalf("inner road %+v is the ring", e)
		}
		if e.Speed != e.Class.SpeedKmh()/3.6 {
			t.Fatalf("edge speed %v for %v", e.Speed, e.Class)
		}
	}
	for cl, want := range map[Class]float64{Residential: 30, Arterial: 50, Ring: 60} {
		if cl.SpeedKmh() != want || cl.String() == "" || cl.Major() != (cl != Residential) {
			t.Errorf("%v: %v km/h", cl, cl.SpeedKmh())
		}
	}
	if Class(9).String() != "class(9)" || Control(9).String() != "control(9)" || Light.String() != "light" {
		t.Error("names of unknown classes and controls")
	}
	// the centre is the given one
	mid := c.Nodes[len(c.Nodes)/2]
	if d := (geo.LatLng{Lat: mid.Lat, Lng: mid.Lon}).DistanceM(geo.LatLng{Lat: 52.52, Lng: 13.405}); d > 50 {
		t.Errorf("centre crossing %.0f m from Berlin's centre", d)
	}
	if o := c.Options(); o.SizeM != 2000 || o.BlockM != 200 || o.Seed != 4 {
		t.Errorf("options %+v", o)
	}
	// both directions of every road, each the other's reverse
	dirs := map[[2]int]Edge{}
	for _, e := range c.Edges {
		dirs[[2]int{e.From, e.To}] = e
	}
	for k, e := range dirs {
		r, ok := dirs[[2]int{k[1], k[0]}]
		if !ok || r.Length != e.Length || r.Class != e.Class || math.Abs(math.Mod(r.Heading-e.Heading+360, 360)-180) > 1e-9 {
			t.Fatalf("edge %+v has no proper reverse (%+v)", e, r)
		}
	}
}

// TestOutgoingEdges: every node's Out lists exactly the edges leaving it.
func TestOutgoingEdges(t *testing.T) {
	c := newCity(t, Options{Seed: 8})
	count := 0
	for i, nd := range c.Nodes {
		for _, e := range nd.Out {
			if c.Edges[e].From != i {
				t.Fatalf("node %d lists edge %d from node %d", i, e, c.Edges[e].From)
			}
		}
		count += len(nd.Out)
		if len(nd.Out) == 0 {
			t.Fatalf("node %d has no road out", i)
		}
	}
	if count != len(c.Edges) {
		t.Fatalf("%d edges listed, %d exist", count, len(c.Edges))
	}
}
