package alert

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kanal-dev/kanal/internal/wire"
)

// The engine's own KV buckets. Their contents are the engine's business;
// twins (wire.TwinsBucket) are for everyone.
const (
	// StateBucket holds the rules' state: fog per cell (cell.{token}) and
	// warnings and breakdowns per vehicle (vehicle.{id}), each with the
	// alerts decided but not yet known to be published.
	StateBucket = "KANAL_ALERT_STATE"
	// LeaseBucket holds the lease of the active processor; its TTL is the
	// lease's.
	LeaseBucket = "KANAL_ALERT_LEASE"
)

// EnsureAlertStreams creates or updates KANAL_ALERTS (subjects
// kanal.alerts.*.* and kanal.fleet.alerts.*.*) and KANAL_NOTICES
// (kanal.notices.*). It is idempotent; the engine calls it at start, and a
// gateway that only serves the API may call it too.
func EnsureAlertStreams(ctx context.Context, js jetstream.JetStream, replicas int, maxAge, duplicates time.Duration) error {
	if replicas <= 0 {
		replicas = 1
	}
	if maxAge <= 0 {
		maxAge = DefaultAlertsAge
	}
	if duplicates <= 0 {
		duplicates = DefaultDuplicates
	}
	for _, cfg := range []jetstream.StreamConfig{{
		Name:        wire.AlertsStream,
		Description: "Kanal alerts: traffic view kanal.alerts.{kind}.{cell} (anonymous), fleet view kanal.fleet.alerts.{kind}.{vehicle}",
		Subjects:    []string{wire.AlertsAll, wire.FleetAlertsAll},
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		MaxAge:      maxAge,
		Duplicates:  duplicates,
		Discard:     jetstream.DiscardOld,
		AllowDirect: true,
	}, {
		Name:        wire.NoticesStream,
		Description: "Kanal notices to the vehicles of a cell, relayed by every gateway to kanal/v1/cells/{cell}/notice",
		Subjects:    []string{wire.NoticesAll},
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		MaxAge:      DefaultNoticesAge,
		Duplicates:  min(duplicates, DefaultNoticesAge),
		Discard:     jetstream.DiscardOld,
	}} {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}

// ensureBuckets creates or updates the engine's buckets.
func ensureBuckets(ctx context.Context, js jetstream.JetStream, replicas int, leaseTTL time.Duration) (state, lease jetstream.KeyValue, err error) {
	state, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      StateBucket,
		Description: "Kanal alert rules' state (cloud/alert)",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("bucket %s: %w", StateBucket, err)
	}
	lease, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      LeaseBucket,
		Description: "Kanal alert processor lease (cloud/alert)",
		History:     1,
		TTL:         leaseTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("bucket %s: %w", LeaseBucket, err)
	}
	return state, lease, nil
}
