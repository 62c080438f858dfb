package can

import (
	"context"
	"errors"
	"io"
	"sync"
)

// ErrClosed is returned by Next after Close, by Merge and by socketcan.Bus.
var ErrClosed = errors.New("can source closed")

// merged fans several sources into one. Each source has its own goroutine,
// because a live source (a SocketCAN bus) blocks in Next until a frame comes
// and the others must not wait for it. The goroutines are started by Merge and
// stopped and waited for by Close.
type merged struct {
	srcs   []Source
	frames chan Timed    // unbuffered: a frame is either delivered or still held by its goroutine
	done   chan struct{} // closed when every goroutine has returned
	closed chan struct{} // closed by Close: pending sends give up
	stop   context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	mu     sync.Mutex
	err    error // first hard error
}

// Merge returns a Source that yields the frames of all sources in the order
// they arrive (not sorted by Timed.Time: interleave logs with Replay or sort
// them first if time order matters).
//
// A source that returns io.EOF has ended; the others go on, and Next returns
// io.EOF once all have ended. The first other error ("hard" error) stops the
// merge: the other sources are asked to stop (their context is cancelled), the
// frames they already read are still delivered, so none is lost, and then Next
// returns that error. Errors after the first are dropped.
//
// Next honours its ctx; a frame that was not taken when ctx ended stays
// queued for the next call. Close stops and closes every source and waits for
// the goroutines; Next then returns ErrClosed.
func Merge(sources ...Source) Source {
	ctx, stop := context.WithCancel(context.Background())
	m := &merged{
		srcs:   sources,
		frames: make(chan Timed),
		done:   make(chan struct{}),
		closed: make(chan struct{}),
		stop:   stop,
	}
	m.wg.Add(len(sources))
	for _, src := range sources {
		go m.pump(ctx, src)
	}
	go func() {
		m.wg.Wait()
		close(m.done)
	}()
	return m
}

// pump moves frames from one source to m.frames until the source ends or the
// merge stops.
func (m *merged) pump(ctx context.Context, src Source) {
	defer m.wg.Done()
	for ctx.Err() == nil {
		t, err := src.Next(ctx)
		if err != nil {
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				m.fail(err)
			}
			return
		}
		select {
		case m.frames <- t:
		case <-m.closed:
			return
		}
	}
}

// fail records the first hard error and stops the other sources.
func (m *merged) fail(err error) {
	m.mu.Lock()
	if m.err == nil {
		m.err = err
	}
	m.mu.Unlock()
	m.stop()
}

// Next implements Source.
func (m *merged) Next(ctx context.Context) (Timed, error) {
	select {
	case <-m.closed:
		return Timed{}, ErrClosed
	default:
	}
	select {
	case t := <-m.frames:
		return t, nil
	case <-m.done:
		m.mu.Lock()
		defer m.mu.Unlock()
		select {
		case <-m.closed:
			return Timed{}, ErrClosed
		default:
		}
		if m.err != nil {
			return Timed{}, m.err
		}
		return Timed{}, io.EOF
	case <-m.closed:
		return Timed{}, ErrClosed
	case <-ctx.Done():
		return Timed{}, ctx.Err()
	}
}

// Close stops every source, closes it (which unblocks a source that does not
// watch its context closely) and waits for the goroutines. It returns the
// sources' Close errors, joined.
func (m *merged) Close() error {
	var errs []error
	m.once.Do(func() {
		m.stop()
		close(m.closed)
		for _, src := range m.srcs {
			if err := src.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		<-m.done
	})
	return errors.Join(errs...)
}
