// Package geo rounds positions to grid cells and keeps privacy zones, so that
// a precise position never leaves the vehicle.
//
// The grid is Google's S2 cell hierarchy (github.com/golang/geo/s2): the
// sphere is projected onto the six faces of a cube and each face is split
// into quadtree cells, level 0 (a face) to level 30. S2 is pure Go, so the
// static arm builds of the agent stay free of cgo (H3's Go binding needs
// it), and it is correct at the poles and across the antimeridian, with
// neighbours and region coverings built in. Kanal names a cell by its S2
// token everywhere outside the process: MQTT topics, NATS subjects, JSON.
//
// Kanal uses levels 0 to MaxLevel (24), because the signal catalog carries a
// cell as a float64; the default is DefaultLevel (13), cells of about 1 km.
// Average edge lengths (Grid.AvgEdgeM): level 10 about 9 km, 12 about 2.3 km,
// 13 about 1.1 km, 14 about 570 m, 16 about 140 m, 24 about 55 cm. A cell's
// real size varies by up to a factor of two over the sphere.
//
// The agent replaces the position by its Grid cell before anything else sees
// it, and drops it altogether inside a privacy Zone. The cloud uses the same
// package to name, draw and select cells: Cell.Center, Cell.Corners,
// Cell.Neighbours, ParseBBox and Grid.Cover.
//
// Distances are on a sphere of radius EarthRadiusM, as in S2's earth package.
package geo
