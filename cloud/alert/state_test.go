package alert

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/internal/await"
	"github.com/nats-io/nats.go/jetstream"
)

// stateRecord reads a key of StateBucket; found false when it has none.
func stateRecord(t *testing.T, js jetstream.JetStream, key string, v any) (found bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	kv, err := js.KeyValue(ctx, StateBucket)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		t.Fatal(err)
	}
	return true
}

// TestRecords: the rules' records in StateBucket say what is raised, keep
// no outbox once published, stay as tombstones after a clear and go after
// max_lateness.
func TestRecords(t *testing.T) {
	f := newFogFixture(t, Rules{Fog: FogRule{ClearAfter: 10 * time.Second}}, 3)
	for i := range 3 {
		f.report(t, i, report{cell: cellA, fog: true, kmh: 20, lamps: lamps("ABS", i == 0)})
	}
	var fr fogRecord
	if !stateRecord(t, f.js, cellKeyPrefix+cellA.Token(), &fr) || !fr.Raised || fr.Count != 3 || len(fr.Outbox) != 0 || fr.AsOf.IsZero() {
		t.Fatalf("fog record %+v", fr)
	}
	var vr vehicleRecord
	if !stateRecord(t, f.js, vehicleKeyPrefix+fmtCar(0), &vr) || vr.Warnings["ABS"].ID == "" || len(vr.Outbox) != 0 {
		t.Fatalf("vehicle record %+v", vr)
	}
	if stateRecord(t, f.js, vehicleKeyPrefix+fmtCar(1), &vr) {
		t.Errorf("a record for a vehicle without alerts: %+v", vr)
	}
	f.clk.Add(time.Second)
	for i := range 3 {
		f.report(t, i, report{cell: cellB, kmh: 20, lamps: lamps("ABS", false)})
	}
	vr = vehicleRecord{}
	if !stateRecord(t, f.js, vehicleKeyPrefix+fmtCar(0), &vr) || len(vr.Warnings) != 0 || !vr.AsOf.Equal(f.clk.Now()) {
		t.Errorf("vehicle tombstone %+v, want as of %v", vr, f.clk.Now())
	}
	f.advance(t, 11*time.Second)
	if got := states(alerts(t, f.js)); got != "warning/raised/1 fog/raised/3 warning/cleared/1 fog/cleared/0" {
		t.Fatalf("alerts %q", got)
	}
	fr = fogRecord{}
	if !stateRecord(t, f.js, cellKeyPrefix+cellA.Token(), &fr) || fr.Raised || !fr.AsOf.Equal(base) {
		t.Errorf("fog tombstone %+v, want as of the last fog report %v", fr, base)
	}
	f.advance(t, DefaultMaxLateness+time.Second)
	await.Until(t, testTimeout, "tombstones gone", func() bool {
		return !stateRecord(t, f.js, cellKeyPrefix+cellA.Token(), &fr) && !stateRecord(t, f.js, vehicleKeyPrefix+fmtCar(0), &vr)
	})
}

// TestRestartKeepsState: a processor stopped with a fog alert raised and a
// warning on; a new one takes the state over and clears each once.
func TestRestartKeepsState(t *testing.T) {
	f := newFogFixture(t, Rules{}, 3)
	for i := range 3 {
		f.report(t, i, report{cell: cellA, fog: true, kmh: 20, lamps: lamps("Airbag", i == 2)})
	}
	f.e.stop(t)
	f.e = startEngine(t, f.js, f.clk, Rules{}, "b")
	await.Until(t, testTimeout, "b active", f.e.Leader)
	f.clk.Add(time.Second)
	for i := range 3 { // the same report again, then the changes
		f.report(t, i, report{at: f.clk.At(-time.Second), cell: cellA, fog: true, kmh: 20, lamps: lamps("Airbag", i == 2)})
		f.report(t, i, report{cell: cellA, kmh: 20, lamps: lamps("Airbag", false)})
	}
	f.advance(t, DefaultFogClearAfter+time.Second)
	want := "warning/raised/1 fog/raised/3 warning/cleared/1 fog/cleared/0"
	if got := states(alerts(t, f.js)); got != want {
		t.Fatalf("alerts %q, want %q", got, want)
	}
	checkOnce(t, f.js)
}
