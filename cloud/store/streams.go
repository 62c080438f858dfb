package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kanal-dev/kanal/internal/wire"
)

// Ensure creates KANAL_BATCHES (kanal.batches.*) and KANAL_DEAD
// (kanal.dead.*) or updates them to opts, so a gateway can call it at every
// start and on every replica. An existing stream with other limits,
// replicas or duplicate window is updated in place; a setting JetStream
// cannot change in place (the storage kind, a work-queue retention, a
// sealed stream, a mirror) is reported with the stream and the field, and
// nothing is changed: moving a stream's data is an operator's decision.
//
// Settings an operator may have added that do not touch the contract (deny
// delete, deny purge, message TTLs, placement, compression) are kept.
func Ensure(ctx context.Context, js jetstream.JetStream, opts Options) error {
	o, err := opts.withDefaults()
	if err != nil {
		return err
	}
	for _, cfg := range streamConfigs(o) {
		if err := ensure(ctx, js, cfg); err != nil {
			return err
		}
	}
	return nil
}

// streamConfigs returns the configurations Ensure wants.
func streamConfigs(o Options) []jetstream.StreamConfig {
	return []jetstream.StreamConfig{{
		Name:        wire.BatchesStream,
		Description: "Kanal: every vehicle batch once, as the vehicle sent it; the Kanal-Dedup header of a vehicle's last message is its exactly-once state.",
		Subjects:    []string{wire.BatchesAll},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      o.MaxAge,
		MaxBytes:    int64(o.MaxBytes),
		MaxMsgs:     -1,
		Storage:     o.storageType(),
		Replicas:    o.Replicas,
		Duplicates:  o.DuplicateWindow,
		AllowDirect: true, // the Store reads a vehicle's last message with a direct get
	}, {
		Name:        wire.DeadStream,
		Description: "Kanal: payloads the gateway refused, with Kanal-Reason, Kanal-Vehicle and Kanal-Detail headers.",
		Subjects:    []string{wire.DeadAll},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      o.DeadMaxAge,
		MaxBytes:    int64(o.DeadMaxBytes),
		MaxMsgs:     -1,
		Storage:     o.storageType(),
		Replicas:    o.Replicas,
		Duplicates:  min(o.DuplicateWindow, o.DeadMaxAge),
		AllowDirect: true,
	}}
}

// ensure creates or updates one stream. Replicas starting together may
// all find it missing: the ones whose create loses the race update it.
func ensure(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig) error {
	st, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = js.CreateStream(ctx, want)
		if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			if err != nil {
				return fmt.Errorf("create stream %s: %w", want.Name, err)
			}
			return nil
		}
		st, err = js.Stream(ctx, want.Name)
	}
	if err != nil {
		return fmt.Errorf("look up stream %s: %w", want.Name, err)
	}
	have := st.CachedInfo().Config
	if err := immutable(have, want); err != nil {
		return fmt.Errorf("update stream %s: %w", want.Name, err)
	}
	want.DenyDelete, want.DenyPurge = have.DenyDelete, have.DenyPurge
	want.AllowMsgTTL, want.SubjectDeleteMarkerTTL = have.AllowMsgTTL, have.SubjectDeleteMarkerTTL
	want.Placement, want.Compression = have.Placement, have.Compression
	want.Metadata, want.PersistMode = have.Metadata, have.PersistMode
	if _, err := js.CreateOrUpdateStream(ctx, want); err != nil {
		return fmt.Errorf("update stream %s: %w", want.Name, err)
	}
	return nil
}

// immutable reports a difference between an existing stream and the wanted
// configuration that JetStream refuses to change in place.
func immutable(have, want jetstream.StreamConfig) error {
	switch {
	case have.Storage != want.Storage:
		return fmt.Errorf("storage is %s, the options want %s, and JetStream cannot change it in place "+
			"(back the stream up, delete it and start again, or set storage: %s)", have.Storage, want.Storage, have.Storage)
	case have.Retention == jetstream.WorkQueuePolicy:
		return errors.New("retention is workqueue, and JetStream cannot change it to limits in place")
	case have.Sealed:
		return errors.New("the stream is sealed and cannot take batches any more")
	case have.AllowMsgCounter:
		return errors.New("the stream is a counter stream, and JetStream cannot change that in place")
	case have.Mirror != nil:
		return fmt.Errorf("the stream mirrors %s and cannot take publishes", have.Mirror.Name)
	}
	return nil
}
