package fleet

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Seen is an alert change the system published: the fields of the
// gateway's kanal.alert.v1 JSON the comparison needs.
type Seen struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"`
	State string `json:"state"` // raised or cleared
}

// episode is an alert episode named by its id: kind:cell[:lamp]:start.
type episode struct {
	kind, cell, lamp string
	start            int64
}

func parseEpisode(id string) (episode, error) {
	parts := strings.Split(id, ":")
	var e episode
	switch {
	case len(parts) == 3 && (parts[0] == "fog" || parts[0] == "breakdown"):
		e.kind, e.cell = parts[0], parts[1]
	case len(parts) == 4 && parts[0] == "warning":
		e.kind, e.cell, e.lamp = parts[0], parts[1], parts[2]
	default:
		return e, fmt.Errorf("alert id %q: want kind:cell:start or warning:cell:lamp:start", id)
	}
	ns, err := strconv.ParseInt(parts[len(parts)-1], 10, 64)
	if err != nil {
		return e, fmt.Errorf("alert id %q: start: %w", id, err)
	}
	e.start = ns
	return e, nil
}

// Comparison says how the alerts a system raised agree with the truth.
type Comparison struct {
	// Matched pairs a truth episode's id with the system's id for it (the
	// same when the start times agree to the nanosecond).
	Matched map[string]string
	// Missing are truth episodes the system did not raise; Unexpected are
	// the system's episodes the truth does not have.
	Missing    []string
	Unexpected []string
	// NotCleared are matched episodes the truth clears within the run and
	// the system did not clear.
	NotCleared []string
	// Exact counts the matches whose ids are identical.
	Exact int
}

// OK reports whether the system raised every episode of the truth, no
// other, and cleared those the truth clears.
func (c *Comparison) OK() bool {
	return len(c.Missing) == 0 && len(c.Unexpected) == 0 && len(c.NotCleared) == 0
}

// Compare matches the system's alert changes against the truth. An
// episode matches one of the same kind, cell (and lamp) whose start is
// within tolerance of the truth's: the vehicles' times are exact, but the
// gateway sees speeds as the agent samples them (breakdowns) and reports
// in the order they arrive (fog; see FogAlert), so a second or two is
// fair. Alerts of kinds the truth does not cover are ignored.
func (tr *Truth) Compare(seen []Seen, tolerance time.Duration) (*Comparison, error) {
	type sys struct {
		id      string
		ep      episode
		cleared bool
		used    bool
	}
	var got []*sys
	byID := map[string]*sys{}
	for _, s := range seen {
		if s.Kind != "fog" && s.Kind != "warning" && s.Kind != "breakdown" {
			continue
		}
		ep, err := parseEpisode(s.ID)
		if err != nil {
			return nil, err
		}
		g := byID[s.ID]
		if g == nil {
			g = &sys{id: s.ID, ep: ep}
			byID[s.ID] = g
			got = append(got, g)
		}
		g.cleared = g.cleared || s.State == "cleared"
	}
	c := &Comparison{Matched: map[string]string{}}
	type want struct {
		id      string
		ep      episode
		cleared bool
	}
	var wants []want
	add := func(id string, cleared bool) error {
		ep, err := parseEpisode(id)
		if err != nil {
			return err
		}
		wants = append(wants, want{id, ep, cleared})
		return nil
	}
	for _, a := range tr.Fog {
		if err := add(a.ID, a.Cleared != nil); err != nil {
			return nil, err
		}
	}
	for _, a := range tr.Warnings {
		if err := add(a.ID, false); err != nil {
			return nil, err
		}
	}
	for _, a := range tr.Breakdowns {
		if err := add(a.ID, a.Cleared != nil); err != nil {
			return nil, err
		}
	}
	for _, w := range wants {
		var best *sys
		for _, g := range got {
			if g.used || g.ep.kind != w.ep.kind || g.ep.cell != w.ep.cell || g.ep.lamp != w.ep.lamp {
				continue
			}
			d := abs(g.ep.start - w.ep.start)
			if d <= int64(tolerance) && (best == nil || d < abs(best.ep.start-w.ep.start)) {
				best = g
			}
		}
		if best == nil {
			c.Missing = append(c.Missing, w.id)
			continue
		}
		best.used = true
		c.Matched[w.id] = best.id
		if best.id == w.id {
			c.Exact++
		}
		if w.cleared && !best.cleared {
			c.NotCleared = append(c.NotCleared, w.id)
		}
	}
	for _, g := range got {
		if !g.used {
			c.Unexpected = append(c.Unexpected, g.id)
		}
	}
	sort.Strings(c.Missing)
	sort.Strings(c.Unexpected)
	sort.Strings(c.NotCleared)
	return c, nil
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// WriteText writes the comparison for people.
func (c *Comparison) WriteText(w io.Writer) error {
	b := bufio.NewWriter(w)
	verdict := "agrees with the truth"
	if !c.OK() {
		verdict = "DIFFERS from the truth"
	}
	fmt.Fprintf(b, "the system %s: %d episodes matched (%d to the nanosecond), %d missing, %d unexpected, %d not cleared\n",
		verdict, len(c.Matched), c.Exact, len(c.Missing), len(c.Unexpected), len(c.NotCleared))
	for _, id := range c.Missing {
		fmt.Fprintf(b, "  missing     %s\n", id)
	}
	for _, id := range c.Unexpected {
		fmt.Fprintf(b, "  unexpected  %s\n", id)
	}
	for _, id := range c.NotCleared {
		fmt.Fprintf(b, "  not cleared %s\n", id)
	}
	return b.Flush()
}

// ReadSeen reads the system's alerts: JSON objects of schema
// kanal.alert.v1, one after the other (JSON lines, as the gateway
// publishes them) or in the {"alerts": [...]} of its HTTP API.
func ReadSeen(r io.Reader) ([]Seen, error) {
	dec := json.NewDecoder(r)
	var out []Seen
	for n := 1; ; n++ {
		var v struct {
			Seen
			Alerts []Seen `json:"alerts"`
		}
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("alerts: value %d: %w", n, err)
		}
		if v.ID != "" {
			out = append(out, v.Seen)
		}
		out = append(out, v.Alerts...)
	}
}
