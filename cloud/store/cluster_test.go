package store

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kanal-dev/kanal/cloud/store/storetest"
	"github.com/kanal-dev/kanal/internal/wire"
)

// TestStoreCluster: a three-node nats-server cluster on loopback with R3
// streams; two gateway replicas, each connected to a different node first;
// vehicles sending with several batches in flight and every try going to a
// random replica (a vehicle hopping between gateways). The stream's leader
// is shut down mid-stream. Nothing is lost, nothing doubled, and the
// replicas reconnect by themselves.
func TestStoreCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test: -short")
	}
	nodes := storetest.RunCluster(t, 3)
	urls := storetest.URLs(nodes...)
	opts := Options{Replicas: 3}
	_, js := storetest.Connect(t, urls...)
	ctx := testCtx(t, 120*time.Second)
	if err := Ensure(ctx, js, opts); err != nil {
		t.Fatal(err)
	}
	_, jsA := storetest.Connect(t, urls[0], urls[1], urls[2])
	_, jsB := storetest.Connect(t, urls[1], urls[2], urls[0])
	a, _ := newStore(t, jsA, opts)
	b, _ := newStore(t, jsB, opts)
	replicas := []*Store{a, b}

	const perVehicle = 40
	vehicles := []string{"c-a", "c-b", "c-c", "c-d"}
	items := makeItems(t, vehicles, 1, perVehicle)
	var done atomic.Int32
	var failures atomic.Int64
	kill := make(chan struct{})
	var wg sync.WaitGroup
	for vi := range vehicles {
		mine := items[vi*perVehicle : (vi+1)*perVehicle]
		jobs := make(chan item)
		wg.Go(func() {
			defer close(jobs)
			for _, it := range mine {
				select {
				case jobs <- it:
				case <-ctx.Done():
					return
				}
			}
		})
		for range 4 { // four in flight per vehicle, in seq order
			wg.Go(func() {
				for it := range jobs {
					for {
						s := replicas[rand.IntN(len(replicas))]
						_, err := s.Store(ctx, it.vehicle, it.h, it.payload)
						if err == nil {
							break
						}
						failures.Add(1)
						if ctx.Err() != nil {
							t.Errorf("%s: %v", it.h.MsgID(), err)
							return
						}
						time.Sleep(time.Duration(10+rand.IntN(40)) * time.Millisecond)
					}
					if done.Add(1) == int32(len(items)/3) {
						close(kill)
					}
				}
			})
		}
	}

	select {
	case <-kill:
	case <-ctx.Done():
		t.Fatal("a third of the batches not stored in time")
	}
	leader := streamLeader(t, ctx, js)
	var survivors []*server.Server
	for _, n := range nodes {
		if n.Name() == leader {
			n.Shutdown()
			n.WaitForShutdown()
		} else {
			survivors = append(survivors, n)
		}
	}
	if len(survivors) != 2 {
		t.Fatalf("leader %q is none of the nodes", leader)
	}
	t.Logf("stream leader %s shut down after %d of %d batches", leader, done.Load(), len(items))
	wg.Wait()
	if t.Failed() {
		return
	}

	_, jsCheck := storetest.Connect(t, storetest.URLs(survivors...)...)
	var want []string
	for _, it := range items {
		want = append(want, it.h.MsgID())
	}
	checkLedger(t, jsCheck, want)
	t.Logf("%d failed tries (negative PUBACKs), %v conflicts", failures.Load(),
		testutil.ToFloat64(a.m.conflicts)+testutil.ToFloat64(b.m.conflicts))
}

// streamLeader returns the name of the server leading KANAL_BATCHES.
func streamLeader(t *testing.T, ctx context.Context, js jetstream.JetStream) string {
	t.Helper()
	st, err := js.Stream(ctx, wire.BatchesStream)
	if err != nil {
		t.Fatal(err)
	}
	info := st.CachedInfo()
	if info.Cluster == nil || info.Cluster.Leader == "" {
		t.Fatalf("%s has no leader: %+v", wire.BatchesStream, info.Cluster)
	}
	return info.Cluster.Leader
}
