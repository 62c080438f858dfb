package store

import (
	"fmt"
	"runtime"
	"testing"
)

func TestCacheLRU(t *testing.T) {
	c := newCache(3)
	for i := range 3 {
		c.put(fmt.Sprint("v", i), last{seq: uint64(i + 1)})
	}
	c.get("v0")               // v0 is used: v1 is now the oldest
	c.put("v3", last{seq: 4}) // evicts v1
	if _, ok := c.get("v1"); ok {
		t.Fatal("v1 not evicted")
	}
	for _, v := range []string{"v0", "v2", "v3"} {
		if _, ok := c.get(v); !ok {
			t.Fatalf("%s evicted", v)
		}
	}
	if c.len() != 3 {
		t.Fatalf("%d entries, want 3", c.len())
	}
	c.put("v2", last{seq: 1}) // replaced even with an older sequence
	if l, _ := c.get("v2"); l.seq != 1 {
		t.Fatalf("v2 seq %d, want 1", l.seq)
	}
	c.drop("v2")
	if _, ok := c.get("v2"); ok || c.len() != 2 {
		t.Fatal("drop left v2")
	}
}

// TestCacheCopies: an entry handed out is a copy; marking it does not
// change the cache.
func TestCacheCopies(t *testing.T) {
	c := newCache(1)
	c.put("v", last{seq: 1, state: state{}.with("b", 1)})
	l, _ := c.get("v")
	l.state = l.state.with("b", 2)
	l.state.marks[0].max = 99
	if got, _ := c.get("v"); got.state.has("b", 2) || got.state.marks[0].max != 1 {
		t.Fatalf("the cache changed through a copy: %+v", got)
	}
}

// BenchmarkCacheMemory reports the heap a full cache takes per vehicle,
// with four boots each, for sizing Options.CacheSize.
func BenchmarkCacheMemory(b *testing.B) {
	const n = 20000
	var perVehicle float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		c := newCache(n)
		for i := range n {
			var s state
			for k := range Boots {
				s = s.with(fmt.Sprintf("boot%012d", i*Boots+k), 100)
			}
			c.put(fmt.Sprintf("vehicle-%06d", i), last{seq: uint64(i), state: s})
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perVehicle = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(c)
	}
	b.ReportMetric(perVehicle, "B/vehicle")
}
