package api

import (
	"fmt"
	"net/url"
	"slices"

	"github.com/kanal-dev/kanal/cloud/alert"
	"github.com/kanal-dev/kanal/geo"
	"github.com/kanal-dev/kanal/internal/wire"
)

// Filter selects alerts, as the query parameters kind, cell and bbox do;
// an empty field selects all.
type Filter struct {
	Kind string // fog, warning or breakdown
	Cell string // a cell token
	BBox string // minLon,minLat,maxLon,maxLat
}

// Query returns the filter as URL query parameters.
func (f Filter) Query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"kind": f.Kind, "cell": f.Cell, "bbox": f.BBox} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// kinds are the alert kinds a filter accepts.
var kinds = []string{alert.KindFog, alert.KindWarning, alert.KindBreakdown}

// filter is a parsed Filter.
type filter struct {
	kind, cell string
	bbox       *geo.BBox
}

// parseFilter reads kind, cell and bbox from a query, naming the parameter
// at fault.
func parseFilter(q url.Values) (filter, error) {
	var f filter
	for k := range q {
		switch k {
		case "kind", "cell", "bbox":
			if len(q[k]) > 1 {
				return f, fmt.Errorf("%s: given %d times, want once", k, len(q[k]))
			}
		}
	}
	if f.kind = q.Get("kind"); f.kind != "" && !slices.Contains(kinds, f.kind) {
		return f, fmt.Errorf("kind %q: want one of %v", f.kind, kinds)
	}
	if f.cell = q.Get("cell"); f.cell != "" {
		if _, err := geo.ParseToken(f.cell); err != nil {
			return f, fmt.Errorf("cell: %v", err)
		}
	}
	if s := q.Get("bbox"); s != "" {
		b, err := geo.ParseBBox(s)
		if err != nil {
			return f, err
		}
		f.bbox = &b
	}
	return f, nil
}

// subject is the JetStream filter of the traffic view for f.
func (f filter) subject() string {
	kind, cell := "*", "*"
	if f.kind != "" {
		kind = f.kind
	}
	if f.cell != "" {
		cell = f.cell
	}
	return wire.AlertSubject(kind, cell)
}

// match reports whether a passes f.
func (f filter) match(a *alert.Alert) bool {
	if f.kind != "" && a.Kind != f.kind || f.cell != "" && a.Cell != f.cell {
		return false
	}
	if f.bbox != nil {
		c, err := geo.ParseToken(a.Cell)
		if err != nil || !f.bbox.IntersectsCell(c) {
			return false
		}
	}
	return true
}
