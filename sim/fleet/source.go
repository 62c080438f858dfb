package fleet

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/kanal-dev/kanal/can"
)

// Clock maps the fleet's simulated time onto the wall clock: simulated
// time Start runs from the wall-clock moment the Clock was made, Speed
// times as fast. One Clock paces every vehicle of a run, so their frames
// keep in step with each other.
type Clock struct {
	start time.Time // simulated
	wall  time.Time // when start is
	speed float64
	now   func() time.Time
}

// NewClock returns a clock on which simulated time start is now. speed 1
// is real time, 10 ten times as fast, 0 (or less) as fast as the frames
// can be made: then every frame is due at once.
func NewClock(start time.Time, speed float64) *Clock {
	return &Clock{start: start, wall: time.Now(), speed: speed, now: time.Now}
}

// Reset makes now the wall-clock moment of the simulated start. Call it
// before any Source uses the clock: a run that builds its agents first
// starts its clock when they are ready.
func (c *Clock) Reset() { c.wall = c.now() }

// Speed returns the clock's speed; 0 is as fast as possible.
func (c *Clock) Speed() float64 { return max(c.speed, 0) }

// Sim returns the simulated time now (for speed 0: the start).
func (c *Clock) Sim() time.Time {
	if c.speed <= 0 {
		return c.start
	}
	return c.start.Add(time.Duration(float64(c.now().Sub(c.wall)) * c.speed))
}

// Until returns how long, on the wall clock, until simulated time t is
// due; 0 or less when it is (always, at speed 0).
func (c *Clock) Until(t time.Time) time.Duration {
	if c.speed <= 0 {
		return 0
	}
	due := c.wall.Add(time.Duration(float64(t.Sub(c.start)) / c.speed))
	return due.Sub(c.now())
}

// DefaultSlack is SourceOptions.Slack's default.
const DefaultSlack = 5 * time.Millisecond

// Source is a live can.Source of one vehicle: each frame is released when
// its time comes on the Clock, stamped with its simulated time, which the
// edge agent samples and batches by. It implements can.Source; Next and
// Close may be called from different goroutines.
type Source struct {
	v      *Vehicle
	clock  *Clock
	slack  time.Duration
	timer  *time.Timer
	closed chan struct{}
	once   sync.Once
	lag    time.Duration // how late the last frame was released
	mu     sync.Mutex    // guards lag
}

// SourceOptions configures a Source.
type SourceOptions struct {
	// Clock paces the frames; nil means a new clock at real time whose
	// simulated start is the fleet's Start.
	Clock *Clock
	// Slack lets a frame out up to this much after its time, so that one
	// wake-up releases the frames of several milliseconds: 87 timers a
	// second per vehicle would make the scheduler the main cost of a large
	// fleet. Frames are never released early, so a frame's timestamp is
	// never in the future of its release. Default DefaultSlack; negative
	// means none.
	Slack time.Duration
}

// Source returns the vehicle's frames as a live source.
func (v *Vehicle) Source(opts SourceOptions) *Source {
	if opts.Clock == nil {
		opts.Clock = NewClock(v.start, 1)
	}
	switch {
	case opts.Slack == 0:
		opts.Slack = DefaultSlack
	case opts.Slack < 0:
		opts.Slack = 0
	}
	return &Source{v: v, clock: opts.Clock, slack: opts.Slack, closed: make(chan struct{})}
}

// ErrClosed is what Next returns once the Source is closed.
var ErrClosed = errors.New("fleet: source closed")

// Next returns the vehicle's next frame when it is due, or io.EOF after
// the fleet's Duration.
func (s *Source) Next(ctx context.Context) (can.Timed, error) {
	select {
	case <-s.closed:
		return can.Timed{}, ErrClosed
	default:
	}
	t, err := s.v.Next()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return t, io.EOF
		}
		return t, err
	}
	if d := s.clock.Until(t.Time); d > 0 {
		d += s.slack
		if s.timer == nil {
			s.timer = time.NewTimer(d)
		} else {
			s.timer.Reset(d)
		}
		s.mu.Lock()
		s.lag = 0
		s.mu.Unlock()
		select {
		case <-s.timer.C:
		case <-ctx.Done():
			s.timer.Stop()
			return can.Timed{}, ctx.Err()
		case <-s.closed:
			s.timer.Stop()
			return can.Timed{}, ErrClosed
		}
	} else {
		s.mu.Lock()
		s.lag = -d
		s.mu.Unlock()
	}
	return t, nil
}

// Lag returns how late, on the wall clock, the last frame that was already
// due when asked for was released: a fleet too large for its machine falls
// behind its clock.
func (s *Source) Lag() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lag
}

// Vehicle returns the vehicle whose frames the source releases.
func (s *Source) Vehicle() *Vehicle { return s.v }

// Close ends the source: a pending Next returns ErrClosed.
func (s *Source) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}
