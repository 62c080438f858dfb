package store

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kanal-dev/kanal/internal/wire"
	"github.com/kanal-dev/kanal/uplink/batch"
)

// BenchmarkStore measures batches stored per second in file-backed
// JetStream: the exactly-once Store beside a plain publish with only the
// Nats-Msg-Id (the baseline: what the window alone costs), for one
// synchronous publisher and for 64 at once on 1,000 vehicles. Payloads are
// about 1,600 bytes, as in DESIGN.md's reference figures.
func BenchmarkStore(b *testing.B) {
	js := jetStream(b, Options{})
	_, payload := encodeBatch(b, "bench", batch.NewBoot(), 1, 180)
	b.Logf("payload %d bytes", len(payload))
	var run atomic.Int64
	header := func(vehicle string) batch.Header {
		return batch.Header{Vehicle: vehicle, Boot: fmt.Sprintf("run%d", run.Add(1)), Seq: 0}
	}
	b.Run("kind=store,publishers=1", func(b *testing.B) {
		s, _ := newStore(b, js, Options{})
		h := header("v-one")
		for b.Loop() {
			h.Seq++
			if _, err := s.Store(b.Context(), h.Vehicle, h, payload); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "batches/s")
	})
	b.Run("kind=baseline,publishers=1", func(b *testing.B) {
		h := header("v-base")
		for b.Loop() {
			h.Seq++
			if _, err := js.Publish(b.Context(), wire.BatchSubject(h.Vehicle), payload, jetstream.WithMsgID(h.MsgID())); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "batches/s")
	})
	b.Run("kind=store,publishers=64,vehicles=1000", func(b *testing.B) {
		s, _ := newStore(b, js, Options{})
		var next atomic.Int64
		b.SetParallelism(32) // 64 goroutines on 2 cores
		b.RunParallel(func(pb *testing.PB) {
			i := next.Add(1)
			hs := make([]batch.Header, 0, 16)
			for v := i; v < 1000; v += 64 {
				hs = append(hs, header(fmt.Sprintf("v-%d", v)))
			}
			for k := 0; pb.Next(); k++ {
				h := &hs[k%len(hs)]
				h.Seq++
				if _, err := s.Store(b.Context(), h.Vehicle, *h, payload); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "batches/s")
	})
	b.Run("kind=baseline,publishers=64,vehicles=1000", func(b *testing.B) {
		var next atomic.Int64
		b.SetParallelism(32)
		b.RunParallel(func(pb *testing.PB) {
			h := header(fmt.Sprintf("b-%d", next.Add(1)))
			for pb.Next() {
				h.Seq++
				msg := &nats.Msg{Subject: wire.BatchSubject(h.Vehicle), Data: payload}
				if _, err := js.PublishMsg(b.Context(), msg, jetstream.WithMsgID(h.MsgID())); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "batches/s")
	})
}

// BenchmarkState measures deciding and encoding one batch's dedup state,
// the Store's own work per batch besides the publish.
func BenchmarkState(b *testing.B) {
	var s state
	for i := range Boots {
		s = s.with(fmt.Sprintf("boot%012d", i), 1000)
	}
	boot := fmt.Sprintf("boot%012d", Boots-1)
	b.ReportAllocs()
	seq := uint64(1000)
	start := time.Now()
	for b.Loop() {
		seq++
		if s.has(boot, seq) {
			b.Fatal("has")
		}
		s = s.with(boot, seq)
		_ = s.encode()
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "states/s")
}
