package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestBuckets: every value falls in a bucket whose range holds it, buckets
// are ordered, and a bucket is at most 1/16 of its lowest value wide.
func TestBuckets(t *testing.T) {
	prev := -1
	for v := int64(0); v < 1<<41; v = v + 1 + v/7 {
		i := bucketOf(v)
		lo, w := bucketRange(i)
		if i < prev {
			t.Fatalf("bucket of %d is %d, below %d", v, i, prev)
		}
		prev = i
		if i == histBuckets-1 {
			if v < 1<<(maxExp+1) {
				t.Fatalf("%d in the overflow bucket", v)
			}
			continue
		}
		if v < lo || v >= lo+w {
			t.Fatalf("%d in bucket %d [%d, %d)", v, i, lo, lo+w)
		}
		if lo >= 16 && float64(w)/float64(lo) > 1.0/16 {
			t.Fatalf("bucket %d [%d, +%d) too wide", i, lo, w)
		}
	}
	if bucketOf(-5) != 0 {
		t.Error("negative value not in bucket 0")
	}
}

// TestQuantile compares the histogram with the exact quantiles of a
// sorted sample.
func TestQuantile(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		desc string
		draw func() time.Duration
	}{
		{"uniform 0-100ms", func() time.Duration { return time.Duration(rng.Int64N(int64(100 * time.Millisecond))) }},
		{"lognormal around 1ms", func() time.Duration { return time.Duration(math.Exp(rng.NormFloat64()) * 1e6) }},
		{"constant 250us", func() time.Duration { return 250 * time.Microsecond }},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			var h Histogram
			sample := make([]time.Duration, 50000)
			var sum time.Duration
			for i := range sample {
				sample[i] = tc.draw()
				sum += sample[i]
				h.Record(sample[i])
			}
			slices.Sort(sample)
			for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
				exact := sample[int(math.Ceil(q*float64(len(sample))))-1]
				got := h.Quantile(q)
				if d := math.Abs(float64(got-exact)) / float64(exact); d > 1.0/32+1e-9 {
					t.Errorf("q%g: %v, exact %v (off by %.1f%%)", q, got, exact, 100*d)
				}
			}
			if h.Max() != sample[len(sample)-1] || h.Count() != uint64(len(sample)) || h.Mean() != sum/time.Duration(len(sample)) {
				t.Errorf("max %v count %d mean %v", h.Max(), h.Count(), h.Mean())
			}
		})
	}
	var empty Histogram
	if empty.Quantile(0.99) != 0 || empty.Mean() != 0 || empty.Max() != 0 {
		t.Error("empty histogram is not all zero")
	}
	var neg Histogram
	neg.Record(-time.Second)
	if neg.Max() != 0 || neg.Quantile(1) != 0 {
		t.Error("a negative latency is not 0")
	}
}

func TestHistogramConcurrent(t *testing.T) {
	var h Histogram
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10000 {
				h.Record(time.Duration(g*10000+i) * time.Microsecond)
			}
		}()
	}
	for range 100 {
		h.Quantile(0.99)
	}
	wg.Wait()
	if h.Count() != 80000 || h.Max() != 79999*time.Microsecond {
		t.Errorf("count %d max %v", h.Count(), h.Max())
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	b.RunParallel(func(pb *testing.PB) {
		d := time.Duration(1)
		for pb.Next() {
			d = (d*3 + 1) & (1<<30 - 1)
			h.Record(d)
		}
	})
}
