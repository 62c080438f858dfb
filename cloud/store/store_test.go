package store

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kanal-dev/kanal/cloud/store/storetest"
	"github.com/kanal-dev/kanal/internal/wire"
	"github.com/kanal-dev/kanal/uplink/batch"
)

func TestStoreOnce(t *testing.T) {
	js := jetStream(t, Options{})
	s, _ := newStore(t, js, Options{})
	boot := batch.NewBoot()
	mustStore(t, s, "veh-1", boot, 1, Stored)
	mustStore(t, s, "veh-1", boot, 1, Duplicate)
	mustStore(t, s, "veh-1", boot, 2, Stored)
	mustStore(t, s, "veh-2", boot, 1, Stored) // another vehicle, same boot id: its own state
	checkLedger(t, js, []string{"veh-1:" + boot + ":1", "veh-1:" + boot + ":2", "veh-2:" + boot + ":1"})

	// the payload is stored exactly as given, on the vehicle's subject
	h, p := encodeBatch(t, "veh-3", boot, 7, 10)
	if _, err := s.Store(testCtx(t, 5*time.Second), "veh-3", h, p); err != nil {
		t.Fatal(err)
	}
	msgs := storetest.Read(t, js, wire.BatchesStream)
	m := msgs[len(msgs)-1]
	if m.Subject != wire.BatchSubject("veh-3") || string(m.Data) != string(p) || m.Header.Get(jetstream.MsgIDHeader) != h.MsgID() {
		t.Fatalf("stored %s %q with id %q; want %s, the payload as sent, id %s",
			m.Subject, m.Data[:min(len(m.Data), 16)], m.Header.Get(jetstream.MsgIDHeader), wire.BatchSubject("veh-3"), h.MsgID())
	}
	if st, err := decodeState(m.Header.Get(HeaderDedup)); err != nil || !st.has(boot, 7) {
		t.Fatalf("the stored message's dedup state does not mark it: %+v, %v", st, err)
	}
}

// TestStoreAfterWindow: the same batch is stored once when the second copy
// comes within JetStream's duplicate window (caught by the message id) and
// when it comes after it (caught by the vehicle's state), through a stale
// cache, a fresh one and none.
func TestStoreAfterWindow(t *testing.T) {
	const window = 300 * time.Millisecond
	opts := Options{DuplicateWindow: window}
	js := jetStream(t, opts)
	a, _ := newStore(t, js, opts)
	b, _ := newStore(t, js, opts)
	boot, other := batch.NewBoot(), batch.NewBoot()

	mustStore(t, b, "veh", other, 1, Stored) // b caches the vehicle's state now
	mustStore(t, a, "veh", boot, 1, Stored)  // a moves it on
	mustStore(t, b, "veh", boot, 1, Duplicate)
	// R1 checks the expected sequence before the message id, a replicated
	// stream the other way round: one of the two caught it
	if got := testutil.ToFloat64(b.m.dupWindow) + testutil.ToFloat64(b.m.dupState); got != 1 {
		t.Fatalf("b's stale cache: %v duplicates, want 1", got)
	}
	dupState := testutil.ToFloat64(b.m.dupState)

	mustStore(t, a, "veh", boot, 2, Stored)
	time.Sleep(2 * window) // the message id of seq 2 leaves the window
	conflicts := testutil.ToFloat64(b.m.conflicts)
	mustStore(t, b, "veh", boot, 2, Duplicate) // stale cache: conflict, re-read, the state has it
	if testutil.ToFloat64(b.m.conflicts) == conflicts || testutil.ToFloat64(b.m.dupState) != dupState+1 {
		t.Fatalf("after the window: %v conflicts, %v duplicates by state; want a conflict and 1",
			testutil.ToFloat64(b.m.conflicts)-conflicts, testutil.ToFloat64(b.m.dupState)-dupState)
	}
	mustStore(t, a, "veh", boot, 1, Duplicate) // a's own cache
	c, _ := newStore(t, js, opts)              // a restarted gateway: empty cache
	mustStore(t, c, "veh", boot, 1, Duplicate)
	mustStore(t, c, "veh", boot, 2, Duplicate)
	mustStore(t, c, "veh", other, 1, Duplicate)
	mustStore(t, c, "veh", boot, 3, Stored)
	checkLedger(t, js, []string{"veh:" + other + ":1", "veh:" + boot + ":1", "veh:" + boot + ":2", "veh:" + boot + ":3"})
}

