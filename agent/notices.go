package agent

import (
	"sync"
	"time"

	"github.com/kanal-dev/kanal/internal/wire"
)

// noticeBoard keeps the notices the cloud sent to the vehicle's cells for a
// local display: the latest few, each once (a notice sent to a cell and its
// neighbours arrives on several topics), and a feed for streams.
type noticeBoard struct {
	mu    sync.Mutex
	list  []receivedNotice // oldest first, at most max
	max   int
	seq   uint64
	subs  map[chan receivedNotice]struct{}
	count uint64
}

// receivedNotice is a notice as the agent got it.
type receivedNotice struct {
	Seq      uint64      `json:"seq"`
	Received time.Time   `json:"received"`
	Cell     string      `json:"cell"` // the cell topic it arrived on
	Notice   wire.Notice `json:"notice"`
}

func newNoticeBoard(max int) *noticeBoard {
	return &noticeBoard{max: max, subs: map[chan receivedNotice]struct{}{}}
}

// add records a notice; it reports false for one already on the board.
func (b *noticeBoard) add(n wire.Notice, cell string, at time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, old := range b.list {
		if old.Notice.ID == n.ID {
			return false
		}
	}
	b.seq++
	b.count++
	rn := receivedNotice{Seq: b.seq, Received: at, Cell: cell, Notice: n}
	b.list = append(b.list, rn)
	if len(b.list) > b.max {
		b.list = append(b.list[:0], b.list[len(b.list)-b.max:]...)
	}
	for ch := range b.subs {
		select {
		case ch <- rn:
		default: // a reader that does not keep up misses notices, and sees them in the list
		}
	}
	return true
}

// snapshot returns the notices on the board, oldest first, without those
// that have expired.
func (b *noticeBoard) snapshot(now time.Time) []receivedNotice {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]receivedNotice, 0, len(b.list))
	for _, n := range b.list {
		if n.Notice.Expires.IsZero() || n.Notice.Expires.After(now) {
			out = append(out, n)
		}
	}
	return out
}

// subscribe returns a channel of new notices and a function that ends it.
func (b *noticeBoard) subscribe() (<-chan receivedNotice, func()) {
	ch := make(chan receivedNotice, 16)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
	}
}

// received counts the distinct notices received since start.
func (b *noticeBoard) received() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.count
}
