package agent

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/kanal-dev/kanal/can"
	"github.com/kanal-dev/kanal/can/socketcan"
	"github.com/kanal-dev/kanal/dbc"
)

// openSource opens what the config names: the SocketCAN interfaces, each
// with kernel filters for the ids the mapping needs, or the replayed log.
func openSource(ctx context.Context, s SourcesOptions, pipe *dbc.Pipeline, m *socketcan.Metrics, log *slog.Logger) (can.Source, error) {
	if s.Replay.File != "" {
		speed := *s.Replay.Speed
		lr := func() (can.Source, error) {
			return can.OpenLog(s.Replay.File, can.LogReaderOptions{OnMalformed: func(e *can.LineError) {
				log.Debug("malformed log line skipped", "err", e)
			}})
		}
		// The agent takes frame times from the log (retimed), never from
		// the moment a frame is released: 20 ms of slack cost nothing in
		// accuracy (a critical change leaves sooner, if anything) and wake
		// the reader 50 times a second instead of once a frame, which on a
		// busy log was most of the agent's CPU.
		src, err := can.NewReplay(can.ReplayOptions{Open: lr, Speed: speed, Loop: s.Replay.Loop, Slack: 20 * time.Millisecond})
		if err != nil {
			return nil, err
		}
		if s.Replay.KeepTime {
			return src, nil
		}
		return &retimed{Source: src, now: time.Now}, nil
	}
	var buses []can.Source
	for _, name := range s.Interfaces {
		b, err := socketcan.Open(ctx, socketcan.Options{Interface: name, Logger: log, Metrics: m,
			Filters: socketcan.FiltersFor(pipe.IDs(name, true))})
		if err != nil {
			for _, o := range buses {
				o.Close()
			}
			return nil, fmt.Errorf("open %s: %w", name, err)
		}
		buses = append(buses, b)
	}
	if len(buses) == 1 {
		return buses[0], nil
	}
	return can.Merge(buses...), nil
}

// retimed moves a replayed log's timestamps to the present, keeping their
// spacing, as a bus would stamp the frames: the first frame gets the time
// of its arrival, each later one that time plus its distance in the log. A
// timestamp that goes back (the next pass of a loop, logs joined from
// several recordings) continues from the last one instead, so time only
// moves forward.
type retimed struct {
	can.Source
	now     func() time.Time
	started bool
	lastLog time.Time
	lastOut time.Time
}

func (r *retimed) Next(ctx context.Context) (can.Timed, error) {
	t, err := r.Source.Next(ctx)
	if err != nil {
		return t, err
	}
	logT := t.Time
	switch {
	case !r.started:
		r.started = true
		t.Time = r.now()
	case logT.Before(r.lastLog):
		t.Time = r.lastOut
	default:
		t.Time = r.lastOut.Add(logT.Sub(r.lastLog))
	}
	r.lastLog, r.lastOut = logT, t.Time
	return t, nil
}
