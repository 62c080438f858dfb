package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kanal-dev/kanal/internal/wire"
	"github.com/kanal-dev/kanal/uplink/batch"
)

// Store puts vehicle batches into KANAL_BATCHES, each (vehicle, boot, seq)
// once however late its retry comes (dedup.go argues how), and refused
// payloads into KANAL_DEAD. It holds no state that matters: its cache only
// saves reads, so any number of Stores, on any number of gateways and NATS
// connections, may serve one fleet. It is safe for concurrent use and starts
// no goroutines.
type Store struct {
	js    jetstream.JetStream
	opts  Options
	log   *slog.Logger
	m     *metrics
	cache *cache

	mu      sync.Mutex
	batches jetstream.Stream // KANAL_BATCHES, looked up at first use
}

// New returns a Store publishing through js. It does not talk to
// JetStream: a gateway may start while NATS is still coming up (Ready says
// when it answers). Ensure the streams first, with the same Options.
func New(js jetstream.JetStream, opts Options) (*Store, error) {
	if js == nil {
		return nil, errors.New("store: jetstream is nil")
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	c := newCache(o.CacheSize)
	return &Store{js: js, opts: o, log: o.Logger, m: newMetrics(o.Metrics, c), cache: c}, nil
}

// Ready reports whether JetStream answers for KANAL_BATCHES: the gateway's
// readiness.
func (s *Store) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.PublishTimeout)
	defer cancel()
	st, err := s.js.Stream(ctx, wire.BatchesStream)
	if err != nil {
		return classify("look up stream "+wire.BatchesStream, err)
	}
	s.mu.Lock()
	s.batches = st
	s.mu.Unlock()
	return nil
}

// Store stores payload, the batch whose header ReadHeader gave as h, on
// kanal.batches.{vehicle} exactly as given, with Nats-Msg-Id h.MsgID() and
// the vehicle's new dedup state, and waits for JetStream's ack, at most
// Options.PublishTimeout. It returns Stored the first time a (vehicle,
// boot, seq) is stored and Duplicate after, whatever the delay. An error
// (ErrUnavailable or ErrRefused) means "maybe stored": answer the vehicle
// with a code it retries on.
//
// vehicle is the authenticated identity; h.Vehicle must equal it (the
// bridge refuses a batch naming another vehicle before it gets here).
func (s *Store) Store(ctx context.Context, vehicle string, h batch.Header, payload []byte) (Result, error) {
	if err := checkHeader(vehicle, h); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.PublishTimeout)
	defer cancel()
	id := h.MsgID()
	l, ok := s.cache.get(vehicle)
	if !ok {
		var err error
		if l, err = s.load(ctx, vehicle); err != nil {
			return 0, fmt.Errorf("store batch %s: %w", id, err)
		}
	}
	subject := wire.BatchSubject(vehicle)
	for attempt := 1; ; attempt++ {
		if l.state.has(h.Boot, h.Seq) {
			s.m.dupState.Inc()
			return Duplicate, nil
		}
		next := l.state.with(h.Boot, h.Seq)
		msg := &nats.Msg{Subject: subject, Data: payload, Header: nats.Header{HeaderDedup: {next.encode()}}}
		start := time.Now()
		ack, err := s.js.PublishMsg(ctx, msg, jetstream.WithMsgID(id), jetstream.WithExpectLastSequencePerSubject(l.seq))
		if err == nil {
			s.m.ack.Observe(time.Since(start).Seconds())
			if ack.Duplicate {
				s.m.dupWindow.Inc()
				return Duplicate, nil
			}
			s.cache.put(vehicle, last{seq: ack.Sequence, state: next})
			s.m.stored.Inc()
			return Stored, nil
		}
		if !isConflict(err) {
			s.cache.drop(vehicle)
			return 0, classify("store batch "+id, err)
		}
		s.m.conflicts.Inc()
		if attempt > 1 {
			if err := pause(ctx, attempt); err != nil {
				return 0, classify(fmt.Sprintf("store batch %s after %d conflicts", id, attempt), err)
			}
		}
		if l, err = s.load(ctx, vehicle); err != nil {
			return 0, fmt.Errorf("store batch %s: %w", id, err)
		}
	}
}

// checkHeader refuses what the bridge should never pass: it would break
// the subject, the message id or the state.
func checkHeader(vehicle string, h batch.Header) error {
	if err := batch.CheckVehicleID(vehicle); err != nil {
		return fmt.Errorf("store batch: %w", err)
	}
	if h.Vehicle != vehicle {
		return fmt.Errorf("store batch %s: the header names vehicle %q, not %q", h.MsgID(), h.Vehicle, vehicle)
	}
	if err := batch.CheckBootID(h.Boot); err != nil {
		return fmt.Errorf("store batch of %s: %w", vehicle, err)
	}
	if h.Seq == 0 {
		return fmt.Errorf("store batch of %s: seq 0", vehicle)
	}
	return nil
}

// pause waits a little before the attempt-th try after conflicts, with
// jitter, so replicas racing on one vehicle do not keep colliding.
func pause(ctx context.Context, attempt int) error {
	d := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 6)))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// load reads the vehicle's last message with a direct get and caches its
// sequence and dedup state. A direct get may be answered by a follower that
// is behind: that only costs another conflict.
func (s *Store) load(ctx context.Context, vehicle string) (last, error) {
	st, err := s.stream(ctx)
	if err != nil {
		return last{}, err
	}
	msg, err := st.GetLastMsgForSubject(ctx, wire.BatchSubject(vehicle))
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		s.cache.put(vehicle, last{})
		return last{}, nil
	case err != nil:
		return last{}, classify("read the last batch of "+vehicle, err)
	}
	l := last{seq: msg.Sequence}
	if l.state, err = decodeState(msg.Header.Get(HeaderDedup)); err != nil {
		s.m.badState.Inc()
		s.log.Warn("last batch of a vehicle has no readable dedup state; treating the vehicle as new",
			"vehicle", vehicle, "stream_seq", msg.Sequence, "err", err)
	}
	s.cache.put(vehicle, l)
	return l, nil
}

// stream returns the KANAL_BATCHES handle, looking it up the first time.
func (s *Store) stream(ctx context.Context) (jetstream.Stream, error) {
	s.mu.Lock()
	st := s.batches
	s.mu.Unlock()
	if st != nil {
		return st, nil
	}
	st, err := s.js.Stream(ctx, wire.BatchesStream)
	if err != nil {
		return nil, classify("look up stream "+wire.BatchesStream, err)
	}
	s.mu.Lock()
	s.batches = st
	s.mu.Unlock()
	return st, nil
}
