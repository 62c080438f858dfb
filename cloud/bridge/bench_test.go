package bridge

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/internal/wire"
	"github.com/kanal-dev/kanal/uplink/batch"
)

// BenchmarkBridge measures batches through mochi, the hook and file-backed
// JetStream, PUBACK held until the stream's ack: 16 paho v5 clients on
// loopback, one batch in flight each, the clients on the same two cores.
// It reports batches/s and the PUBACK latency's p50 and p99.
func BenchmarkBridge(b *testing.B) {
	g := startGateway(b, gatewayOptions{})
	const clients = 16
	enc, err := batch.NewEncoder(batch.EncoderOptions{})
	if err != nil {
		b.Fatal(err)
	}
	type sender struct {
		c       *paho.Client
		vehicle string
		payload func(seq uint64) []byte
	}
	var mu sync.Mutex
	senders := make([]*sender, clients)
	for i := range senders {
		v := fmt.Sprintf("bench-%02d", i)
		boot := batch.NewBoot()
		vals := make([]catalog.Value, 180) // about 1,600 bytes
		for j := range vals {
			vals[j] = catalog.Value{ID: uint32(1 + j%9), Time: int64(j) * 1e7, Num: float64(j*7919%1009) / 3}
		}
		senders[i] = &sender{c: client(b, g.addr, v), vehicle: v, payload: func(seq uint64) []byte {
			mu.Lock()
			defer mu.Unlock()
			p, err := enc.Encode(nil, &batch.Batch{Header: batch.Header{Vehicle: v, Boot: boot, Seq: seq}, Values: vals})
			if err != nil {
				b.Fatal(err)
			}
			return p
		}}
	}
	// payloads made before the clock runs: the agent encodes, not the gateway
	per := b.N/clients + 1
	payloads := make([][][]byte, clients)
	for i, s := range senders {
		for seq := 1; seq <= per; seq++ {
			payloads[i] = append(payloads[i], s.payload(uint64(seq)))
		}
	}
	lat := make([][]time.Duration, clients)
	var sent atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i, s := range senders {
		wg.Go(func() {
			ctx := b.Context()
			for _, p := range payloads[i] {
				if sent.Add(1) > int64(b.N) {
					return
				}
				t0 := time.Now()
				resp, err := s.c.Publish(ctx, &paho.Publish{Topic: wire.BatchTopic(s.vehicle), QoS: 1, Payload: p})
				if err != nil || resp.ReasonCode != 0 {
					b.Errorf("publish: %v", err)
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return
	}
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "batches/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99_ms")
}
