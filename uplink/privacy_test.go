package uplink

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/geo"
)

func catID(t testing.TB, path string) uint32 {
	t.Helper()
	e, ok := catalog.Default().ByPath(path)
	if !ok {
		t.Fatalf("no catalog entry %s", path)
	}
	return e.ID
}

// fix is the catalog values of one GNSS frame and a speed.
func fix(t testing.TB, at time.Duration, lat, lng, kmh float64) []catalog.Value {
	ns := int64(at)
	return append(make([]catalog.Value, 0, 4),
		catalog.Value{ID: catID(t, LatitudePath), Time: ns, Num: lat},
		catalog.Value{ID: catID(t, LongitudePath), Time: ns, Num: lng},
		catalog.Value{ID: catID(t, speedPath), Time: ns, Num: kmh})
}

func newPrivacy(t *testing.T, opts PrivacyOptions, mapped ...string) (*Privacy, *int, *prometheus.Registry) {
	t.Helper()
	ids := map[uint32]bool{}
	for _, p := range mapped {
		ids[catID(t, p)] = true
	}
	withheld := 0
	reg := prometheus.NewRegistry()
	p, err := NewPrivacy(opts, PrivacyDeps{Logger: quiet, Metrics: reg,
		Mapped: func(id uint32) bool { return ids[id] }, OnWithhold: func() { withheld++ }})
	if err != nil {
		t.Fatal(err)
	}
	return p, &withheld, reg
}

// cellOf returns the cell value in vals, and checks no precise coordinate
// is left.
func cellOf(t *testing.T, p *Privacy, vals []catalog.Value) (geo.Cell, bool) {
	t.Helper()
	var c geo.Cell
	found := false
	for _, v := range vals {
		switch v.ID {
		case catID(t, LatitudePath), catID(t, LongitudePath):
			t.Fatalf("a precise coordinate passed the privacy stage: %+v", v)
		case p.CellID():
			var err error
			if c, err = geo.CellFromFloat64(v.Num); err != nil {
				t.Fatal(err)
			}
			found = true
		}
	}
	return c, found
}

func TestPrivacyCells(t *testing.T) {
	p, _, reg := newPrivacy(t, PrivacyOptions{})
	vals := p.Filter(fix(t, 0, 48.137412, 11.575512, 30))
	c, ok := cellOf(t, p, vals)
	grid, _ := geo.NewGrid(geo.DefaultLevel)
	want, _ := grid.Cell(48.137412, 11.575512)
	if !ok || c != want || c.Level() != 13 {
		t.Fatalf("cell %v (%v), want %v at level 13", c, ok, want)
	}
	if len(vals) != 2 || vals[0].ID != catID(t, speedPath) {
		t.Fatalf("values %+v: want the speed and the cell", vals)
	}
	if cur, shown := p.Cell(); !shown || cur != want {
		t.Errorf("Cell() = %v, %v", cur, shown)
	}
	// a frame with only the speed: no new cell value
	speed := []catalog.Value{{ID: catID(t, speedPath), Time: 1, Num: 31}}
	if out := p.Filter(speed); len(out) != 1 {
		t.Errorf("a frame without a fix gained values: %+v", out)
	}
	if n := testutil.ToFloat64(p.positionsTotal); n != 1 {
		t.Errorf("positions counted %v", n)
	}
	_ = reg
	// a level of one's own
	p9, _, _ := newPrivacy(t, PrivacyOptions{Level: 9})
	c9, _ := cellOf(t, p9, p9.Filter(fix(t, 0, 48.137412, 11.575512, 30)))
	if c9 != want.Parent(9) {
		t.Errorf("level 9 cell %v, want %v", c9, want.Parent(9))
	}
}

func TestPrivacyZones(t *testing.T) {
	home := geo.Zone{Name: "home", Lat: 48.150, Lng: 11.560, RadiusM: 200}
	p, withheld, _ := newPrivacy(t, PrivacyOptions{Zones: []geo.Zone{home}})
	far := fix(t, 0, 48.120, 11.600, 30)
	if _, ok := cellOf(t, p, p.Filter(far)); !ok {
		t.Fatal("far from the zone: no cell")
	}
	// inside the zone: nothing, not even a cell
	if _, ok := cellOf(t, p, p.Filter(fix(t, time.Second, 48.1501, 11.5601, 10))); ok {
		t.Fatal("a cell was sent from inside a privacy zone")
	}
	if *withheld != 1 {
		t.Errorf("OnWithhold ran %d times, want 1", *withheld)
	}
	if _, shown := p.Cell(); shown {
		t.Error("Cell() shown inside a zone")
	}
	// outside the radius but in a cell that overlaps the zone: withheld too
	grid, _ := geo.NewGrid(geo.DefaultLevel)
	zc, _ := grid.Cell(home.Lat, home.Lng)
	var edge geo.LatLng
	for _, corner := range zc.Corners() {
		ll := geo.LatLng{Lat: (corner.Lat*9 + home.Lat) / 10, Lng: (corner.Lng*9 + home.Lng) / 10}
		if ll.DistanceM(geo.LatLng{Lat: home.Lat, Lng: home.Lng}) > 2*home.RadiusM {
			edge = ll
			break
		}
	}
	if edge == (geo.LatLng{}) {
		t.Fatal("no point of the zone's cell outside the zone")
	}
	if _, ok := cellOf(t, p, p.Filter(fix(t, 2*time.Second, edge.Lat, edge.Lng, 10))); ok {
		t.Fatal("the cell holding a privacy zone was sent")
	}
	if _, ok := cellOf(t, p, p.Filter(fix(t, 3*time.Second, 48.120, 11.600, 30))); !ok {
		t.Fatal("no cell after leaving the zone")
	}
	if n := testutil.ToFloat64(p.withheld.WithLabelValues("zone")); n != 2 {
		t.Errorf("withheld for zone %v, want 2", n)
	}
}

