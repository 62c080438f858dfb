package twin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/kanal-dev/kanal/internal/wire"
	"github.com/kanal-dev/kanal/uplink/batch"
)

// ErrNotFound is returned by Store.Get for a vehicle without a twin.
var ErrNotFound = errors.New("no twin")

// maxParallelPuts bounds the puts PutAll has in flight: enough to fill the
// round trips to JetStream, few enough to leave the connection to others.
const maxParallelPuts = 64

// Store reads and writes twins in the KV bucket KANAL_TWINS, one key per
// vehicle (its id is a valid key: CheckVehicleID). Only the active alert
// processor writes; any gateway reads.
type Store struct {
	kv jetstream.KeyValue
}

// Ensure creates the bucket KANAL_TWINS, or updates it, with the given
// number of replicas (0 means 1), and returns its Store. It is idempotent:
// every processor replica calls it at start.
func Ensure(ctx context.Context, js jetstream.JetStream, replicas int) (*Store, error) {
	if replicas <= 0 {
		replicas = 1
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      wire.TwinsBucket,
		Description: "Kanal vehicle twins, by vehicle id (cloud/twin)",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("twin bucket %s: %w", wire.TwinsBucket, err)
	}
	return &Store{kv: kv}, nil
}

// Open returns the Store of an existing bucket, for readers that must not
// create it (the HTTP API of a gateway whose processor runs elsewhere).
func Open(ctx context.Context, js jetstream.JetStream) (*Store, error) {
	kv, err := js.KeyValue(ctx, wire.TwinsBucket)
	if err != nil {
		return nil, fmt.Errorf("twin bucket %s: %w", wire.TwinsBucket, err)
	}
	return &Store{kv: kv}, nil
}

// Get returns the twin of vehicle, or an error wrapping ErrNotFound.
func (s *Store) Get(ctx context.Context, vehicle string) (*Twin, error) {
	if err := batch.CheckVehicleID(vehicle); err != nil {
		return nil, fmt.Errorf("twin: %w", err)
	}
	e, err := s.kv.Get(ctx, vehicle)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("twin %s: %w", vehicle, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("twin %s: %w", vehicle, err)
	}
	return decode(e)
}

// Put writes t under its vehicle id.
func (s *Store) Put(ctx context.Context, t *Twin) error {
	data, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("twin %s: %w", t.Vehicle, err)
	}
	if _, err := s.kv.Put(ctx, t.Vehicle, data); err != nil {
		return fmt.Errorf("put twin %s: %w", t.Vehicle, err)
	}
	return nil
}

// PutAll writes every twin, several at a time, and returns the first error.
func (s *Store) PutAll(ctx context.Context, twins []*Twin) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(maxParallelPuts)
	for _, t := range twins {
		data, err := json.Marshal(t)
		if err != nil {
			return fmt.Errorf("twin %s: %w", t.Vehicle, err)
		}
		g.Go(func() error {
			if _, err := s.kv.Put(ctx, t.Vehicle, data); err != nil {
				return fmt.Errorf("put twin %s: %w", t.Vehicle, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// Load calls fn for every twin in the bucket, then returns. A processor
// taking over calls it to start from the state its predecessor left.
func (s *Store) Load(ctx context.Context, fn func(*Twin)) error {
	w, err := s.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("load twins: %w", err)
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("load twins: %w", ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("load twins: watcher closed")
			}
			if e == nil { // every current value delivered
				return nil
			}
			t, err := decode(e)
			if err != nil {
				continue // a foreign or damaged entry: the next batch of that vehicle rewrites it
			}
			fn(t)
		}
	}
}

// Watch calls fn for every twin in the bucket and then for every change,
// until ctx ends; deleted twins come with only Vehicle set and gone true.
// The first call of fn with a nil twin marks the end of the current values.
func (s *Store) Watch(ctx context.Context, fn func(t *Twin, gone bool)) error {
	w, err := s.kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch twins: %w", err)
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("watch twins: watcher closed")
			}
			if e == nil {
				fn(nil, false)
				continue
			}
			if e.Operation() != jetstream.KeyValuePut {
				fn(&Twin{Vehicle: e.Key()}, true)
				continue
			}
			if t, err := decode(e); err == nil {
				fn(t, false)
			}
		}
	}
}

func decode(e jetstream.KeyValueEntry) (*Twin, error) {
	var t Twin
	if err := json.Unmarshal(e.Value(), &t); err != nil {
		return nil, fmt.Errorf("twin %s: revision %d: %w", e.Key(), e.Revision(), err)
	}
	if t.Vehicle != e.Key() {
		return nil, fmt.Errorf("twin %s: revision %d names vehicle %q", e.Key(), e.Revision(), t.Vehicle)
	}
	return &t, nil
}
