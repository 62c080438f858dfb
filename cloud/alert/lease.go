package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// lease is the active processor's claim, one key in LeaseBucket, whose TTL
// ends it when the holder stops renewing. Create succeeds for one replica
// only (JetStream's expected-last-subject-sequence 0), and each renewal is
// an Update on the holder's last revision, so a replica that lost the key
// to another learns it at its next renewal.
//
// It runs on the real clock, never Options.Now: it bounds real waits.
type lease struct {
	kv      jetstream.KeyValue
	key     string
	holder  []byte
	ttl     time.Duration
	rev     uint64
	renewed atomic.Int64         // Unix ns of the last successful create or renewal
	watch   jetstream.KeyWatcher // the key's changes, while standing by
}

func newLease(kv jetstream.KeyValue, key, name string, ttl time.Duration) *lease {
	holder, _ := json.Marshal(struct {
		Holder string    `json:"holder"`
		Since  time.Time `json:"since"`
	}{name, time.Now().UTC()})
	return &lease{kv: kv, key: key, holder: holder, ttl: ttl}
}

// acquire tries to take the lease and reports whether it did.
func (l *lease) acquire(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, l.ttl/2)
	defer cancel()
	rev, err := l.kv.Create(ctx, l.key, l.holder)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("acquire lease %s: %w", l.key, err)
	}
	l.rev = rev
	l.renewed.Store(time.Now().UnixNano())
	return true, nil
}

// valid reports whether the lease is surely still this replica's: renewed
// less than half a TTL ago, so no other replica can have taken it yet. The
// processor checks it before it publishes or writes anything.
func (l *lease) valid() bool {
	return time.Since(time.Unix(0, l.renewed.Load())) < l.ttl/2
}

// hold renews the lease every quarter TTL until ctx ends, then releases it
// so a standby takes over at once. It returns errLeaseLost when the lease
// is gone (another replica holds the key, or renewals failed for half a
// TTL).
func (l *lease) hold(ctx context.Context) error {
	t := time.NewTicker(l.ttl / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			l.release()
			return nil
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, l.ttl/4)
		rev, err := l.kv.Update(rctx, l.key, l.holder, l.rev)
		cancel()
		switch {
		case err == nil:
			l.rev = rev
			l.renewed.Store(time.Now().UnixNano())
		case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch), errors.Is(err, jetstream.ErrKeyNotFound):
			return fmt.Errorf("%w: %v", errLeaseLost, err)
		case !l.valid():
			return fmt.Errorf("%w: renewals failing for %v: %v", errLeaseLost, l.ttl/2, err)
		}
	}
}

// release deletes the key if it is still this replica's. A renewal cut
// short by the stop may have landed all the same, leaving the key ours at
// a revision l.rev does not know: then the holder's value, unique to this
// lease, says so, and the key is deleted at that revision. Otherwise a
// standby would wait out the TTL for a processor that stopped cleanly.
func (l *lease) release() {
	ctx, cancel := context.WithTimeout(context.Background(), l.ttl/4)
	defer cancel()
	if err := l.kv.Delete(ctx, l.key, jetstream.LastRevision(l.rev)); err == nil {
		return
	}
	e, err := l.kv.Get(ctx, l.key)
	if err != nil || !bytes.Equal(e.Value(), l.holder) {
		return // gone, or another's: nothing to release
	}
	_ = l.kv.Delete(ctx, l.key, jetstream.LastRevision(e.Revision()))
}

// wait blocks until the lease may be free: it was released (a delete on
// the key), or a quarter TTL passed (it may have expired). It watches the
// key from its first call until close.
func (l *lease) wait(ctx context.Context) {
	if l.watch == nil {
		if w, err := l.kv.Watch(ctx, l.key, jetstream.UpdatesOnly()); err == nil {
			l.watch = w
		}
	}
	var updates <-chan jetstream.KeyValueEntry
	if l.watch != nil {
		updates = l.watch.Updates()
	}
	t := time.NewTimer(l.ttl / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			return
		case e, ok := <-updates:
			if !ok { // watch again at the next wait
				l.watch, updates = nil, nil
				continue
			}
			if e != nil && e.Operation() != jetstream.KeyValuePut {
				return
			}
		}
	}
}

// close stops watching the key.
func (l *lease) close() {
	if l.watch != nil {
		l.watch.Stop()
		l.watch = nil
	}
}

var errLeaseLost = errors.New("lease lost")
