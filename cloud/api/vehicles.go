package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kanal-dev/kanal/cloud/twin"
	"github.com/kanal-dev/kanal/geo"
	"github.com/kanal-dev/kanal/uplink/batch"
)

// located is where the index last saw a vehicle.
type located struct {
	cell   string
	seen   time.Time
	online bool
}

// vehicleIndex knows which vehicles are in which cell, from KANAL_TWINS,
// so an area query tests each cell once rather than each vehicle.
type vehicleIndex struct {
	mu     sync.RWMutex
	byID   map[string]located
	byCell map[string]map[string]struct{}
	ready  chan struct{}
	once   sync.Once
	store  *twin.Store
}

func newVehicleIndex() *vehicleIndex {
	return &vehicleIndex{byID: map[string]located{}, byCell: map[string]map[string]struct{}{}, ready: make(chan struct{})}
}

// follow watches KANAL_TWINS until ctx ends.
func (x *vehicleIndex) follow(ctx context.Context, js jetstream.JetStream) error {
	s, err := twin.Open(ctx, js)
	if err != nil {
		return err
	}
	x.mu.Lock()
	x.store = s
	x.mu.Unlock()
	return s.Watch(ctx, func(t *twin.Twin, gone bool) {
		if t == nil {
			x.once.Do(func() { close(x.ready) })
			return
		}
		x.set(t, gone)
	})
}

func (x *vehicleIndex) set(t *twin.Twin, gone bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if old, ok := x.byID[t.Vehicle]; ok {
		if set := x.byCell[old.cell]; set != nil {
			delete(set, t.Vehicle)
			if len(set) == 0 {
				delete(x.byCell, old.cell)
			}
		}
		delete(x.byID, t.Vehicle)
	}
	if gone || !t.Cell.Known() {
		return
	}
	x.byID[t.Vehicle] = located{cell: t.Cell.Value, seen: t.Seen, online: t.Online.Value}
	set := x.byCell[t.Cell.Value]
	if set == nil {
		set = map[string]struct{}{}
		x.byCell[t.Cell.Value] = set
	}
	set[t.Vehicle] = struct{}{}
}

// VehicleInArea is one entry of GET /v1/vehicles?bbox=.
type VehicleInArea struct {
	Vehicle string    `json:"vehicle"`
	Cell    string    `json:"cell"`
	Seen    time.Time `json:"seen"`
	Online  bool      `json:"online"`
}

// VehicleList is the body of GET /v1/vehicles?bbox=.
type VehicleList struct {
	Vehicles []VehicleInArea `json:"vehicles"`
}

// in returns the vehicles whose cell intersects b, seen since since.
func (x *vehicleIndex) in(b geo.BBox, since time.Time) []VehicleInArea {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := []VehicleInArea{}
	for token, set := range x.byCell {
		c, err := geo.ParseToken(token)
		if err != nil || !b.IntersectsCell(c) {
			continue
		}
		for id := range set {
			l := x.byID[id]
			if l.seen.Before(since) {
				continue
			}
			out = append(out, VehicleInArea{Vehicle: id, Cell: l.cell, Seen: l.seen, Online: l.online})
		}
	}
	slices.SortFunc(out, func(a, b VehicleInArea) int { return strings.Compare(a.Vehicle, b.Vehicle) })
	return out
}

func (a *API) getVehicle(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := batch.CheckVehicleID(id); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !a.waitReady(r.Context(), a.vehicles.ready) {
		writeError(w, http.StatusServiceUnavailable, "twins not loaded yet: is NATS up? try again")
		return
	}
	a.vehicles.mu.RLock()
	s := a.vehicles.store
	a.vehicles.mu.RUnlock()
	t, err := s.Get(r.Context(), id)
	switch {
	case errors.Is(err, twin.ErrNotFound):
		writeError(w, http.StatusNotFound, "vehicle "+id+": no twin (it has never sent a batch)")
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, err.Error())
	default:
		writeJSON(w, http.StatusOK, t)
	}
}

// CellCount is one entry of GET /v1/cells?bbox=: how many vehicles are in
// a cell now (and how many of them online), without naming them.
type CellCount struct {
	Cell     string `json:"cell"`
	Vehicles int    `json:"vehicles"`
	Online   int    `json:"online"`
}

// CellList is the body of GET /v1/cells?bbox=.
type CellList struct {
	Cells []CellCount `json:"cells"`
}

// counts returns the vehicles per cell of the cells that intersect b,
// counting those seen since since, in token order.
func (x *vehicleIndex) counts(b geo.BBox, since time.Time) []CellCount {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := []CellCount{}
	for token, set := range x.byCell {
		c, err := geo.ParseToken(token)
		if err != nil || !b.IntersectsCell(c) {
			continue
		}
		cc := CellCount{Cell: token}
		for id := range set {
			if l := x.byID[id]; !l.seen.Before(since) {
				cc.Vehicles++
				if l.online {
					cc.Online++
				}
			}
		}
		if cc.Vehicles > 0 {
			out = append(out, cc)
		}
	}
	slices.SortFunc(out, func(a, b CellCount) int { return strings.Compare(a.Cell, b.Cell) })
	return out
}

// area reads the bbox and max_age of an area query, answering a bad one.
func (a *API) area(w http.ResponseWriter, r *http.Request, path string) (geo.BBox, time.Time, bool) {
	q := r.URL.Query()
	s := q.Get("bbox")
	if s == "" {
		writeError(w, http.StatusBadRequest, "bbox is required: "+path+"?bbox=minLon,minLat,maxLon,maxLat")
		return geo.BBox{}, time.Time{}, false
	}
	b, err := geo.ParseBBox(s)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return geo.BBox{}, time.Time{}, false
	}
	maxAge := a.opts.VehicleMaxAge
	if s := q.Get("max_age"); s != "" {
		if maxAge, err = time.ParseDuration(s); err != nil || maxAge <= 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("max_age %q: want a positive duration such as 10m", s))
			return geo.BBox{}, time.Time{}, false
		}
	}
	if !a.waitReady(r.Context(), a.vehicles.ready) {
		writeError(w, http.StatusServiceUnavailable, "twins not loaded yet: is NATS up? try again")
		return geo.BBox{}, time.Time{}, false
	}
	return b, a.opts.Now().Add(-maxAge), true
}

func (a *API) getVehicles(w http.ResponseWriter, r *http.Request) {
	if b, since, ok := a.area(w, r, "/v1/vehicles"); ok {
		writeJSON(w, http.StatusOK, VehicleList{Vehicles: a.vehicles.in(b, since)})
	}
}

// getCells serves GET /v1/cells?bbox=: the vehicles per cell, counts only,
// for a map (the live page) that would otherwise fetch every vehicle.
func (a *API) getCells(w http.ResponseWriter, r *http.Request) {
	if b, since, ok := a.area(w, r, "/v1/cells"); ok {
		writeJSON(w, http.StatusOK, CellList{Cells: a.vehicles.counts(b, since)})
	}
}
