package loadgen

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// subBits is log2 of the linear sub-buckets per power of two: 16 of them,
// so a recorded value is off by less than 1/16 (6.25 %) of itself, and a
// quantile read back by less than half that (the bucket's middle).
const subBits = 4

// histBuckets covers 0 to 2^maxExp ns (about 9 minutes), beyond which
// values land in the last bucket.
const (
	maxExp      = 39
	histBuckets = (maxExp-subBits+2)<<subBits + 1
)

// Histogram counts latencies in fixed log-linear buckets, in the spirit of
// HdrHistogram with one significant hex digit: constant memory (about 4.6
// KiB), lock-free Record from any number of goroutines, and quantiles with a
// relative error under 3.2 %. The exact maximum and sum are kept beside the
// buckets. The zero value is ready to use.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Uint64 // ns
	max    atomic.Int64  // ns
}

// bucketOf returns the bucket of v ns: values under 2^subBits each have
// their own, then 2^subBits buckets per power of two.
func bucketOf(v int64) int {
	if v < 1<<subBits {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	exp := bits.Len64(uint64(v)) - 1 // ≥ subBits
	if exp > maxExp {
		return histBuckets - 1
	}
	sub := int(uint64(v)>>(exp-subBits)) & (1<<subBits - 1)
	return (exp-subBits+1)<<subBits + sub
}

// bucketRange returns the smallest value of bucket i and its width.
func bucketRange(i int) (lo, width int64) {
	if i < 1<<subBits {
		return int64(i), 1
	}
	if i == histBuckets-1 {
		return 1 << (maxExp + 1), 1
	}
	exp := i>>subBits + subBits - 1
	sub := int64(i & (1<<subBits - 1))
	width = 1 << (exp - subBits)
	return 1<<exp + sub*width, width
}

// Record adds one latency. A negative one counts as 0.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)].Add(1)
	h.n.Add(1)
	h.sum.Add(uint64(v))
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Count returns the number of latencies recorded.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Max returns the largest latency recorded, exactly.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Mean returns the average latency.
func (h *Histogram) Mean() time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / n)
}

// Quantile returns the latency below which a fraction q (0 to 1) of the
// recorded ones lie: the middle of the bucket holding that rank, never
// above Max. It returns 0 for an empty histogram. Concurrent Records may
// or may not be seen.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	q = math.Min(math.Max(q, 0), 1)
	rank := uint64(math.Ceil(q * float64(n)))
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			lo, w := bucketRange(i)
			return min(time.Duration(lo+w/2), h.Max())
		}
	}
	return h.Max() // Records raced with the walk
}
