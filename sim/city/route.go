package city

import (
	"container/heap"
	"fmt"
	"math"
)

// Expected delays at the end of an edge, in seconds, which routes weigh
// beside the travel time: drivers prefer the arterials to the back streets.
var controlDelay = [...]float64{Free: 0, RightBeforeLeft: 4, Stop: 8, Light: 15}

// cost is the travel time of edge e at its speed limit plus the delay its
// end expects.
func (c *City) cost(e int) float64 {
	ed := &c.Edges[e]
	return ed.Length/ed.Speed + controlDelay[c.Control(e)]
}

// Route returns the fastest route from node a to node b as edges, by
// travel time at the speed limits and the expected delays at crossings; it
// never turns back on the road it arrives by. It allocates its own state,
// so vehicles route concurrently.
func (c *City) Route(a, b int) ([]int, error) {
	if a < 0 || a >= len(c.Nodes) || b < 0 || b >= len(c.Nodes) {
		return nil, fmt.Errorf("city: route %d to %d: no such node (0 to %d)", a, b, len(c.Nodes)-1)
	}
	if a == b {
		return nil, nil
	}
	// Dijkstra over edges, so that a turn back can be forbidden: the state
	// is the edge just taken.
	dist := make([]float64, len(c.Edges))
	prev := make([]int32, len(c.Edges))
	for i := range dist {
		dist[i], prev[i] = math.Inf(1), -1
	}
	q := &edgeQueue{}
	for _, e := range c.Nodes[a].Out {
		dist[e] = c.cost(e)
		heap.Push(q, item{e, dist[e]})
	}
	for q.Len() > 0 {
		it := heap.Pop(q).(item)
		if it.d > dist[it.e] {
			continue // a stale entry
		}
		ed := &c.Edges[it.e]
		if ed.To == b {
			return c.path(prev, it.e), nil
		}
		for _, next := range c.Nodes[ed.To].Out {
			if c.Edges[next].To == ed.From {
				continue // no U-turns
			}
			if d := it.d + c.cost(next); d < dist[next] {
				dist[next], prev[next] = d, int32(it.e)
				heap.Push(q, item{next, d})
			}
		}
	}
	return nil, fmt.Errorf("%w from node %d to %d", errNoRoute, a, b)
}

// path follows prev back from the last edge.
func (c *City) path(prev []int32, last int) []int {
	var out []int
	for e := int32(last); e >= 0; e = prev[e] {
		out = append(out, int(e))
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

type item struct {
	e int
	d float64
}

// edgeQueue is a min-heap of edges by distance.
type edgeQueue []item

func (q edgeQueue) Len() int           { return len(q) }
func (q edgeQueue) Less(i, j int) bool { return q[i].d < q[j].d }
func (q edgeQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *edgeQueue) Push(x any)        { *q = append(*q, x.(item)) }
func (q *edgeQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	*q = old[:len(old)-1]
	return it
}
