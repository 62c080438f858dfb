package store

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kanal-dev/kanal/cloud/store/storetest"
	"github.com/kanal-dev/kanal/internal/bytesize"
	"github.com/kanal-dev/kanal/internal/wire"
)

func TestEnsureCreatesAndUpdates(t *testing.T) {
	s := storetest.RunServer(t, storetest.ServerOptions{})
	_, js := storetest.Connect(t, s.ClientURL())
	ctx := testCtx(t, 20*time.Second)

	if err := Ensure(ctx, js, Options{}); err != nil {
		t.Fatal(err)
	}
	check := func(name string, age time.Duration, bytes bytesize.Size, window time.Duration, subject string) jetstream.StreamConfig {
		t.Helper()
		st, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		c := st.CachedInfo().Config
		if c.MaxAge != age || c.MaxBytes != int64(bytes) || c.Duplicates != window || c.Storage != jetstream.FileStorage ||
			c.Replicas != 1 || !c.AllowDirect || c.Discard != jetstream.DiscardOld || len(c.Subjects) != 1 || c.Subjects[0] != subject {
			t.Fatalf("%s: %+v", name, c)
		}
		return c
	}
	check(wire.BatchesStream, DefaultMaxAge, DefaultMaxBytes, DefaultDuplicateWindow, wire.BatchesAll)
	check(wire.DeadStream, DefaultDeadMaxAge, DefaultDeadMaxBytes, DefaultDuplicateWindow, wire.DeadAll)

	// idempotent, and batches survive it
	st, _ := newStore(t, js, Options{})
	mustStore(t, st, "veh", "boot1", 1, Stored)
	for range 2 {
		if err := Ensure(ctx, js, Options{}); err != nil {
			t.Fatalf("second Ensure: %v", err)
		}
	}
	// other settings update in place; an operator's deny-delete stays
	stream, _ := js.Stream(ctx, wire.BatchesStream)
	cfg := stream.CachedInfo().Config
	cfg.DenyDelete = true
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	opts := Options{MaxAge: time.Hour, MaxBytes: 64 * bytesize.MiB, DeadMaxAge: 2 * time.Hour, DeadMaxBytes: bytesize.MiB, DuplicateWindow: time.Minute}
	if err := Ensure(ctx, js, opts); err != nil {
		t.Fatal(err)
	}
	if c := check(wire.BatchesStream, time.Hour, 64*bytesize.MiB, time.Minute, wire.BatchesAll); !c.DenyDelete {
		t.Fatal("Ensure dropped the operator's deny_delete")
	}
	check(wire.DeadStream, 2*time.Hour, bytesize.MiB, time.Minute, wire.DeadAll)
	if n := len(ledgerOf(t, js)); n != 1 {
		t.Fatalf("%d batches after the updates, want 1", n)
	}
}

// TestEnsureReportsWhatCannotChange: a stream of the other storage kind is
// reported with the stream and the field, and left as it is.
func TestEnsureReportsWhatCannotChange(t *testing.T) {
	s := storetest.RunServer(t, storetest.ServerOptions{})
	_, js := storetest.Connect(t, s.ClientURL())
	ctx := testCtx(t, 20*time.Second)
	if err := Ensure(ctx, js, Options{Storage: StorageMemory}); err != nil {
		t.Fatal(err)
	}
	err := Ensure(ctx, js, Options{})
	if err == nil || !strings.Contains(err.Error(), "update stream KANAL_BATCHES: storage is Memory, the options want File") {
		t.Fatalf("Ensure over a memory stream with file storage: %v", err)
	}
	st, _ := js.Stream(ctx, wire.BatchesStream)
	if st.CachedInfo().Config.Storage != jetstream.MemoryStorage {
		t.Fatal("the stream was changed")
	}

	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"other.>"}}); err != nil {
		t.Fatal(err)
	}
	sealed := st.CachedInfo().Config
	sealed.Sealed = true
	if _, err := js.UpdateStream(ctx, sealed); err != nil {
		t.Fatal(err)
	}
	if err := Ensure(ctx, js, Options{Storage: StorageMemory}); err == nil || !strings.Contains(err.Error(), "sealed") {
		t.Fatalf("Ensure over a sealed stream: %v", err)
	}
}

func TestEnsureRefusesBadOptions(t *testing.T) {
	s := storetest.RunServer(t, storetest.ServerOptions{})
	_, js := storetest.Connect(t, s.ClientURL())
	err := Ensure(testCtx(t, 5*time.Second), js, Options{Replicas: 7})
	if err == nil || !strings.Contains(err.Error(), "replicas 7") {
		t.Fatalf("Ensure with 7 replicas: %v", err)
	}
	// 3 replicas on one server: JetStream refuses, and the error says so
	err = Ensure(testCtx(t, 5*time.Second), js, Options{Replicas: 3})
	if err == nil || !strings.Contains(err.Error(), "create stream KANAL_BATCHES") {
		t.Fatalf("Ensure with 3 replicas on one server: %v", err)
	}
}

// TestEnsureConcurrently: replicas starting together all succeed, whoever
// creates the streams.
func TestEnsureConcurrently(t *testing.T) {
	s := storetest.RunServer(t, storetest.ServerOptions{})
	errs := make(chan error, 8)
	ctx := testCtx(t, 20*time.Second)
	for range cap(errs) {
		_, js := storetest.Connect(t, s.ClientURL())
		go func() { errs <- Ensure(ctx, js, Options{}) }()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
