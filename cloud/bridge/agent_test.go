package bridge

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/cloud/store"
	"github.com/kanal-dev/kanal/cloud/store/storetest"
	"github.com/kanal-dev/kanal/internal/await"
	"github.com/kanal-dev/kanal/internal/wire"
	"github.com/kanal-dev/kanal/uplink"
	"github.com/kanal-dev/kanal/uplink/batch"
	"github.com/kanal-dev/kanal/uplink/spool"
)

// agent is the real uplink of an edge agent: a batcher into a real spool,
// drained by a real publisher.
type agent struct {
	vehicle, boot string
	sp            *spool.Spool
	bat           *uplink.Batcher
}

func newAgent(t *testing.T, vehicle string) *agent {
	t.Helper()
	sp, err := spool.Open(spool.Options{Dir: t.TempDir(), Fsync: spool.FsyncNone, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	a := &agent{vehicle: vehicle, boot: batch.NewBoot(), sp: sp}
	if a.bat, err = uplink.NewBatcher(uplink.BatcherOptions{Vehicle: vehicle, Boot: a.boot,
		Sink: func(data []byte, prio bool) error { _, err := sp.Append(data, prio); return err }}); err != nil {
		t.Fatal(err)
	}
	return a
}

// produce spools n more batches.
func (a *agent) produce(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		for j := range 5 {
			if err := a.bat.Add(catalog.Value{ID: uint32(1 + j), Time: time.Now().UnixNano(), Num: float64(i*10 + j)}, false); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.bat.Flush(); err != nil {
			t.Fatal(err)
		}
	}
}

// ids returns the message ids of every batch produced so far.
func (a *agent) ids() []string {
	out := make([]string, a.bat.Seq())
	for i := range out {
		out[i] = batch.Header{Vehicle: a.vehicle, Boot: a.boot, Seq: uint64(i + 1)}.MsgID()
	}
	return out
}

// publish runs a publisher to the gateway at url until the returned stop.
func (a *agent) publish(t *testing.T, url string) (stop func()) {
	t.Helper()
	p, err := uplink.NewPublisher(uplink.PublisherOptions{
		MQTTOptions: uplink.MQTTOptions{Broker: url, Inflight: 4, PublishTimeout: 5 * time.Second,
			BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond},
		Vehicle: a.vehicle, Boot: a.boot, Queue: a.sp, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Fatal("publisher did not stop")
		}
	}
	t.Cleanup(stop)
	return stop
}

// stored counts KANAL_BATCHES messages without reading them.
func stored(t *testing.T, g *gateway) uint64 {
	t.Helper()
	st, err := g.js.Stream(testCtx(t, 5*time.Second), wire.BatchesStream)
	if err != nil {
		return 0 // the server is down
	}
	return st.CachedInfo().State.Msgs
}

// checkLedger fails unless KANAL_BATCHES holds exactly want, once each.
func checkLedger(t *testing.T, g *gateway, want []string) {
	t.Helper()
	ledger := storetest.Ledger(t, g.js, wire.BatchesStream)
	for _, id := range want {
		if n := ledger[id]; n != 1 {
			t.Errorf("batch %s stored %d times", id, n)
		}
		delete(ledger, id)
	}
	for id, n := range ledger {
		t.Errorf("%s stored %d times, never sent", id, n)
	}
}

// TestAgentThroughJetStreamOutage: the real agent uplink sends with four
// batches in flight; JetStream stops mid-stream, so the vehicle gets 0x80
// PUBACKs instead of hanging, keeps producing into its spool, and once
// JetStream is back on its directory every batch is stored exactly once
// and the spool is empty.
func TestAgentThroughJetStreamOutage(t *testing.T) {
	dir := t.TempDir()
	ns := storetest.RunServer(t, storetest.ServerOptions{Dir: dir})
	port := ns.Addr().(*net.TCPAddr).Port
	g := startGateway(t, gatewayOptions{nats: ns, store: store.Options{PublishTimeout: 300 * time.Millisecond}})
	a := newAgent(t, "veh-outage")
	a.produce(t, 30)
	a.publish(t, g.url())
	await.Until(t, 20*time.Second, "10 batches stored", func() bool { return stored(t, g) >= 10 })

	ns.Shutdown()
	ns.WaitForShutdown()
	a.produce(t, 30)
	negative := g.hook.m.negative.WithLabelValues("0x80")
	await.Until(t, 20*time.Second, "a negative PUBACK", func() bool { return testutil.ToFloat64(negative) >= 3 })
	if n := a.sp.Stats().Records; n == 0 {
		t.Fatal("the spool is empty while JetStream is down")
	}

	storetest.RunServer(t, storetest.ServerOptions{Dir: dir, Port: port})
	await.Until(t, 30*time.Second, "the spool drained", func() bool { return a.sp.Stats().Records == 0 })
	checkLedger(t, g, a.ids())
	t.Logf("%v negative PUBACKs (0x80), %v duplicates", testutil.ToFloat64(negative),
		testutil.ToFloat64(g.hook.m.publishes.WithLabelValues(resultDuplicate)))
}

// TestAgentHopsGateways: two gateway replicas on one NATS; the vehicle's
// gateway goes away mid-stream (its connections dropped with batches in
// flight, some stored without a PUBACK), and the vehicle carries on with
// the other one from its spool. Every batch is stored exactly once.
func TestAgentHopsGateways(t *testing.T) {
	so := store.Options{DuplicateWindow: 100 * time.Millisecond} // too short to help: the state must
	g1 := startGateway(t, gatewayOptions{store: so})
	g2 := startGateway(t, gatewayOptions{store: so, nats: g1.nats})
	a := newAgent(t, "veh-hop")
	a.produce(t, 40)
	stop := a.publish(t, g1.url())
	await.Until(t, 20*time.Second, "15 batches stored", func() bool { return stored(t, g1) >= 15 })
	g1.close()
	stop()
	time.Sleep(200 * time.Millisecond) // past the window
	a.produce(t, 20)
	a.publish(t, g2.url())
	await.Until(t, 30*time.Second, "the spool drained", func() bool { return a.sp.Stats().Records == 0 })
	checkLedger(t, g2, a.ids())
	t.Logf("gateway 1 stored %v, gateway 2 stored %v and found %v duplicates",
		testutil.ToFloat64(g1.hook.m.publishes.WithLabelValues(resultStored)),
		testutil.ToFloat64(g2.hook.m.publishes.WithLabelValues(resultStored)),
		testutil.ToFloat64(g2.hook.m.publishes.WithLabelValues(resultDuplicate)))
}
