package fleet

import (
	"container/heap"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/kanal-dev/kanal/geo"
	"github.com/kanal-dev/kanal/sim"
)

// Defaults of Rules: those of the cloud's alert rules (cloud/alert).
const (
	DefaultFogMinVehicles = 3
	DefaultFogWindow      = 5 * time.Minute
	DefaultFogClearAfter  = 2 * time.Minute
	DefaultStoppedFor     = 30 * time.Second
)

// Rules are the cloud's alert rules the truth applies: set them as the
// gateway's rules file does (fog: {min_vehicles, window, clear_after},
// breakdown: {stopped_for}, warning: {lamps}). Zero fields mean the
// defaults, which are the gateway's.
type Rules struct {
	FogMinVehicles int           `json:"fog_min_vehicles" yaml:"fog_min_vehicles"`
	FogWindow      time.Duration `json:"fog_window" yaml:"fog_window"`
	FogClearAfter  time.Duration `json:"fog_clear_after" yaml:"fog_clear_after"`
	StoppedFor     time.Duration `json:"stopped_for" yaml:"stopped_for"`
	// Lamps are the lamps' short names (ABS, Airbag, ...); nil means the
	// nine of sim.AlertLamps.
	Lamps []string `json:"lamps" yaml:"lamps"`
}

// Check reports the first bad field of r.
func (r Rules) Check() error {
	_, _, err := r.withDefaults()
	return err
}

func (r Rules) withDefaults() (Rules, sim.Lamps, error) {
	if r.FogMinVehicles == 0 {
		r.FogMinVehicles = DefaultFogMinVehicles
	}
	if r.FogWindow == 0 {
		r.FogWindow = DefaultFogWindow
	}
	if r.FogClearAfter == 0 {
		r.FogClearAfter = DefaultFogClearAfter
	}
	if r.StoppedFor == 0 {
		r.StoppedFor = DefaultStoppedFor
	}
	if r.Lamps == nil {
		for _, l := range sim.AlertLamps {
			r.Lamps = append(r.Lamps, l.Name())
		}
	}
	var lamps sim.Lamps
	for _, name := range r.Lamps {
		l, ok := sim.LampByName(name)
		if !ok {
			return r, 0, fmt.Errorf("fleet: rules: lamps: unknown lamp %q", name)
		}
		lamps = lamps.With(l)
	}
	switch {
	case r.FogMinVehicles < 1:
		return r, 0, fmt.Errorf("fleet: rules: fog_min_vehicles %d: want 1 or more", r.FogMinVehicles)
	case r.FogWindow < 0 || r.FogClearAfter < 0 || r.StoppedFor < 0:
		return r, 0, errors.New("fleet: rules: durations must be positive")
	}
	return r, lamps, nil
}

