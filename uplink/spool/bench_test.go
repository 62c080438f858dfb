package spool

import (
	"context"
	"fmt"
	"testing"
)

// benchBatch is the size of a typical batch: a second of a vehicle's
// values, protobuf and zstd, is 1–2 KiB.
const benchBatch = 2 << 10

// BenchmarkAppend appends batches under each fsync policy: ns/op is the
// latency Append adds to the batcher, batches/s what one spool sustains.
func BenchmarkAppend(b *testing.B) {
	data := payload(1, benchBatch)
	for _, policy := range []FsyncPolicy{FsyncBatch, FsyncInterval, FsyncNone} {
		for _, prio := range []bool{false, true} {
			if prio && policy != FsyncInterval {
				continue // the same as non-priority under the other policies
			}
			b.Run(fmt.Sprintf("fsync=%s,priority=%v", policy, prio), func(b *testing.B) {
				s := open(b, b.TempDir(), Options{MaxBytes: 1 << 30, Fsync: policy})
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := s.Append(data, prio); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "batches/s")
			})
		}
	}
}

// BenchmarkAppendOverBudget appends to a full spool, so that every few
// appends evict a segment: the cost of a vehicle offline for hours.
func BenchmarkAppendOverBudget(b *testing.B) {
	data := payload(1, benchBatch)
	s := open(b, b.TempDir(), Options{MaxBytes: 4 << 20, SegmentBytes: 256 << 10, Fsync: FsyncNone})
	for range 3000 { // fill it
		if _, err := s.Append(data, false); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := s.Append(data, i%20 == 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "batches/s")
}

// BenchmarkNextAck is the publisher's side: read the next batch back from
// the spool and ack it.
func BenchmarkNextAck(b *testing.B) {
	data := payload(1, benchBatch)
	s := open(b, b.TempDir(), Options{MaxBytes: 1 << 30, Fsync: FsyncNone})
	ctx := context.Background()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	after := uint64(0)
	for b.Loop() {
		b.StopTimer()
		if s.Stats().Records == 0 {
			for range 10000 {
				if _, err := s.Append(data, false); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.StartTimer()
		r, err := s.Next(ctx, after)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Ack(r.ID); err != nil {
			b.Fatal(err)
		}
		after = r.ID
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "batches/s")
}

// BenchmarkOpen recovers a spool of 32 MiB of batches: how long an agent
// takes to start with a full spool after an outage.
func BenchmarkOpen(b *testing.B) {
	dir := b.TempDir()
	s := open(b, dir, Options{MaxBytes: 64 << 20, Fsync: FsyncNone})
	data := payload(1, benchBatch)
	n := (32 << 20) / (len(data) + recHeaderSize)
	for range n {
		if _, err := s.Append(data, false); err != nil {
			b.Fatal(err)
		}
	}
	s.Close()
	disk := dirBytes(b, dir)
	b.SetBytes(disk)
	b.ReportAllocs()
	for b.Loop() {
		s, err := Open(Options{Dir: dir, MaxBytes: 64 << 20, Fsync: FsyncNone, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		if st := s.Stats(); st.Records != n {
			b.Fatalf("%d records, want %d", st.Records, n)
		}
		s.Close()
	}
	b.ReportMetric(float64(n), "records")
}
