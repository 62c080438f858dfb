package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kanal-dev/kanal/cloud/store/storetest"
	"github.com/kanal-dev/kanal/internal/await"
	"github.com/kanal-dev/kanal/internal/wire"
)

// msgIDs returns how often each Nats-Msg-Id is in KANAL_ALERTS.
func msgIDs(t *testing.T, js jetstream.JetStream) map[string]int {
	t.Helper()
	ids := map[string]int{}
	for _, m := range storetest.Read(t, js, wire.AlertsStream) {
		ids[m.Header.Get(jetstream.MsgIDHeader)]++
	}
	return ids
}

// checkOnce fails the test for an alert change published twice and
// returns the ids.
func checkOnce(t *testing.T, js jetstream.JetStream) []string {
	t.Helper()
	var ids []string
	for id, n := range msgIDs(t, js) {
		if n != 1 {
			t.Errorf("%s published %d times", id, n)
		}
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// scenario drives three cars through fog in one cell, an ABS lamp and a
// clearing, in steps a test can interleave with what it does to the
// processors. It ends with every alert cleared.
func scenario(t *testing.T, f *fogFixture, between func(step int)) {
	steps := []func(){
		func() {
			for i := range 3 {
				f.report(t, i, report{cell: cellA, fog: true, kmh: 20, wipers: 1})
			}
		},
		func() {
			f.clk.Add(time.Second)
			f.report(t, 0, report{cell: cellA, fog: true, kmh: 20, lamps: lamps("ABS", true)})
		},
		func() {
			f.clk.Add(time.Second)
			for i := range 3 {
				f.report(t, i, report{cell: cellB, kmh: 60, lamps: lamps("ABS", false)})
			}
		},
		func() { f.advance(t, DefaultFogClearAfter+time.Minute) },
	}
	for i, s := range steps {
		s()
		if between != nil {
			between(i)
		}
	}
}

// wantScenario are the alert changes of scenario: fog raised and cleared,
// the warning raised and cleared in both views.
const wantScenario = 6

func leaderOf(t *testing.T, es ...*engine) *engine {
	t.Helper()
	var l *engine
	await.Until(t, testTimeout, "one leader", func() bool {
		n := 0
		for _, e := range es {
			if e.Leader() {
				l, n = e, n+1
			}
		}
		return n == 1
	})
	return l
}

// TestReplicasRaiseOnce: two processors on one NATS, the leader stopped
// and then cut off mid-scenario: every alert change is in KANAL_ALERTS
// exactly once.
func TestReplicasRaiseOnce(t *testing.T) {
	ns := runNATS(t)
	js := connect(t, ns)
	ensureBatches(t, js)
	clk := newClock(base)
	f := &fogFixture{js: js, clk: clk}
	for i := range 3 {
		f.cars = append(f.cars, newCar(t, fmtCar(i)))
	}
	a := startEngine(t, connect(t, ns), clk, Rules{}, "a")
	b := startEngine(t, connect(t, ns), clk, Rules{}, "b")
	f.e = leaderOf(t, a, b)
	var stopped []*engine
	scenario(t, f, func(step int) {
		switch step {
		case 0: // stop the leader cleanly: the other takes over at once
			l := leaderOf(t, a, b)
			l.stop(t)
			stopped = append(stopped, l)
			f.e = leaderOf(t, a, b)
		case 1: // start it again beside the new leader, which then loses its connection
			l := stopped[0]
			again := startEngine(t, connect(t, ns), clk, Rules{}, l.opts.Name+"2")
			old := f.e
			nc := old.opts.JetStream.Conn()
			nc.Close()
			await.Until(t, testTimeout, "the cut-off leader steps down, the new one takes over", func() bool {
				return again.Leader() && !old.Leader()
			})
			f.e = again
		}
	})
	waitAcked(t, js)
	ids := checkOnce(t, js)
	if len(ids) != wantScenario {
		t.Fatalf("%d alert changes %v, want %d", len(ids), ids, wantScenario)
	}
}

var errCrash = errors.New("crash (test)")

// TestCrashAtEveryStep: the processor dies after each step of the flush
// that raises the fog alert, stays down longer than the duplicate window,
// and comes back: no alert change is missing or published twice.
func TestCrashAtEveryStep(t *testing.T) {
	for _, step := range []string{"records", "publish", "outboxes", "twins"} {
		t.Run(step, func(t *testing.T) {
			ns := runNATS(t)
			js := connect(t, ns)
			ensureBatches(t, js)
			clk := newClock(base)
			var crashes atomic.Int32
			e := startEngine(t, js, clk, Rules{}, "a", func(o *Options, e *Engine) {
				if o != nil {
					o.Duplicates = time.Second // no help from JetStream's dedup
					return
				}
				e.crashAfter = func(s string) error {
					if s == step && crashes.Add(1)%2 == 1 { // every flush with alerts, once
						time.Sleep(1100 * time.Millisecond) // down beyond the duplicate window
						return errCrash
					}
					return nil
				}
			})
			f := &fogFixture{js: js, clk: clk, e: e}
			for i := range 3 {
				f.cars = append(f.cars, newCar(t, fmtCar(i)))
			}
			await.Until(t, testTimeout, "leader", e.Leader)
			scenario(t, f, nil)
			waitAcked(t, js)
			if n := crashes.Load(); n < 4 {
				t.Errorf("%d crashes, want one at each of the alert flushes", (n+1)/2)
			}
			if ids := checkOnce(t, js); len(ids) != wantScenario {
				t.Fatalf("%d alert changes %v, want %d", len(ids), ids, wantScenario)
			}
		})
	}
}

// TestReplayBehindRecords: the processor dies twice after writing its
// records and before its twins, so the next term starts from twins two lamp
// changes older than its record, outside the duplicate window: replaying
// the batches raises and clears nothing a second time.
func TestReplayBehindRecords(t *testing.T) {
	ns := runNATS(t)
	js := connect(t, ns)
	ensureBatches(t, js)
	var crashes atomic.Int32
	crashed := make(chan struct{}, 2)
	e := startEngine(t, js, nil, Rules{}, "a", func(o *Options, e *Engine) {
		if o != nil {
			o.Duplicates = time.Second
			return
		}
		e.crashAfter = func(s string) error {
			if s == "outboxes" && crashes.Add(1) <= 2 {
				crashed <- struct{}{}
				time.Sleep(1100 * time.Millisecond) // beyond the duplicate window
				return errCrash
			}
			return nil
		}
	})
	await.Until(t, testTimeout, "leader", e.Leader)
	c := newCar(t, "car-1")
	c.send(t, js, false, report{at: time.Now(), cell: cellA, lamps: lamps("ABS", false)}.values(t)...)
	waitAcked(t, js)
	c.send(t, js, false, report{at: time.Now(), cell: cellA, lamps: lamps("ABS", true)}.values(t)...)
	wait(t, crashed) // the raise is written and published, the twin is not
	c.send(t, js, false, report{at: time.Now(), cell: cellA, lamps: lamps("ABS", false)}.values(t)...)
	wait(t, crashed) // the clear likewise: the twin still has the lamp off from before both
	waitAcked(t, js)
	ids := checkOnce(t, js)
	if len(ids) != 4 {
		t.Fatalf("alert changes %v, want the warning raised and cleared, in both views", ids)
	}
}

// TestReplayBehindRecordsFog: the processor dies after writing its records
// and before its twins both when it raises a fog episode and when it
// clears it (a tick's decision), each time down beyond the duplicate
// window: each change is published once.
func TestReplayBehindRecordsFog(t *testing.T) {
	ns := runNATS(t)
	js := connect(t, ns)
	ensureBatches(t, js)
	clk := newClock(base)
	var crashes atomic.Int32
	crashed := make(chan struct{}, 2)
	e := startEngine(t, js, clk, Rules{Fog: FogRule{ClearAfter: 10 * time.Second}}, "a", func(o *Options, e *Engine) {
		if o != nil {
			o.Duplicates = time.Second
			return
		}
		e.crashAfter = func(s string) error {
			if s == "outboxes" && crashes.Add(1) <= 2 {
				crashed <- struct{}{}
				time.Sleep(1100 * time.Millisecond)
				return errCrash
			}
			return nil
		}
	})
	await.Until(t, testTimeout, "leader", e.Leader)
	f := &fogFixture{js: js, clk: clk, e: e}
	for i := range 3 {
		f.cars = append(f.cars, newCar(t, fmtCar(i)))
	}
	for i := range 3 {
		f.cars[i].send(t, js, false, report{at: clk.Now(), cell: cellA, fog: true, kmh: 20}.values(t)...)
	}
	wait(t, crashed) // raised and published; the twins not written
	clk.Add(time.Second)
	for i := range 3 {
		f.cars[i].send(t, js, false, report{at: clk.Now(), cell: cellB, kmh: 20}.values(t)...)
	}
	await.Until(t, testTimeout, "leader again", e.Leader)
	for n := 0; ; n++ { // until the clear is decided (clear_after after the count fell)
		if n == 20 {
			t.Fatal("fog not cleared")
		}
		clk.Add(5 * time.Second)
		select {
		case <-crashed: // cleared and published; the twins still show fog in cell A
		case <-time.After(500 * time.Millisecond):
			continue
		}
		break
	}
	waitAcked(t, js)
	e.waitTicks(t, 3)
	ids := checkOnce(t, js)
	if len(ids) != 2 {
		t.Fatalf("alert changes %v, want fog raised and cleared", ids)
	}
}

// wait receives from ch or fails the test after testTimeout.
func wait(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(testTimeout):
		t.Fatal("no crash within the test's timeout")
	}
}

// TestCrashMidOutboxes: two cars of one cell raise their warnings in one
// flush, both published on the cell's subject; the processor dies while
// emptying the outboxes, after the record of the later decision is
// emptied and before the other one is, and stays down beyond the
// duplicate window. The next term finds one outbox whose messages are
// followed on that subject by a message no outbox holds: it publishes
// nothing again.
func TestCrashMidOutboxes(t *testing.T) {
	ns := runNATS(t)
	js := connect(t, ns)
	ensureBatches(t, js)
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	noDedup := func(o *Options, e *Engine) {
		if o != nil {
			o.Duplicates = time.Second
		}
	}
	var crashed atomic.Bool
	halfEmptied := func(o *Options, e *Engine) {
		if o != nil {
			o.Duplicates = time.Second
			return
		}
		e.crashAfter = func(step string) error {
			if step != "publish" || crashed.Load() {
				return nil
			}
			kv, err := js.KeyValue(ctx, StateBucket)
			if err != nil {
				return err
			}
			keys, err := kv.Keys(ctx)
			if err != nil {
				return err
			}
			var lastKey string
			var last *vehicleRecord
			boxes := 0
			for _, k := range keys {
				en, err := kv.Get(ctx, k)
				if err != nil {
					return err
				}
				_, _, veh, ok := decodeRecord(k, en.Value())
				if !ok || veh == nil || len(veh.Outbox) == 0 {
					continue
				}
				boxes++
				if last == nil || veh.Outbox[0].Seq > last.Outbox[0].Seq {
					lastKey, last = k, veh
				}
			}
			if boxes < 2 {
				return nil // one car's raise alone: try again with another pair
			}
			last.Outbox = nil // what step 3 did before the crash
			data, _ := json.Marshal(last)
			if _, err := kv.Put(ctx, lastKey, data); err != nil {
				return err
			}
			crashed.Store(true)
			time.Sleep(1100 * time.Millisecond) // down beyond the duplicate window
			return errCrash
		}
	}
	rounds := 0
	for ; rounds < 5 && !crashed.Load(); rounds++ {
		pair := []*car{newCar(t, fmt.Sprintf("car-%d-a", rounds)), newCar(t, fmt.Sprintf("car-%d-b", rounds))}
		e := startEngine(t, js, nil, Rules{}, fmt.Sprint("first-", rounds), noDedup)
		await.Until(t, testTimeout, "leader", e.Leader)
		for _, c := range pair {
			c.send(t, js, false, report{at: time.Now(), cell: cellA, lamps: lamps("ABS", false)}.values(t)...)
		}
		waitAcked(t, js)
		e.stop(t)
		for _, c := range pair { // waiting together when the next processor starts: one flush
			c.send(t, js, false, report{at: time.Now(), cell: cellA, lamps: lamps("ABS", true)}.values(t)...)
		}
		e = startEngine(t, js, nil, Rules{}, fmt.Sprint("second-", rounds), halfEmptied)
		waitAcked(t, js)
		e.stop(t)
	}
	if !crashed.Load() {
		t.Fatalf("in %d rounds, the two raises were never in one flush", rounds)
	}
	if ids := checkOnce(t, js); len(ids) != 4*rounds {
		t.Fatalf("%d alert changes %v, want %d: two raises in both views per round", len(ids), ids, 4*rounds)
	}
}
