package city

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/kanal-dev/kanal/geo"
)

// Defaults of Options.
var (
	// DefaultCenter is Munich's Marienplatz.
	DefaultCenter = geo.LatLng{Lat: 48.1374, Lng: 11.5755}
)

// Defaults of Options.
const (
	DefaultSizeM  = 3000.0
	DefaultBlockM = 250.0
	// arterialEvery: every 4th grid line is an arterial, the centre lines
	// among them.
	arterialEvery = 4
	jitter        = 0.15 // of a block: crossings are not on a perfect grid
	removeShare   = 0.1  // of residential segments: dead ends and detours
	earthRadius   = 6371000.0
)

// Options describe the city. Every zero field means its default.
type Options struct {
	// Center is the middle of the city; zero means DefaultCenter.
	Center geo.LatLng `yaml:"center"`
	// SizeM is the side of the square the streets cover, in metres
	// (default 3000: about nine level-13 grid cells).
	SizeM float64 `yaml:"size_m"`
	// BlockM is the distance between neighbouring crossings (default 250).
	BlockM float64 `yaml:"block_m"`
	// Seed varies the jitter of the crossings, the streets left out and
	// the lights' cycles.
	Seed uint64 `yaml:"seed"`
}

// City is the road network: nodes (crossings), directed edges (one per
// direction of a road) and the weights by which trips pick their places.
type City struct {
	opts   Options
	Nodes  []Node
	Edges  []Edge
	cosLat float64
	weight []float64 // cumulative place weights, by node
}

// New builds the city of opts.
func New(opts Options) (*City, error) {
	if opts.Center == (geo.LatLng{}) {
		opts.Center = DefaultCenter
	}
	if opts.SizeM == 0 {
		opts.SizeM = DefaultSizeM
	}
	if opts.BlockM == 0 {
		opts.BlockM = DefaultBlockM
	}
	if err := opts.Center.Validate(); err != nil {
		return nil, fmt.Errorf("city: center: %w", err)
	}
	if math.Abs(opts.Center.Lat) > 80 {
		return nil, fmt.Errorf("city: center: lat %v: want within 80° of the equator (a flat map of a city)", opts.Center.Lat)
	}
	if !(opts.SizeM >= 500 && opts.SizeM <= 50000) {
		return nil, fmt.Errorf("city: size_m %v: want 500 to 50000", opts.SizeM)
	}
	if !(opts.BlockM >= 50 && opts.BlockM <= opts.SizeM/2) {
		return nil, fmt.Errorf("city: block_m %v: want 50 to half of size_m (%v)", opts.BlockM, opts.SizeM/2)
	}
	c := &City{opts: opts, cosLat: math.Cos(opts.Center.Lat * math.Pi / 180)}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x63697479)) // "city"
	n := int(math.Round(opts.SizeM/opts.BlockM)) + 1
	c.grid(rng, n)
	c.prune(rng)
	c.controls(rng)
	c.places()
	return c, nil
}

// Options returns the options the city was built with, defaults filled in.
func (c *City) Options() Options { return c.opts }

// lineClass is the class of grid line i of n: the outer lines are the
// ring, every arterialEvery-th line counted from the centre an arterial.
func lineClass(i, n int) Class {
	switch {
	case i == 0 || i == n-1:
		return Ring
	case (i-n/2)%arterialEvery == 0:
		return Arterial
	}
	return Residential
}

// grid lays out n×n crossings and the streets between neighbours.
func (c *City) grid(rng *rand.Rand, n int) {
	half, block := c.opts.SizeM/2, c.opts.BlockM
	id := func(row, col int) int { return row*n + col }
	c.Nodes = make([]Node, n*n)
	for row := range n {
		for col := range n {
			x, y := -half+float64(col)*block, -half+float64(row)*block
			if row > 0 && row < n-1 && col > 0 && col < n-1 {
				x += (unit(rng)*2 - 1) * jitter * block
				y += (unit(rng)*2 - 1) * jitter * block
			}
			nd := &c.Nodes[id(row, col)]
			nd.X, nd.Y = x, y
			nd.Lat, nd.Lon = c.LatLng(x, y)
		}
	}
	for row := range n {
		for col := range n {
			if col+1 < n {
				c.road(id(row, col), id(row, col+1), lineClass(row, n))
			}
			if row+1 < n {
				c.road(id(row, col), id(row+1, col), lineClass(col, n))
			}
		}
	}
}

// road adds both directions of a road between nodes a and b.
func (c *City) road(a, b int, class Class) {
	na, nb := &c.Nodes[a], &c.Nodes[b]
	dx, dy := nb.X-na.X, nb.Y-na.Y
	l := math.Hypot(dx, dy)
	h := math.Mod(math.Atan2(dx, dy)*180/math.Pi+360, 360)
	v := class.SpeedKmh() / 3.6
	c.Edges = append(c.Edges,
		Edge{From: a, To: b, Class: class, Length: l, Heading: h, Speed: v},
		Edge{From: b, To: a, Class: class, Length: l, Heading: math.Mod(h+180, 360), Speed: v})
}