func TestPrivacyTripStart(t *testing.T) {
	const delay = 3 * time.Minute
	t.Run("by motion without ignition", func(t *testing.T) {
		p, withheld, _ := newPrivacy(t, PrivacyOptions{TripStartDelay: delay, TripGap: 10 * time.Minute})
		sent := func(at time.Duration, kmh float64) bool {
			_, ok := cellOf(t, p, p.Filter(fix(t, at, 48.13, 11.57, kmh)))
			return ok
		}
		if sent(0, 20) || sent(2*time.Minute, 30) {
			t.Fatal("a position was sent in the first minutes of the trip")
		}
		if *withheld != 1 {
			t.Errorf("OnWithhold ran %d times", *withheld)
		}
		if !sent(3*time.Minute, 30) || !sent(10*time.Minute, 0) {
			t.Fatal("no position after the trip-start delay")
		}
		// standing for 15 minutes, then moving: a new trip
		if !sent(25*time.Minute, 0) {
			t.Fatal("a standing vehicle's position withheld")
		}
		if sent(25*time.Minute+time.Second, 5) || sent(27*time.Minute, 40) {
			t.Fatal("a position sent at the start of the second trip")
		}
		if !sent(29*time.Minute, 40) {
			t.Fatal("no position after the second trip's delay")
		}
	})
	t.Run("by ignition", func(t *testing.T) {
		p, _, _ := newPrivacy(t, PrivacyOptions{TripStartDelay: delay}, ignitionPath)
		ign := func(at time.Duration, state float64) {
			p.Filter([]catalog.Value{{ID: catID(t, ignitionPath), Time: int64(at), Num: state}})
		}
		sent := func(at time.Duration) bool {
			_, ok := cellOf(t, p, p.Filter(fix(t, at, 48.13, 11.57, 0)))
			return ok
		}
		ign(0, 4) // ON
		if sent(time.Minute) || !sent(4*time.Minute) {
			t.Fatal("trip start by ignition not honoured")
		}
		ign(5*time.Minute, 2) // OFF
		ign(6*time.Minute, 4) // ON again: a new trip, though the car never moved
		if sent(7 * time.Minute) {
			t.Fatal("a position sent right after the ignition came on")
		}
		if !sent(9*time.Minute + time.Second) {
			t.Fatal("no position after the delay")
		}
	})
}

func TestPrivacyInvalidFix(t *testing.T) {
	p, _, _ := newPrivacy(t, PrivacyOptions{})
	if _, ok := cellOf(t, p, p.Filter(fix(t, 0, 91, 11, 0))); ok {
		t.Fatal("a cell for latitude 91")
	}
	if n := testutil.ToFloat64(p.withheld.WithLabelValues("invalid")); n != 1 {
		t.Errorf("invalid fixes counted %v", n)
	}
}

func TestPrivacyOptionsCheck(t *testing.T) {
	for _, tc := range []struct {
		desc string
		o    PrivacyOptions
		want string
	}{
		{"level", PrivacyOptions{Level: 31}, "privacy.level"},
		{"zone", PrivacyOptions{Zones: []geo.Zone{{Name: "x", Lat: 48, Lng: 11}}}, "privacy.zones"},
		{"delay", PrivacyOptions{TripStartDelay: -time.Second}, "trip_start_delay"},
	} {
		if err := tc.o.Check(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.desc, err, tc.want)
		}
	}
}

func TestPrivacyFilterAllocs(t *testing.T) {
	p, _, _ := newPrivacy(t, PrivacyOptions{Zones: []geo.Zone{{Name: "home", Lat: 48.15, Lng: 11.56, RadiusM: 200}}})
	in := fix(t, 0, 48.13, 11.57, 30)
	buf := make([]catalog.Value, 0, 8)
	allocs := testing.AllocsPerRun(100, func() {
		buf = append(buf[:0], in...)
		p.Filter(buf)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per fix", allocs)
	}
}
