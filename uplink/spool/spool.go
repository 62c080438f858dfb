package spool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"
)

// Record is one batch in the spool.
type Record struct {
	// ID is assigned by Append: strictly increasing, also across restarts
	// (see Spool.Append for the one exception after a power loss). The
	// publisher hands it back to Ack or Quarantine.
	ID uint64
	// Priority batches are the last the disk budget drops.
	Priority bool
	// Appended is when Append stored the batch, to the nanosecond.
	Appended time.Time
	// Data is the batch exactly as appended. From Next it is a fresh
	// slice the caller owns; from Append it is the caller's own slice.
	Data []byte
}

// Spool is a durable queue of encoded batches in a directory; doc.go
// describes the files. One goroutine may Append while another calls Next,
// Ack and Quarantine; every method is safe for concurrent use.
type Spool struct {
	opts Options
	log  *slog.Logger
	lock *os.File

	// appendMu orders Appends, so the active segment is only written,
	// rotated or evicted by the holder, which can fsync it without mu.
	appendMu sync.Mutex

	mu        sync.Mutex
	segs      []*segment // by seq; the last is the active one, where appends go
	recs      []rec      // by id: live records and dead ones not yet pruned
	dead      int        // dead entries in recs
	nextID    uint64
	nextSeq   uint64
	liveBytes int64 // data bytes of live records
	disk      int64 // bytes of segment and ack files, what MaxBytes bounds
	wake      chan struct{}
	closed    bool
	wbuf      []byte
	quar      quarantine
	budget    budgetState
	stats     counters

	stop    chan struct{}
	wg      sync.WaitGroup
	metrics *metrics
}

// rec is the index entry of a record; its bytes stay on disk. Its fields
// are ordered to pack into 40 bytes: a full default spool of 2 KiB batches
// indexes 128k records in 5 MiB.
type rec struct {
	id       uint64
	seg      *segment
	off      int64
	appended int64 // Unix nanoseconds
	n        uint32
	prio     bool
	dead     bool
}

// counters are the events since Open.
type counters struct {
	appended, acked, corrupt, quarantined, torn uint64
	dropped                                     map[string]uint64
}

// Open opens the spool in opts.Dir, creating it if needed, and recovers
// what an earlier process left: it verifies every record's checksums,
// truncates a torn tail of the newest segment, skips damaged records (each
// counted in kanal_spool_corrupt_total and logged once per file with its
// offset) and keeps every record after them. It takes an exclusive flock on
// Dir/LOCK, so a second agent on the same directory gets ErrLocked.
func Open(opts Options) (*Spool, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	lock, err := lockDir(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("open spool %s: %w", o.Dir, err)
	}
	s := &Spool{
		opts:  o,
		log:   o.Logger.With("spool", o.Dir),
		lock:  lock,
		stop:  make(chan struct{}),
		stats: counters{dropped: make(map[string]uint64)},
	}
	if err := s.recover(); err != nil {
		s.closeFiles()
		lock.Close()
		return nil, fmt.Errorf("open spool %s: %w", o.Dir, err)
	}
	if err := s.quar.load(s.quarantineDir()); err != nil {
		s.closeFiles()
		lock.Close()
		return nil, fmt.Errorf("open spool %s: %w", o.Dir, err)
	}
	s.nextID = max(s.nextID, s.quar.maxID+1)
	s.metrics = newMetrics(s, o.Metrics)
	if o.Fsync == FsyncInterval {
		s.wg.Add(1)
		go s.syncLoop(time.Duration(o.FsyncInterval))
	}
	st := s.statsLocked()
	s.log.Info("spool opened", "records", st.Records, "bytes", st.Bytes, "disk_bytes", st.DiskBytes,
		"segments", st.Segments, "next_id", s.nextID, "fsync", o.Fsync)
	return s, nil
}

