package alert

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/internal/await"
	"github.com/nats-io/nats.go/jetstream"
)

func leaseBucket(t *testing.T, ttl time.Duration) jetstream.KeyValue {
	t.Helper()
	js := connect(t, runNATS(t))
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, kv, err := ensureBuckets(ctx, js, 1, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// TestLease: one holder at a time; renewals keep it; release hands it over
// at once; a holder that stops renewing loses it after the TTL, and learns
// so at its next renewal.
func TestLease(t *testing.T) {
	const ttl = 2 * time.Second
	kv := leaseBucket(t, ttl)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	a, b := newLease(kv, "engine", "a", ttl), newLease(kv, "engine", "b", ttl)
	defer a.close()
	defer b.close()
	if ok, err := a.acquire(ctx); !ok || err != nil {
		t.Fatalf("a: %v, %v", ok, err)
	}
	if ok, err := b.acquire(ctx); ok || err != nil {
		t.Fatalf("b took a held lease: %v, %v", ok, err)
	}
	if !a.valid() {
		t.Error("a fresh lease is not valid")
	}
	// a holds it through several TTLs by renewing.
	hctx, stop := context.WithCancel(ctx)
	held := make(chan error, 1)
	go func() { held <- a.hold(hctx) }()
	time.Sleep(ttl + ttl/2)
	if ok, _ := b.acquire(ctx); ok {
		t.Fatal("b took a lease a renews")
	}
	// a stops: it releases, b waits no TTL.
	stop()
	if err := <-held; err != nil {
		t.Fatalf("hold: %v", err)
	}
	start := time.Now()
	b.wait(ctx)
	if ok, err := b.acquire(ctx); !ok || err != nil {
		t.Fatalf("b after the release: %v, %v", ok, err)
	}
	if time.Since(start) > ttl {
		t.Errorf("b waited %v for a released lease", time.Since(start))
	}
	// b stops renewing (a pause, a partition): the key expires, a takes it,
	// and b's next renewal finds it lost.
	time.Sleep(ttl + ttl/2)
	if b.valid() {
		t.Error("a lease not renewed for more than its TTL is still valid")
	}
	await.Until(t, testTimeout, "a takes the expired lease", func() bool {
		ok, err := a.acquire(ctx)
		return ok && err == nil
	})
	err := b.hold(ctx)
	if !errors.Is(err, errLeaseLost) {
		t.Fatalf("b's renewal: %v, want errLeaseLost", err)
	}
}

// TestLeaseReleaseAfterLostRenewal: a renewal cut short by the stop can
// land all the same, so the key is the holder's at a revision the lease
// does not know; release still deletes it, and leaves another's key alone.
func TestLeaseReleaseAfterLostRenewal(t *testing.T) {
	const ttl = 2 * time.Second
	kv := leaseBucket(t, ttl)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	a := newLease(kv, "engine", "a", ttl)
	if ok, err := a.acquire(ctx); !ok || err != nil {
		t.Fatalf("a: %v, %v", ok, err)
	}
	// the renewal the server applied and a never heard back from
	if _, err := kv.Update(ctx, "engine", a.holder, a.rev); err != nil {
		t.Fatal(err)
	}
	a.release()
	if _, err := kv.Get(ctx, "engine"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("after release: %v, want the key gone", err)
	}

	b := newLease(kv, "engine", "b", ttl)
	if ok, err := b.acquire(ctx); !ok || err != nil {
		t.Fatalf("b: %v, %v", ok, err)
	}
	a.release() // a's is long gone: b's key stays
	if e, err := kv.Get(ctx, "engine"); err != nil || string(e.Value()) != string(b.holder) {
		t.Fatalf("b's key after a's release: %v", err)
	}
}
