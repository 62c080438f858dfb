package store

import (
	"container/list"
	"sync"
)

// last is what a Store knows of a vehicle's subject: the stream sequence of
// its last message (0: none) and the dedup state in it.
type last struct {
	seq   uint64
	state state
}

// cache is a bounded LRU of vehicles' last messages. An entry may be stale
// (another replica stored since); the expected-sequence check catches that,
// so the cache only saves direct gets and is never trusted for more.
type cache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *cacheEntry, most recently used first
	byVeh map[string]*list.Element
}

type cacheEntry struct {
	vehicle string
	last    last
}

func newCache(max int) *cache {
	return &cache{max: max, order: list.New(), byVeh: make(map[string]*list.Element)}
}

// get returns a copy of the vehicle's entry.
func (c *cache) get(vehicle string) (last, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byVeh[vehicle]
	if !ok {
		return last{}, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*cacheEntry).last, true
}

// put replaces the vehicle's entry, evicting the least recently used one
// when full. It replaces even with an older sequence: after a stream was
// recreated, sequences start again at 1, and an entry that only grew would
// stay wrong forever; a needlessly old entry costs one conflict.
func (c *cache) put(vehicle string, l last) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byVeh[vehicle]; ok {
		el.Value.(*cacheEntry).last = l
		c.order.MoveToFront(el)
		return
	}
	if c.order.Len() >= c.max {
		old := c.order.Back()
		c.order.Remove(old)
		delete(c.byVeh, old.Value.(*cacheEntry).vehicle)
	}
	c.byVeh[vehicle] = c.order.PushFront(&cacheEntry{vehicle: vehicle, last: l})
}

// drop forgets the vehicle: after a failed publish the Store does not know
// whether the batch was stored.
func (c *cache) drop(vehicle string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byVeh[vehicle]; ok {
		c.order.Remove(el)
		delete(c.byVeh, vehicle)
	}
}

// len returns how many vehicles are cached.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
