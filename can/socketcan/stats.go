package socketcan

import "sync/atomic"

// Stats are one Bus's counts since Open, the same events its Prometheus
// counters count; a command prints them at exit without scraping itself.
type Stats struct {
	Received    uint64 // frames read, error frames included
	Sent        uint64
	ErrorFrames uint64
	Dropped     uint64 // frames the kernel dropped: the receive buffer was full (SO_RXQ_OVFL)
	Down        uint64 // times the interface went down or disappeared under the reader
}

// counters hold a Bus's Stats; Send and Next update them from different
// goroutines, so they are atomic.
type counters struct {
	received, sent, errFrames, dropped, down atomic.Uint64
}

func (c *counters) load() Stats {
	return Stats{Received: c.received.Load(), Sent: c.sent.Load(), ErrorFrames: c.errFrames.Load(),
		Dropped: c.dropped.Load(), Down: c.down.Load()}
}
