package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/kanal-dev/kanal/sim/runner"
)

// progress shows a run's progress: a bar redrawn in place on a terminal,
// a log line now and then otherwise (a file, a pipe, CI).
type progress struct {
	w     io.Writer
	tty   bool
	every time.Duration
	drawn bool
	last  runner.Progress
	at    time.Time
}

func newProgress(w io.Writer, every time.Duration) *progress {
	p := &progress{w: w, tty: isTerminal(w), every: every}
	if p.tty {
		p.every = 250 * time.Millisecond
	}
	return p
}

// report takes one progress report of the runner.
func (p *progress) report(r runner.Progress) {
	rate := 0.0
	if !p.at.IsZero() {
		rate = float64(r.Frames-p.last.Frames) / time.Since(p.at).Seconds()
	}
	p.last, p.at = r, time.Now()
	if p.tty {
		fmt.Fprintf(p.w, "\r%s\x1b[K", bar(r, rate))
		p.drawn = true
		return
	}
	slog.Info("fleet progress", "sim", r.Sim.UTC().Format(time.RFC3339), "elapsed", r.Elapsed.Round(time.Second),
		"of", r.Duration, "vehicles", r.Vehicles, "connected", r.Connected, "ended", r.Ended, "frames", r.Frames,
		"frames_per_s", int(rate), "batches", r.Batches, "spooled", r.Unacked, "lag", r.Lag.Round(time.Millisecond), "done", r.Done)
}

// finish ends the bar's line.
func (p *progress) finish() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}

// bar renders one progress line.
func bar(r runner.Progress, rate float64) string {
	const width = 24
	frac := 0.0
	if r.Duration > 0 {
		frac = min(1, max(0, float64(r.Elapsed)/float64(r.Duration)))
	}
	n := int(frac * width)
	b := strings.Repeat("=", n)
	if n < width {
		b += ">" + strings.Repeat(" ", width-n-1)
	}
	return fmt.Sprintf("[%s] %3.0f%%  %s of %s  %d/%d connected  %s frames (%s/s)  %d batches, %d spooled  lag %.1fs",
		b, 100*frac, r.Elapsed.Round(time.Second), r.Duration, r.Connected, r.Vehicles,
		count(float64(r.Frames)), count(rate), r.Batches, r.Unacked, r.Lag.Seconds())
}

// count formats a number for people: 950, 12.3k, 4.56M.
func count(x float64) string {
	switch {
	case x >= 1e6:
		return fmt.Sprintf("%.2fM", x/1e6)
	case x >= 1e4:
		return fmt.Sprintf("%.1fk", x/1e3)
	}
	return fmt.Sprintf("%.0f", x)
}