// TestStoreGaps: seqs never sent block nothing, and the ones sent late
// are stored once.
func TestStoreGaps(t *testing.T) {
	js := jetStream(t, Options{})
	s, _ := newStore(t, js, Options{})
	boot := batch.NewBoot()
	var want []string
	for _, seq := range []uint64{1, 5, 9, 60, 61, 100, 3, 99} {
		mustStore(t, s, "veh", boot, seq, Stored)
		want = append(want, "veh:"+boot+":"+itoa(seq))
	}
	for _, seq := range []uint64{1, 5, 9, 60, 61, 100, 3, 99} {
		mustStore(t, s, "veh", boot, seq, Duplicate)
	}
	checkLedger(t, js, want)
}

// TestStoreFailedFirstTry: several batches in flight, the first try of one
// fails (the stream refuses it: too large for a limit an operator set)
// while later ones are stored; once the limit is gone it is stored, once,
// and nothing was blocked meanwhile. A plain high-water mark would call it a
// duplicate and lose it.
func TestStoreFailedFirstTry(t *testing.T) {
	js := jetStream(t, Options{})
	ctx := testCtx(t, 20*time.Second)
	st, err := js.Stream(ctx, wire.BatchesStream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	cfg.MaxMsgSize = 4096
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	s, _ := newStore(t, js, Options{})
	boot := batch.NewBoot()
	mustStore(t, s, "veh", boot, 1, Stored)
	h, big := encodeBatch(t, "veh", boot, 2, 2000)
	if len(big) <= 4096 {
		t.Fatalf("the big batch has %d bytes; the test needs over 4096", len(big))
	}
	if _, err := s.Store(ctx, "veh", h, big); !errors.Is(err, ErrRefused) {
		t.Fatalf("store of a batch over the stream's max_msg_size: %v, want ErrRefused", err)
	}
	for seq := uint64(3); seq <= 6; seq++ {
		mustStore(t, s, "veh", boot, seq, Stored)
	}
	if err := Ensure(ctx, js, Options{}); err != nil { // the operator runs the gateway's settings again
		t.Fatal(err)
	}
	if r, err := s.Store(ctx, "veh", h, big); err != nil || r != Stored {
		t.Fatalf("the retry of the failed batch: %v, %v; want stored", r, err)
	}
	if r, err := s.Store(ctx, "veh", h, big); err != nil || r != Duplicate {
		t.Fatalf("its second retry: %v, %v; want duplicate", r, err)
	}
	var want []string
	for seq := uint64(1); seq <= 6; seq++ {
		want = append(want, "veh:"+boot+":"+itoa(seq))
	}
	checkLedger(t, js, want)
}

// TestStoreBootsAndWindow: K+1 boots, a jump past W, and a restarted
// gateway (a new Store, empty cache, another connection) reading the state
// from JetStream.
func TestStoreBootsAndWindow(t *testing.T) {
	opts := Options{DuplicateWindow: 200 * time.Millisecond}
	js := jetStream(t, opts)
	s, _ := newStore(t, js, opts)
	boots := make([]string, Boots+1)
	for i := range boots {
		boots[i] = batch.NewBoot()
		mustStore(t, s, "veh", boots[i], 1, Stored)
		mustStore(t, s, "veh", boots[i], 2, Stored)
	}
	const top = 1000
	mustStore(t, s, "veh", boots[Boots], top, Stored)

	time.Sleep(300 * time.Millisecond) // past the window: only the state remembers
	r, _ := newStore(t, js, opts)      // restarted: knows only what JetStream holds
	for i := 1; i <= Boots; i++ {
		mustStore(t, r, "veh", boots[i], 1, Duplicate)
		mustStore(t, r, "veh", boots[i], 2, Duplicate)
	}
	// W below the top is still a bit of its own; one more is decided
	mustStore(t, r, "veh", boots[Boots], top-Window, Stored)
	mustStore(t, r, "veh", boots[Boots], top-Window-1, Duplicate) // never stored: the agent's spread says it is gone
	mustStore(t, r, "veh", boots[Boots], top-1, Stored)
	// the oldest boot was evicted by K newer ones: stored again (documented)
	mustStore(t, r, "veh", boots[0], 1, Stored)
	mustStore(t, r, "veh", boots[0], 1, Duplicate)

	ledger := ledgerOf(t, js)
	if n := ledger["veh:"+boots[0]+":1"]; n != 2 {
		t.Errorf("evicted boot: %d copies, want the documented 2", n)
	}
	if n := ledger["veh:"+boots[Boots]+":"+itoa(top-Window-1)]; n != 0 {
		t.Errorf("a seq below the window was stored")
	}
	for id, n := range ledger {
		if n != 1 && id != "veh:"+boots[0]+":1" {
			t.Errorf("%s stored %d times", id, n)
		}
	}
}

// TestStoreBadState: a last message without a readable Kanal-Dedup header
// (written by something else than a Store) makes the vehicle new, counted.
func TestStoreBadState(t *testing.T) {
	js := jetStream(t, Options{})
	ctx := testCtx(t, 10*time.Second)
	if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: wire.BatchSubject("veh"), Data: []byte("x"),
		Header: nats.Header{HeaderDedup: {"garbage!"}}}); err != nil {
		t.Fatal(err)
	}
	s, _ := newStore(t, js, Options{})
	boot := batch.NewBoot()
	mustStore(t, s, "veh", boot, 1, Stored)
	mustStore(t, s, "veh", boot, 1, Duplicate)
	if got := testutil.ToFloat64(s.m.badState); got != 1 {
		t.Fatalf("bad states counted: %v, want 1", got)
	}
}

