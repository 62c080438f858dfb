package broker

import (
	"sync"
	"time"
)

// logLimiter lets a log line through once per key and period: a vehicle
// with a stale password retries every few seconds for days, and its
// refusal belongs in the log once, not at every try. It holds at most max
// keys; when full, it forgets the oldest period's keys.
type logLimiter struct {
	every time.Duration
	max   int
	mu    sync.Mutex
	seen  map[string]time.Time
}

func newLogLimiter(every time.Duration, max int) *logLimiter {
	return &logLimiter{every: every, max: max, seen: make(map[string]time.Time)}
}

// allow reports whether a line for key may be logged now.
func (l *logLimiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if last, ok := l.seen[key]; ok && now.Sub(last) < l.every {
		return false
	}
	if len(l.seen) >= l.max {
		for k, t := range l.seen {
			if now.Sub(t) >= l.every {
				delete(l.seen, k)
			}
		}
		if len(l.seen) >= l.max {
			clear(l.seen)
		}
	}
	l.seen[key] = now
	return true
}