// Append stores data as the next record and returns it with its ID. Under
// FsyncBatch (the default) it returns after the fsync: the batch survives a
// power loss. The record is visible to Next as soon as it is written, before
// the fsync, so a publisher waiting in Next starts sending at once.
//
// When the record would take the spool over Options.MaxBytes, Append first
// makes room: it drops the oldest non-priority batches (reason "budget"),
// then, if only priority batches are left, the oldest of those (reason
// "budget_priority"). Space comes back a segment at a time, so one drop
// removes the records of the oldest segment holding droppable ones; the
// priority records of that segment move to the active one. A record that
// could not fit even in an empty spool is refused with ErrTooLarge.
//
// IDs never repeat while any file of the spool mentions them. After a power
// loss under FsyncInterval or FsyncNone, the id of a batch lost with the
// crash may be given again; nothing refers to it then.
//
// When the fsync fails, Append returns the Record with the error: the batch
// is queued and will be sent, but may not survive a power loss. Appending it
// again would send it twice.
//
// Append is meant for one goroutine (the batcher); concurrent calls are
// safe and take turns.
func (s *Spool) Append(data []byte, priority bool) (Record, error) {
	size := recHeaderSize + int64(len(data))
	if len(data) > maxRecordData || size+segHeaderSize > int64(s.opts.MaxBytes) {
		return Record{}, fmt.Errorf("append %d bytes: %w (max_bytes %s)", len(data), ErrTooLarge, s.opts.MaxBytes)
	}
	s.appendMu.Lock()
	defer s.appendMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return Record{}, ErrClosed
	}
	if s.nextID > maxRecordID {
		s.mu.Unlock()
		return Record{}, fmt.Errorf("append: ids exhausted (%d)", s.nextID)
	}
	if err := s.makeRoom(size); err != nil {
		s.mu.Unlock()
		return Record{}, fmt.Errorf("append: %w", err)
	}
	r := rec{id: s.nextID, n: uint32(len(data)), appended: time.Now().UnixNano(), prio: priority}
	if err := s.write(&r, data); err != nil {
		s.mu.Unlock()
		return Record{}, fmt.Errorf("append: %w", err)
	}
	s.nextID++
	s.recs = append(s.recs, r)
	r.seg.live++
	s.liveBytes += int64(r.n)
	s.stats.appended++
	if s.wake != nil {
		close(s.wake)
		s.wake = nil
	}
	seg, gen := r.seg, r.seg.written
	s.mu.Unlock()

	out := Record{ID: r.id, Priority: priority, Appended: time.Unix(0, r.appended), Data: data}
	if s.opts.Fsync == FsyncBatch || (s.opts.Fsync == FsyncInterval && priority) {
		if err := s.syncData(seg); err != nil {
			return out, fmt.Errorf("append %d: %w", r.id, err)
		}
		s.mu.Lock()
		seg.synced = max(seg.synced, gen)
		s.mu.Unlock()
	}
	return out, nil
}

// write frames r and data into the active segment, starting a new one when
// the active one is full, and sets r.seg and r.off. Called with mu held.
func (s *Spool) write(r *rec, data []byte) error {
	size := recHeaderSize + int64(len(data))
	seg := s.active()
	if seg == nil || seg.broken || (seg.size > segHeaderSize && seg.size+size > int64(s.opts.SegmentBytes)) {
		var err error
		if seg, err = s.rotate(); err != nil {
			return err
		}
	}
	s.wbuf = appendRecord(s.wbuf[:0], r.id, r.appended, r.prio, data)
	if _, err := seg.f.WriteAt(s.wbuf, seg.size); err != nil {
		if terr := seg.f.Truncate(seg.size); terr != nil {
			seg.broken = true // the next write starts a new segment
		}
		return fmt.Errorf("write %s: %w", seg.path, err)
	}
	if cap(s.wbuf) > 1<<20 {
		s.wbuf = nil // do not hold a large batch's buffer
	}
	r.seg, r.off = seg, seg.size
	seg.size += size
	seg.written++
	s.disk += size
	return nil
}

// rotate seals the active segment and starts a new one, which becomes
// active. A sealed segment with nothing live left is deleted. Called with
// mu held.
func (s *Spool) rotate() (*segment, error) {
	old := s.active()
	if old != nil && s.opts.Fsync != FsyncNone && old.synced < old.written {
		if err := s.syncData(old); err != nil {
			return nil, err
		}
		old.synced = old.written
	}
	seg, err := createSegment(s.opts.Dir, segHeader{seq: s.nextSeq, first: s.nextID}, s.opts.Fsync != FsyncNone)
	if seg == nil {
		return nil, err
	}
	if err != nil {
		s.log.Warn("spool directory not synced", "err", err)
	}
	s.nextSeq++
	s.segs = append(s.segs, seg)
	s.disk += seg.size
	if old != nil && old.live == 0 {
		s.deleteSegment(old)
	}
	return seg, nil
}