// prune leaves out a share of the residential streets, each only if every
// crossing stays reachable, and then indexes the edges by node.
func (c *City) prune(rng *rand.Rand) {
	keep := make([]bool, len(c.Edges)/2) // per road: edges 2i and 2i+1
	for i := range keep {
		keep[i] = true
	}
	for i := range keep {
		if c.Edges[2*i].Class == Residential && unit(rng) < removeShare {
			keep[i] = false
			if !c.connected(keep) {
				keep[i] = true
			}
		}
	}
	var edges []Edge
	for i, k := range keep {
		if k {
			edges = append(edges, c.Edges[2*i], c.Edges[2*i+1])
		}
	}
	c.Edges = edges
	for i, e := range c.Edges {
		from := &c.Nodes[e.From]
		from.Out = append(from.Out, i)
		from.degree++
		if e.Class.Major() {
			from.major++
		}
	}
}

// connected reports whether every node is reachable from node 0 over the
// roads kept.
func (c *City) connected(keep []bool) bool {
	adj := make([][]int, len(c.Nodes))
	for i, k := range keep {
		if k {
			e := c.Edges[2*i]
			adj[e.From] = append(adj[e.From], e.To)
			adj[e.To] = append(adj[e.To], e.From)
		}
	}
	seen := make([]bool, len(c.Nodes))
	stack := []int{0}
	seen[0] = true
	count := 1
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, m := range adj[n] {
			if !seen[m] {
				seen[m] = true
				count++
				stack = append(stack, m)
			}
		}
	}
	return count == len(c.Nodes)
}

// controls puts traffic lights where two major roads cross.
func (c *City) controls(rng *rand.Rand) {
	for i := range c.Nodes {
		nd := &c.Nodes[i]
		if nd.major >= 3 && nd.degree >= 3 {
			nd.Cycle = 60 + 30*unit(rng)
			nd.Offset = nd.Cycle * unit(rng)
		}
	}
}

// places weighs the crossings as trip ends: busier toward the centre, as
// in a real city, which also puts vehicles close enough together for the
// cloud's fog rule (several vehicles in one cell).
func (c *City) places() {
	sigma := c.opts.SizeM / 3
	c.weight = make([]float64, len(c.Nodes))
	sum := 0.0
	for i, nd := range c.Nodes {
		r := math.Hypot(nd.X, nd.Y) / sigma
		sum += 0.15 + math.Exp(-r*r)
		c.weight[i] = sum
	}
}

// Place picks a crossing as a trip's end, by the places' weights.
func (c *City) Place(rng *rand.Rand) int {
	x := unit(rng) * c.weight[len(c.weight)-1]
	return sort.SearchFloat64s(c.weight, x)
}

// LatLng returns the position x metres east and y metres north of the
// centre.
func (c *City) LatLng(x, y float64) (lat, lon float64) {
	lat = c.opts.Center.Lat + y/earthRadius*180/math.Pi
	lon = c.opts.Center.Lng + x/(earthRadius*c.cosLat)*180/math.Pi
	return lat, lon
}

// XY is the inverse of LatLng.
func (c *City) XY(lat, lon float64) (x, y float64) {
	y = (lat - c.opts.Center.Lat) * math.Pi / 180 * earthRadius
	x = (lon - c.opts.Center.Lng) * math.Pi / 180 * earthRadius * c.cosLat
	return x, y
}

// Control returns what a driver meets at the end of edge e.
func (c *City) Control(e int) Control {
	ed := &c.Edges[e]
	nd := &c.Nodes[ed.To]
	switch {
	case nd.Cycle > 0:
		return Light
	case nd.degree <= 2:
		return Free
	case nd.major > 0 && !ed.Class.Major():
		return Stop
	case nd.major == 0:
		return RightBeforeLeft
	}
	return Free
}

// Green reports whether the light at the end of edge e shows green to it
// at time t (seconds). A crossing without a light is always green.
func (c *City) Green(e int, t float64) bool {
	ed := &c.Edges[e]
	nd := &c.Nodes[ed.To]
	if nd.Cycle == 0 {
		return true
	}
	phase := math.Mod(t+nd.Offset, nd.Cycle)
	if phase < 0 {
		phase += nd.Cycle
	}
	half := nd.Cycle / 2
	h := math.Mod(ed.Heading, 180)
	northSouth := h < 45 || h >= 135
	if northSouth {
		return phase < half-AllRed
	}
	return phase >= half && phase < nd.Cycle-AllRed
}

// Turn returns the change of heading from edge a to edge b, in (-180, 180]
// degrees, positive to the right.
func (c *City) Turn(a, b int) float64 {
	d := math.Mod(c.Edges[b].Heading-c.Edges[a].Heading+540, 360) - 180
	if d == -180 {
		d = 180
	}
	return d
}

// errNoRoute is returned by Route between nodes that are not connected,
// which New never builds.
var errNoRoute = errors.New("city: no route")

// unit returns a float in [0, 1) from Uint64 only, whose PCG output is
// fixed by its specification: a seed gives the same city on every Go version.
func unit(r *rand.Rand) float64 { return float64(r.Uint64()>>11) / (1 << 53) }
