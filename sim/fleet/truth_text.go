package fleet

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// clock formats a time of the run for people: UTC, to the millisecond.
func clock(t time.Time) string { return t.UTC().Format("15:04:05.000") }

func clockOrNot(t *time.Time) string {
	if t == nil {
		return "still raised at the end"
	}
	return "cleared " + clock(*t)
}

// WriteText writes the truth for people: the run, the fog banks, then
// every alert the rules should raise, in time order.
func (tr *Truth) WriteText(w io.Writer) error {
	b := bufio.NewWriter(w)
	r := tr.Rules
	fmt.Fprintf(b, "truth: %d vehicles, seed %d, %s to %s UTC (%v), cells of level %d\n",
		tr.Vehicles, tr.Seed, tr.Start.UTC().Format("2006-01-02 15:04:05"), clock(tr.End), tr.End.Sub(tr.Start), tr.Level)
	fmt.Fprintf(b, "rules: fog at %d vehicles (window %v, clear after %v); breakdown after %v stopped; lamps %s\n",
		r.FogMinVehicles, r.FogWindow, r.FogClearAfter, r.StoppedFor, strings.Join(r.Lamps, " "))
	fmt.Fprintf(b, "fog banks: %d\n", len(tr.FogBanks))
	for i, fb := range tr.FogBanks {
		kmh := math.Hypot(fb.VX, fb.VY) * 3.6
		to := math.Mod(math.Atan2(fb.VX, fb.VY)*180/math.Pi+360, 360)
		fmt.Fprintf(b, "  %d  %s to %s  over %.4fN %.4fE at mid-life, radius %.0f m, drifting %.0f km/h toward %.0f°\n",
			i+1, clock(tr.Start.Add(fb.From)), clock(tr.Start.Add(fb.To)), fb.Lat, fb.Lon, fb.RadiusM, kmh, to)
	}
	fmt.Fprintf(b, "fog alerts: %d\n", len(tr.Fog))
	for _, a := range tr.Fog {
		fmt.Fprintf(b, "  fog        %s  raised %s  %s  %d vehicles (peak %d): %s\n",
			a.Cell, clock(a.Raised), clockOrNot(a.Cleared), len(a.Vehicles), a.Peak, strings.Join(a.Vehicles, " "))
	}
	fmt.Fprintf(b, "warnings: %d\n", len(tr.Warnings))
	for _, a := range tr.Warnings {
		fmt.Fprintf(b, "  warning    %s  at %s  %-20s %s\n", a.Cell, clock(a.At), a.Lamp, a.Vehicle)
	}
	fmt.Fprintf(b, "breakdowns: %d\n", len(tr.Breakdowns))
	for _, a := range tr.Breakdowns {
		fmt.Fprintf(b, "  breakdown  %s  stopped %s  raised %s  %s  %s\n",
			a.Cell, clock(a.Stopped), clock(a.Raised), clockOrNot(a.Cleared), a.Vehicle)
	}
	return b.Flush()
}