// Next returns the first queued record whose ID is greater than after,
// waiting for an Append when there is none, until ctx ends (ctx.Err()) or
// the spool closes (ErrClosed). Records acked, dropped or quarantined in the
// meantime are skipped. The publisher passes the last ID it sent, and 0
// after a reconnect to resend everything unacked.
//
// A record whose bytes fail their checksum on the way back is counted in
// kanal_spool_corrupt_total, logged and skipped.
func (s *Spool) Next(ctx context.Context, after uint64) (Record, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return Record{}, ErrClosed
		}
		if i := s.firstLive(after); i >= 0 {
			r := s.recs[i]
			data, err := r.seg.readRecord(r.off, r.n, r.id)
			if errors.Is(err, errCorrupt) {
				s.corruptRecord(i, err)
				s.mu.Unlock()
				continue
			}
			s.mu.Unlock()
			if err != nil {
				return Record{}, fmt.Errorf("next after %d: %w", after, err)
			}
			return Record{ID: r.id, Priority: r.prio, Appended: time.Unix(0, r.appended), Data: data}, nil
		}
		if s.wake == nil {
			s.wake = make(chan struct{})
		}
		wake := s.wake
		s.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return Record{}, ctx.Err()
		}
	}
}

// Ack removes a record after the broker's successful PUBACK. Acks may come
// in any order. The ack is written to the segment's ack file at once (it
// survives kill -9) and reaches the disk with the kernel's writeback or the
// interval fsync, so a power loss can bring back a batch acked in the last
// seconds: downstream deduplicates by (vehicle, boot, sequence). A segment
// whose records are all gone is deleted, except the active one, which the
// next segment replaces.
//
// Acking a record that is no longer queued (acked before, or dropped while
// in flight) returns nil; an ID Append never gave returns ErrNotFound. A
// failed write of the ack file is returned, and the record is removed from
// the queue anyway: at worst it is sent again after a restart.
func (s *Spool) Ack(id uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	i := s.find(id)
	if i < 0 {
		if id == 0 || id >= s.nextID {
			return fmt.Errorf("ack %d: %w", id, ErrNotFound)
		}
		return nil
	}
	s.stats.acked++
	if err := s.remove(i, ackAcked); err != nil {
		return fmt.Errorf("ack %d: %w", id, err)
	}
	return nil
}

// remove takes the live record recs[i] out of the queue, writing reason to
// its segment's ack file, and deletes the segment when nothing in it is
// live any more. Called with mu held.
func (s *Spool) remove(i int, reason byte) error {
	r := &s.recs[i]
	seg := r.seg
	err := seg.writeAck(r.id, reason)
	if err == nil {
		s.disk += ackEntrySize
	}
	s.kill(i)
	if seg.live == 0 && seg != s.active() {
		s.deleteSegment(seg)
	}
	s.prune()
	return err
}

// kill marks recs[i] dead in memory. Called with mu held.
func (s *Spool) kill(i int) {
	r := &s.recs[i]
	r.dead = true
	r.seg.live--
	s.dead++
	s.liveBytes -= int64(r.n)
}

// corruptRecord removes recs[i], whose bytes failed their checksum when
// read back. Called with mu held.
func (s *Spool) corruptRecord(i int, err error) {
	r := s.recs[i]
	s.stats.corrupt++
	s.log.Error("spool record damaged on disk, skipped", "id", r.id, "file", r.seg.path, "offset", r.off, "err", err)
	if werr := s.remove(i, ackCorrupt); werr != nil {
		s.log.Warn("spool ack not written", "id", r.id, "err", werr)
	}
}

// deleteSegment removes a segment whose records are all dead: its data
// file first, so a crash in between leaves an ack file without data, which
// recovery removes, never data without its acks. Called with mu held.
func (s *Spool) deleteSegment(seg *segment) {
	for i, g := range s.segs {
		if g == seg {
			s.segs = append(s.segs[:i], s.segs[i+1:]...)
			break
		}
	}
	s.disk -= seg.size + seg.ackSize
	err := seg.close()
	if rerr := os.Remove(seg.path); rerr != nil {
		err = errors.Join(err, rerr)
	}
	if rerr := os.Remove(seg.ackPath()); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	if err != nil {
		s.log.Warn("spool segment not deleted", "file", seg.path, "err", err)
	}
	s.budget.checkUnder(s)
}

