package store

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/cloud/store/storetest"
	"github.com/kanal-dev/kanal/internal/wire"
	"github.com/kanal-dev/kanal/uplink/batch"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testCtx is a context that ends before the test's own deadline, so a
// stuck call fails the test instead of hanging it.
func testCtx(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// jetStream starts a nats-server and ensures the streams with opts.
func jetStream(t testing.TB, opts Options) jetstream.JetStream {
	t.Helper()
	s := storetest.RunServer(t, storetest.ServerOptions{})
	_, js := storetest.Connect(t, s.ClientURL())
	if err := Ensure(testCtx(t, 10*time.Second), js, opts); err != nil {
		t.Fatal(err)
	}
	return js
}

// newStore returns a Store on js with its own registry.
func newStore(t testing.TB, js jetstream.JetStream, opts Options) (*Store, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts.Logger, opts.Metrics = quiet, reg
	s, err := New(js, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s, reg
}

// enc is shared by the tests: a zstd encoder is costly to make.
var (
	encMu sync.Mutex
	enc   *batch.Encoder
)

// encodeBatch returns the header and payload of a real batch with n values.
func encodeBatch(t testing.TB, vehicle, boot string, seq uint64, n int) (batch.Header, []byte) {
	t.Helper()
	encMu.Lock()
	defer encMu.Unlock()
	if enc == nil {
		var err error
		if enc, err = batch.NewEncoder(batch.EncoderOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	b := batch.Batch{Header: batch.Header{Vehicle: vehicle, Boot: boot, Seq: seq, SentAt: time.Now().UnixNano()}}
	for i := range n {
		// a value that does not compress: big batches stay big
		b.Values = append(b.Values, catalog.Value{ID: uint32(1 + i%7), Time: int64(i) * 1e6, Num: float64(seq*7919+uint64(i)*104729%1000003) / 7})
	}
	payload, err := enc.Encode(nil, &b)
	if err != nil {
		t.Fatal(err)
	}
	h, err := batch.ReadHeader(payload)
	if err != nil {
		t.Fatal(err)
	}
	return h, payload
}

// mustStore stores a batch and checks the result.
func mustStore(t testing.TB, s *Store, vehicle, boot string, seq uint64, want Result) {
	t.Helper()
	h, p := encodeBatch(t, vehicle, boot, seq, 3)
	got, err := s.Store(testCtx(t, 10*time.Second), vehicle, h, p)
	if err != nil {
		t.Fatalf("store %s: %v", h.MsgID(), err)
	}
	if got != want {
		t.Fatalf("store %s: %v, want %v", h.MsgID(), got, want)
	}
}

// ledgerOf counts KANAL_BATCHES by message id.
func ledgerOf(t testing.TB, js jetstream.JetStream) map[string]int {
	t.Helper()
	return storetest.Ledger(t, js, wire.BatchesStream)
}

// checkLedger fails unless the stream holds exactly the ids of want, once each.
func checkLedger(t testing.TB, js jetstream.JetStream, want []string) {
	t.Helper()
	ledger := ledgerOf(t, js)
	missing, doubled := 0, 0
	for _, id := range want {
		switch n := ledger[id]; {
		case n == 0:
			missing++
			if missing <= 5 {
				t.Errorf("batch %s is not in the stream", id)
			}
		case n > 1:
			doubled++
			if doubled <= 5 {
				t.Errorf("batch %s is in the stream %d times", id, n)
			}
		}
		delete(ledger, id)
	}
	for id, n := range ledger {
		t.Errorf("the stream holds %d copies of %s, which was never sent", n, id)
	}
	if missing+doubled > 0 {
		t.Fatalf("%d of %d batches missing, %d doubled", missing, len(want), doubled)
	}
}
