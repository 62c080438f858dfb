package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kanal-dev/kanal/cloud/store/storetest"
	"github.com/kanal-dev/kanal/uplink/batch"
)

// item is one batch to store.
type item struct {
	vehicle string
	h       batch.Header
	payload []byte
}

// makeItems encodes seqs 1..n of boots boots for each vehicle.
func makeItems(t testing.TB, vehicles []string, boots, n int) []item {
	t.Helper()
	var items []item
	for _, v := range vehicles {
		for range boots {
			boot := batch.NewBoot()
			for seq := 1; seq <= n; seq++ {
				h, p := encodeBatch(t, v, boot, uint64(seq), 2)
				items = append(items, item{v, h, p})
			}
		}
	}
	return items
}

// storeUntil stores it with s, retrying errors as an agent does, until ctx
// ends.
func storeUntil(ctx context.Context, s *Store, it item) (Result, error) {
	for {
		r, err := s.Store(ctx, it.vehicle, it.h, it.payload)
		if err == nil || ctx.Err() != nil {
			return r, err
		}
		time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
	}
}

// TestStoreRace: two gateway replicas (two Stores on two NATS connections)
// store the same batches at the same time, each in its own random order
// with several calls in flight per replica, for several vehicles, over
// several rounds. Then, past the duplicate window, both store everything
// again, racing once more: only the dedup state can tell them now. Every
// (vehicle, boot, seq) is in the stream exactly once, and exactly one Store
// call across both replicas and both passes said Stored for it.
func TestStoreRace(t *testing.T) {
	srv := storetest.RunServer(t, storetest.ServerOptions{})
	const window = 100 * time.Millisecond
	opts := Options{DuplicateWindow: window}
	_, js := storetest.Connect(t, srv.ClientURL())
	if err := Ensure(testCtx(t, 5*time.Second), js, opts); err != nil {
		t.Fatal(err)
	}
	_, js2 := storetest.Connect(t, srv.ClientURL())
	a, _ := newStore(t, js, opts)
	b, _ := newStore(t, js2, opts)
	replicas := []*Store{a, b}

	var all []string
	for round := range 3 {
		vehicles := []string{fmt.Sprint("r", round, "-a"), fmt.Sprint("r", round, "-b"), fmt.Sprint("r", round, "-c")}
		items := makeItems(t, vehicles, 2, 50) // 50 < Window: any order is within the agent's spread
		stored := make(map[string]*atomic.Int32, len(items))
		for _, it := range items {
			all = append(all, it.h.MsgID())
			stored[it.h.MsgID()] = new(atomic.Int32)
		}
		for pass := range 2 {
			if pass == 1 {
				time.Sleep(2 * window)
			}
			race(t, replicas, items, uint64(round*2+pass), stored)
		}
		for id, n := range stored {
			if n.Load() != 1 {
				t.Errorf("round %d: %s got Stored %d times", round, id, n.Load())
			}
		}
	}
	checkLedger(t, js, all)
	if c := testutil.ToFloat64(a.m.conflicts) + testutil.ToFloat64(b.m.conflicts); c == 0 {
		t.Fatal("no conflict in all rounds: the race was not exercised")
	} else {
		t.Logf("%d batches, %v conflicts; duplicates by window %v, by state %v", len(all), c,
			testutil.ToFloat64(a.m.dupWindow)+testutil.ToFloat64(b.m.dupWindow), testutil.ToFloat64(a.m.dupState)+testutil.ToFloat64(b.m.dupState))
	}
}

// race has every replica store all items at once, each in its own order
// with four calls in flight, and counts the Stored results by id.
func race(t *testing.T, replicas []*Store, items []item, seed uint64, stored map[string]*atomic.Int32) {
	t.Helper()
	ctx := testCtx(t, 60*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 4*len(replicas))
	for ri, s := range replicas {
		order := rand.New(rand.NewPCG(seed, uint64(ri))).Perm(len(items))
		jobs := make(chan item)
		for range 4 {
			wg.Go(func() {
				for it := range jobs {
					r, err := storeUntil(ctx, s, it)
					if err != nil {
						errs <- fmt.Errorf("%s: %w", it.h.MsgID(), err)
						return
					}
					if r == Stored {
						stored[it.h.MsgID()].Add(1)
					}
				}
			})
		}
		wg.Go(func() {
			defer close(jobs)
			for _, i := range order {
				select {
				case jobs <- items[i]:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