// Truth is what the fleet's frames should make the cloud's alert rules
// raise: fog alerts per cell, warning lamps, breakdowns, each with its
// time in the vehicles' clock and the id of the alert episode as the
// cloud names it (cloud/alert: kind:cell:start, start in Unix ns). It is
// computed from the values the frames carry, not from the model behind
// them, so it is exact for a pipeline that loses nothing.
type Truth struct {
	Seed     uint64    `json:"seed"`
	Vehicles int       `json:"vehicles"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Level    int       `json:"cell_level"`
	Rules    Rules     `json:"rules"`
	FogBanks []FogBank `json:"fog_banks"`

	Fog        []FogAlert       `json:"fog"`
	Warnings   []WarningAlert   `json:"warnings"`
	Breakdowns []BreakdownAlert `json:"breakdowns"`
}

// FogAlert is one fog episode of a cell: raised the moment the
// FogMinVehicles-th distinct vehicle with fog lights on is in the cell,
// cleared once fewer have been there for FogClearAfter. The moments are
// the vehicles' own, in the order the reports were made. A processor that
// takes reports in the order they arrive can raise up to one batch age
// (uplink.batch.max_age, 1 s) later: fog lights are sent at once (a
// critical signal), but a vehicle entering the cell with them on is a cell
// change, which waits in its batch; measured against the gateway, 3 of 4
// fog episodes had the truth's id to the nanosecond and one was 0.44 s
// later.
type FogAlert struct {
	ID     string    `json:"id"`
	Cell   string    `json:"cell"`
	Raised time.Time `json:"raised"`
	// Cleared is nil when the alert was still raised at the end of the run.
	Cleared *time.Time `json:"cleared,omitempty"`
	// Vehicles are the ones counted when it was raised; Peak is the most
	// counted at once during the episode.
	Vehicles []string `json:"vehicles"`
	Peak     int      `json:"peak"`
}

// WarningAlert is a warning lamp coming on: the first frame that shows it.
type WarningAlert struct {
	ID      string    `json:"id"`
	Vehicle string    `json:"vehicle"`
	Lamp    string    `json:"lamp"`
	Cell    string    `json:"cell"`
	At      time.Time `json:"at"`
}

// BreakdownAlert is a vehicle standing with hazard lights on: Stopped is
// when both first held (the episode's start), Raised StoppedFor later.
// The cloud sees speeds as its agent samples them (a deadband of 0.5 km/h,
// at most every 200 ms), so its Stopped may be up to a second later.
type BreakdownAlert struct {
	ID      string     `json:"id"`
	Vehicle string     `json:"vehicle"`
	Cell    string     `json:"cell"`
	Stopped time.Time  `json:"stopped"`
	Raised  time.Time  `json:"raised"`
	Cleared *time.Time `json:"cleared,omitempty"`
}

// TruthOf computes the truth from the vehicles' frames so far: every
// vehicle of the fleet, in any order, none of them generating frames at
// the time. When some have not run to the end (a cancelled run), the
// truth ends where every one of them had come to: its End is then the
// earliest last frame of those.
func (f *Fleet) TruthOf(vehicles []*Vehicle, rules Rules) (*Truth, error) {
	r, lamps, err := rules.withDefaults()
	if err != nil {
		return nil, err
	}
	o := f.opts
	end := o.Start.Add(o.Duration).UnixNano()
	for _, v := range vehicles {
		if v != nil && !v.done {
			end = min(end, max(v.rep.last, o.Start.UnixNano()))
		}
	}
	tr := &Truth{Seed: o.Seed, Vehicles: o.Vehicles, Start: o.Start, End: ts(end),
		Level: o.CellLevel, Rules: r, FogBanks: f.FogBanks(),
		Fog: []FogAlert{}, Warnings: []WarningAlert{}, Breakdowns: []BreakdownAlert{}}
	var all []entry
	for _, v := range vehicles {
		if v == nil {
			continue
		}
		for i, rep := range v.rep.reports {
			if rep.t <= end {
				all = append(all, entry{rep, v.Index, i})
			}
		}
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := &all[i], &all[j]
		if a.t != b.t {
			return a.t < b.t
		}
		if a.v != b.v {
			return a.v < b.v
		}
		return a.seq < b.seq
	})
	e := newEngine(f, r, lamps, tr)
	for i := range all {
		e.fire(all[i].t)
		e.apply(&all[i])
	}
	e.fire(end)
	sort.SliceStable(tr.Fog, func(i, j int) bool { return tr.Fog[i].Raised.Before(tr.Fog[j].Raised) })
	sort.SliceStable(tr.Breakdowns, func(i, j int) bool { return tr.Breakdowns[i].Raised.Before(tr.Breakdowns[j].Raised) })
	return tr, nil
}

// entry is a report of vehicle v, the seq-th it made.
type entry struct {
	report
	v, seq int
}

// engine applies the rules to the reports in time order.
type engine struct {
	f      *Fleet
	r      Rules
	lamps  sim.Lamps
	tr     *Truth
	veh    map[int]*vehTruth
	cells  map[geo.Cell]*cellTruth
	timers timerHeap
}

type vehTruth struct {
	cell     geo.Cell
	fog      bool
	counted  bool // in its cell's count
	expired  bool // silent for FogWindow
	silentG  int  // generation of the expiry timer
	hazard   bool
	stopped  bool
	bdStart  int64
	bdCell   geo.Cell
	bdG      int
	bdAlert  int // index in tr.Breakdowns, -1
	bdActive bool
}

type cellTruth struct {
	members  map[int]bool
	alert    int // index in tr.Fog, -1
	clearG   int
	clearing bool
}

// timer is a rule's deadline: a fog clear, a silent vehicle's expiry, a
// breakdown's raise. gen invalidates a timer that was called off.
type timer struct {
	at   int64
	kind uint8
	v    int
	cell geo.Cell
	gen  int
}

const (
	tClear uint8 = iota
	tExpire
	tBreakdown
)

func newEngine(f *Fleet, r Rules, lamps sim.Lamps, tr *Truth) *engine {
	return &engine{f: f, r: r, lamps: lamps, tr: tr, veh: map[int]*vehTruth{}, cells: map[geo.Cell]*cellTruth{}}
}

func (e *engine) vehicle(i int) *vehTruth {
	v := e.veh[i]
	if v == nil {
		v = &vehTruth{bdAlert: -1}
		e.veh[i] = v
	}
	return v
}

func (e *engine) cell(c geo.Cell) *cellTruth {
	ct := e.cells[c]
	if ct == nil {
		ct = &cellTruth{members: map[int]bool{}, alert: -1}
		e.cells[c] = ct
	}
	return ct
}

func ts(ns int64) time.Time { return time.Unix(0, ns).UTC() }

func episodeID(kind string, c geo.Cell, start int64, parts ...string) string {
	id := kind + ":" + c.Token() + ":"
	for _, p := range parts {
		id += p + ":"
	}
	return id + strconv.FormatInt(start, 10)
}

// apply takes one report.
func (e *engine) apply(en *entry) {
	v := e.vehicle(en.v)
	switch en.kind {
	case repCell:
		e.uncount(en.v, v, en.t)
		v.cell = geo.Cell(en.val)
		e.count(en.v, v, en.t)
	case repFog:
		v.fog = en.val == 1
		if v.fog {
			e.count(en.v, v, en.t)
		} else {
			e.uncount(en.v, v, en.t)
		}
	case repSilent:
		v.silentG++
		heap.Push(&e.timers, timer{at: en.t + int64(e.r.FogWindow), kind: tExpire, v: en.v, gen: v.silentG})
	case repAwake:
		v.silentG++
		v.expired = false
		e.count(en.v, v, en.t)
	case repLamp:
		l := sim.Lamp(en.val)
		if e.lamps.Has(l) && v.cell != 0 {
			e.tr.Warnings = append(e.tr.Warnings, WarningAlert{ID: episodeID("warning", v.cell, en.t, l.Name()),
				Vehicle: e.f.ID(en.v), Lamp: l.Name(), Cell: v.cell.Token(), At: ts(en.t)})
		}
	case repHazard:
		v.hazard = en.val == 1
		e.breakdown(en.v, v, en.t)
	case repStopped:
		v.stopped = en.val == 1
		e.breakdown(en.v, v, en.t)
	}
}

// count adds vehicle i to its cell's count when it has fog lights on.
func (e *engine) count(i int, v *vehTruth, t int64) {
	if v.counted || !v.fog || v.expired || v.cell == 0 {
		return
	}
	v.counted = true
	ct := e.cell(v.cell)
	ct.members[i] = true
	n := len(ct.members)
	switch {
	case ct.alert >= 0:
		a := &e.tr.Fog[ct.alert]
		a.Peak = max(a.Peak, n)
		if n >= e.r.FogMinVehicles {
			ct.clearing = false
			ct.clearG++
		}
	case n >= e.r.FogMinVehicles:
		var ids []string
		for m := range ct.members {
			ids = append(ids, e.f.ID(m))
		}
		slices.Sort(ids)
		ct.alert = len(e.tr.Fog)
		e.tr.Fog = append(e.tr.Fog, FogAlert{ID: episodeID("fog", v.cell, t), Cell: v.cell.Token(),
			Raised: ts(t), Vehicles: ids, Peak: n})
	}
}

// uncount takes vehicle i out of its cell's count.
func (e *engine) uncount(i int, v *vehTruth, t int64) {
	if !v.counted {
		return
	}
	v.counted = false
	ct := e.cell(v.cell)
	delete(ct.members, i)
	if ct.alert >= 0 && len(ct.members) < e.r.FogMinVehicles && !ct.clearing {
		ct.clearing = true
		ct.clearG++
		heap.Push(&e.timers, timer{at: t + int64(e.r.FogClearAfter), kind: tClear, cell: v.cell, gen: ct.clearG})
	}
}

// breakdown follows hazard lights on a stopped vehicle.
func (e *engine) breakdown(i int, v *vehTruth, t int64) {
	on := v.hazard && v.stopped
	switch {
	case on && !v.bdActive:
		v.bdActive, v.bdStart, v.bdCell = true, t, v.cell
		v.bdG++
		heap.Push(&e.timers, timer{at: t + int64(e.r.StoppedFor), kind: tBreakdown, v: i, gen: v.bdG})
	case !on && v.bdActive:
		v.bdActive = false
		v.bdG++
		if v.bdAlert >= 0 {
			c := ts(t)
			e.tr.Breakdowns[v.bdAlert].Cleared = &c
			v.bdAlert = -1
		}
	}
}

// fire runs the timers due by t.
func (e *engine) fire(t int64) {
	for len(e.timers) > 0 && e.timers[0].at <= t {
		tm := heap.Pop(&e.timers).(timer)
		switch tm.kind {
		case tClear:
			ct := e.cells[tm.cell]
			if ct.clearG != tm.gen || !ct.clearing {
				continue
			}
			c := ts(tm.at)
			e.tr.Fog[ct.alert].Cleared = &c
			ct.alert, ct.clearing = -1, false
		case tExpire:
			v := e.veh[tm.v]
			if v.silentG != tm.gen {
				continue
			}
			e.uncount(tm.v, v, tm.at)
			v.expired = true
		case tBreakdown:
			v := e.veh[tm.v]
			if v.bdG != tm.gen || !v.bdActive {
				continue
			}
			v.bdAlert = len(e.tr.Breakdowns)
			e.tr.Breakdowns = append(e.tr.Breakdowns, BreakdownAlert{ID: episodeID("breakdown", v.bdCell, v.bdStart),
				Vehicle: e.f.ID(tm.v), Cell: v.bdCell.Token(), Stopped: ts(v.bdStart), Raised: ts(tm.at)})
		}
	}
}

// timerHeap orders timers by time, then by kind and vehicle so that ties
// resolve the same way every run.
type timerHeap []timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	a, b := h[i], h[j]
	if a.at != b.at {
		return a.at < b.at
	}
	if a.kind != b.kind {
		return a.kind < b.kind
	}
	if a.v != b.v {
		return a.v < b.v
	}
	return a.cell < b.cell
}
func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)   { *h = append(*h, x.(timer)) }
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}
