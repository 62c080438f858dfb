package broker

import "time"

// tokenBucket limits one connection's publishes: rate tokens a second, at
// most burst saved up. Only the connection's read loop uses it: no lock.
type tokenBucket struct {
	rate   float64 // tokens a second; 0: no limit
	burst  float64
	tokens float64
	last   time.Time
}

func newTokenBucket(rate float64, burst int, now time.Time) tokenBucket {
	return tokenBucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: now}
}

// take spends a token, reporting false when none is left.
func (b *tokenBucket) take(now time.Time) bool {
	if b.rate <= 0 {
		return true
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