// active is the segment appends go to, or nil when there is none yet.
func (s *Spool) active() *segment {
	if len(s.segs) == 0 {
		return nil
	}
	return s.segs[len(s.segs)-1]
}

// find returns the index of the live record id in recs, or -1.
func (s *Spool) find(id uint64) int {
	i := sort.Search(len(s.recs), func(i int) bool { return s.recs[i].id >= id })
	if i < len(s.recs) && s.recs[i].id == id && !s.recs[i].dead {
		return i
	}
	return -1
}

// firstLive returns the index of the first live record with an id over
// after, or -1.
func (s *Spool) firstLive(after uint64) int {
	for i := sort.Search(len(s.recs), func(i int) bool { return s.recs[i].id > after }); i < len(s.recs); i++ {
		if !s.recs[i].dead {
			return i
		}
	}
	return -1
}

// prune drops dead entries from recs once they are the majority, so the
// index costs O(1) amortized per removal.
func (s *Spool) prune() {
	if s.dead < 64 || s.dead*2 < len(s.recs) {
		return
	}
	live := s.recs[:0]
	for _, r := range s.recs {
		if !r.dead {
			live = append(live, r)
		}
	}
	clear(s.recs[len(live):]) // release the segments they point to
	s.recs, s.dead = live, 0
}

// Stats is a snapshot of a Spool.
type Stats struct {
	Records   int   // batches queued (not acked, dropped or quarantined)
	Bytes     int64 // their data bytes
	DiskBytes int64 // segment and ack files: what Options.MaxBytes bounds
	Segments  int
	// Oldest is when the oldest queued batch was appended, OldestAge how
	// long ago; both zero when the queue is empty.
	Oldest      time.Time
	OldestAge   time.Duration
	NextID      uint64
	Appended    uint64            // since Open
	Acked       uint64            // since Open
	Dropped     map[string]uint64 // since Open, by reason: DropBudget, DropBudgetPriority
	Corrupt     uint64            // damaged records or regions found, at Open and when read back
	TornTails   uint64            // torn tails truncated at Open (the record a crash cut short)
	Quarantined uint64            // since Open
}

// Stats returns the spool's state and counters.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statsLocked()
}

func (s *Spool) statsLocked() Stats {
	st := Stats{
		Records:     len(s.recs) - s.dead,
		Bytes:       s.liveBytes,
		DiskBytes:   s.disk,
		Segments:    len(s.segs),
		NextID:      s.nextID,
		Appended:    s.stats.appended,
		Acked:       s.stats.acked,
		Dropped:     map[string]uint64{DropBudget: 0, DropBudgetPriority: 0},
		Corrupt:     s.stats.corrupt,
		TornTails:   s.stats.torn,
		Quarantined: s.stats.quarantined,
	}
	for k, v := range s.stats.dropped {
		st.Dropped[k] = v
	}
	if i := s.firstLive(0); i >= 0 {
		st.Oldest = time.Unix(0, s.recs[i].appended)
		st.OldestAge = max(time.Since(st.Oldest), 0)
	}
	return st
}

// Close fsyncs and closes every file, stops the interval fsync, wakes the
// callers waiting in Next with ErrClosed, unregisters the metrics and
// releases the lock. It waits for an Append in progress. A second Close
// returns nil.
func (s *Spool) Close() error {
	s.appendMu.Lock()
	defer s.appendMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	if s.wake != nil {
		close(s.wake)
		s.wake = nil
	}
	s.mu.Unlock()
	close(s.stop)
	s.wg.Wait()

	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, g := range s.segs {
		if g.synced < g.written {
			errs = append(errs, g.f.Sync())
		}
		if g.ack != nil && g.ackSynced < g.ackWritten {
			errs = append(errs, g.ack.Sync())
		}
	}
	errs = append(errs, s.closeFiles())
	s.metrics.unregister()
	errs = append(errs, s.lock.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close spool %s: %w", s.opts.Dir, err)
	}
	return nil
}

// closeFiles closes every segment's files.
func (s *Spool) closeFiles() error {
	var errs []error
	for _, g := range s.segs {
		errs = append(errs, g.close())
	}
	return errors.Join(errs...)
}