// TestStoreJetStreamDown: with the server gone the Store answers
// ErrUnavailable within its timeout instead of hanging; once the server is
// back on its directory the batch is stored, and the state from before the
// outage still holds.
func TestStoreJetStreamDown(t *testing.T) {
	dir := t.TempDir()
	srv := storetest.RunServer(t, storetest.ServerOptions{Dir: dir})
	port := srv.Addr().(*net.TCPAddr).Port
	_, js := storetest.Connect(t, srv.ClientURL())
	opts := Options{PublishTimeout: 500 * time.Millisecond, DuplicateWindow: 200 * time.Millisecond}
	if err := Ensure(testCtx(t, 5*time.Second), js, opts); err != nil {
		t.Fatal(err)
	}
	s, _ := newStore(t, js, opts)
	boot := batch.NewBoot()
	mustStore(t, s, "veh", boot, 1, Stored)

	srv.Shutdown()
	srv.WaitForShutdown()
	h, p := encodeBatch(t, "veh", boot, 2, 3)
	start := time.Now()
	_, err := s.Store(testCtx(t, 5*time.Second), "veh", h, p)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("store with the server down: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("store with the server down took %v; the publish timeout is %v", d, opts.PublishTimeout)
	}

	storetest.RunServer(t, storetest.ServerOptions{Dir: dir, Port: port})
	deadline := time.Now().Add(15 * time.Second)
	for {
		r, err := s.Store(testCtx(t, 5*time.Second), "veh", h, p)
		if err == nil {
			if r != Stored && r != Duplicate { // Duplicate: the try during the outage landed after all
				t.Fatalf("store after the restart: %v", r)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store after the restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // past the window: only the state remembers
	mustStore(t, s, "veh", boot, 1, Duplicate)
	s2, _ := newStore(t, js, opts)
	mustStore(t, s2, "veh", boot, 1, Duplicate)
	mustStore(t, s2, "veh", boot, 2, Duplicate)
	checkLedger(t, js, []string{"veh:" + boot + ":1", "veh:" + boot + ":2"})
}

// TestStoreRetentionForgets pins the documented limit: when retention
// deletes a vehicle's last message, its state goes with it, and a batch
// older than the retention is stored again (its first copy is gone too).
func TestStoreRetentionForgets(t *testing.T) {
	opts := Options{MaxAge: time.Second, DuplicateWindow: 100 * time.Millisecond}
	js := jetStream(t, opts)
	s, _ := newStore(t, js, opts)
	boot := batch.NewBoot()
	mustStore(t, s, "veh", boot, 1, Stored)
	deadline := time.Now().Add(10 * time.Second)
	for len(ledgerOf(t, js)) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the batch did not expire")
		}
		time.Sleep(100 * time.Millisecond)
	}
	mustStore(t, s, "veh", boot, 2, Stored) // the cache is stale: conflict, re-read, empty state
	mustStore(t, s, "veh", boot, 1, Stored)
	checkLedger(t, js, []string{"veh:" + boot + ":1", "veh:" + boot + ":2"})
}

func TestStoreRefusesBadCalls(t *testing.T) {
	js := jetStream(t, Options{})
	s, _ := newStore(t, js, Options{})
	boot := batch.NewBoot()
	good := batch.Header{Vehicle: "veh", Boot: boot, Seq: 1}
	tests := []struct {
		name    string
		vehicle string
		h       batch.Header
		want    string
	}{
		{"another vehicle's batch", "veh-2", good, `names vehicle "veh", not "veh-2"`},
		{"bad vehicle", "veh.x", batch.Header{Vehicle: "veh.x", Boot: boot, Seq: 1}, "vehicle id"},
		{"bad boot", "veh", batch.Header{Vehicle: "veh", Boot: "a:b", Seq: 1}, "boot id"},
		{"seq 0", "veh", batch.Header{Vehicle: "veh", Boot: boot}, "seq 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Store(testCtx(t, 5*time.Second), tc.vehicle, tc.h, []byte("x"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
	if n := len(ledgerOf(t, js)); n != 0 {
		t.Fatalf("%d messages stored by refused calls", n)
	}
}

func TestStoreMetrics(t *testing.T) {
	js := jetStream(t, Options{})
	s, reg := newStore(t, js, Options{})
	boot := batch.NewBoot()
	mustStore(t, s, "veh", boot, 1, Stored)
	mustStore(t, s, "veh", boot, 1, Duplicate)
	if err := s.Dead(testCtx(t, 5*time.Second), "malformed", "veh", []byte("x"), "bad"); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"kanal_gateway_batches_stored_total":    1,
		"kanal_gateway_batches_duplicate_total": 1,
		"kanal_gateway_jetstream_ack_seconds":   1,
		"kanal_gateway_store_conflicts_total":   0,
		"kanal_gateway_dead_letters_total":      1,
		"kanal_gateway_store_cached_vehicles":   1,
		"kanal_gateway_store_bad_state_total":   0,
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		w, ok := want[f.GetName()]
		if !ok {
			t.Errorf("unexpected metric %s", f.GetName())
			continue
		}
		delete(want, f.GetName())
		var got float64
		for _, m := range f.GetMetric() {
			switch {
			case m.Counter != nil:
				got += m.Counter.GetValue()
			case m.Gauge != nil:
				got += m.Gauge.GetValue()
			case m.Histogram != nil:
				got += float64(m.Histogram.GetSampleCount())
			}
		}
		if got != w {
			t.Errorf("%s = %v, want %v", f.GetName(), got, w)
		}
	}
	for name := range want {
		t.Errorf("metric %s missing", name)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
