package can

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// ReplayOptions configures a Replay.
type ReplayOptions struct {
	// Open opens the log from its start. It is called once, and again for
	// every pass when Loop is set. Required.
	Open func() (Source, error)
	// Speed scales the log's timing: 1 is real time, 2 twice as fast.
	// 0 (or less) replays as fast as the consumer reads.
	Speed float64
	// Loop starts over at the end of the log, until ctx ends.
	Loop bool
	// MaxGap shortens a pause between two frames that is longer than MaxGap
	// (in log time) to MaxGap; logs joined from several recordings have gaps
	// of hours. 0 keeps every gap, as canplayer does.
	MaxGap time.Duration
	// Restamp sets each frame's Time to the wall clock when it is emitted,
	// so that downstream code sees a live bus. Otherwise the log's time stays.
	Restamp bool
	// Map renames buses, log bus → output bus, like canplayer's
	// `vcan0=can0` assignments (written there output=input).
	Map map[string]string
	// Slack is how early a frame may be released; 0 means 200 µs, which
	// keeps the spacing of frames sent onto a bus. A consumer that takes
	// the frames' times from the log, not from the moment they arrive (the
	// agent), can allow milliseconds: on a busy bus (4,000 frames/s) a
	// sleep per frame makes the scheduler the main cost of a replay, and a
	// few milliseconds of slack wake the reader once per many frames.
	Slack time.Duration
	// Default is the output bus of frames whose bus Map does not name. When
	// it is empty and Map is not, such frames are dropped, as canplayer does;
	// when both are empty, bus names stay as logged.
	Default string
}

// Replay paces a recorded log like can-utils' canplayer: each frame is
// released when its log timestamp, scaled by Speed, is due. A timestamp that
// goes backwards (logs joined from several files) restarts the clock instead
// of stalling or bursting. Replay implements Source.
type Replay struct {
	opts ReplayOptions
	src  Source

	started   bool
	wallStart time.Time     // wall clock at the anchor frame
	logStart  time.Duration // log time of the anchor frame (since the epoch)
	lastLog   time.Duration // log time of the previous frame
	passes    int
	frames    int64
	timer     *time.Timer // reused by every wait: one allocation per replay, not per frame
}

// replaySlack is how far ahead of its due time a frame may be released by
// default. Sleeping for less than this costs more in timer overhead than it
// gains in precision; the average rate stays exact because each due time
// is absolute.
const replaySlack = 200 * time.Microsecond

// NewReplay opens the log and returns a paced source over it.
func NewReplay(opts ReplayOptions) (*Replay, error) {
	if opts.Open == nil {
		return nil, errors.New("replay: options: Open is required")
	}
	src, err := opts.Open()
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	return &Replay{opts: opts, src: src, passes: 1}, nil
}

// Next returns the next frame when it is due.
func (r *Replay) Next(ctx context.Context) (Timed, error) {
	for {
		t, err := r.src.Next(ctx)
		if err == io.EOF && r.opts.Loop && r.frames > 0 {
			if err := r.reopen(); err != nil {
				return Timed{}, err
			}
			continue
		}
		if err != nil {
			return Timed{}, err
		}
		if bus, ok := r.opts.Map[t.Bus]; ok {
			t.Bus = bus
		} else if r.opts.Default != "" {
			t.Bus = r.opts.Default
		} else if len(r.opts.Map) > 0 {
			continue
		}
		r.frames++
		if err := r.wait(ctx, time.Duration(t.Time.UnixNano())); err != nil {
			return Timed{}, err
		}
		if r.opts.Restamp {
			t.Time = time.Now()
		}
		return t, nil
	}
}

func (r *Replay) reopen() error {
	if err := r.src.Close(); err != nil {
		return fmt.Errorf("replay: close for loop: %w", err)
	}
	src, err := r.opts.Open()
	if err != nil {
		return fmt.Errorf("replay: reopen for loop: %w", err)
	}
	r.src = src
	r.passes++
	r.started = false // the first frame of the next pass follows at once
	return nil
}

// wait sleeps until the frame with log time at is due.
func (r *Replay) wait(ctx context.Context, at time.Duration) error {
	if r.opts.Speed <= 0 {
		return ctx.Err()
	}
	now := time.Now()
	gap := at - r.lastLog
	switch {
	case !r.started || gap < 0:
		r.started = true
		r.wallStart, r.logStart = now, at
	case r.opts.MaxGap > 0 && gap > r.opts.MaxGap:
		r.logStart += gap - r.opts.MaxGap // shift the anchor: the gap shrinks
	}
	r.lastLog = at
	due := r.wallStart.Add(time.Duration(float64(at-r.logStart) / r.opts.Speed))
	d := due.Sub(now)
	slack := r.opts.Slack
	if slack <= 0 {
		slack = replaySlack
	}
	if d <= slack {
		return ctx.Err()
	}
	if r.timer == nil {
		r.timer = time.NewTimer(d)
	} else {
		r.timer.Reset(d) // Go 1.23 timers: no stale value to drain after Stop
	}
	select {
	case <-r.timer.C:
		return nil
	case <-ctx.Done():
		r.timer.Stop()
		return ctx.Err()
	}
}

// Passes returns how many times the log has been opened.
func (r *Replay) Passes() int { return r.passes }

// Close closes the underlying log.
func (r *Replay) Close() error { return r.src.Close() }

// ParseBusMap parses canplayer-style assignments `out=in` (e.g. "vcan0=can0":
// frames logged on can0 go to vcan0) into a Map for ReplayOptions.
func ParseBusMap(assignments []string) (map[string]string, error) {
	m := make(map[string]string, len(assignments))
	for _, a := range assignments {
		out, in, ok := strings.Cut(a, "=")
		if !ok || out == "" || in == "" {
			return nil, fmt.Errorf("bus map %q: want OUT=IN, e.g. vcan0=can0", a)
		}
		if _, dup := m[in]; dup {
			return nil, fmt.Errorf("bus map %q: bus %s is mapped twice", a, in)
		}
		m[in] = out
	}
	return m, nil
}
