package spool

import "fmt"

// Drop reasons: the values of the reason label of kanal_spool_dropped_total
// and the keys of Stats.Dropped.
const (
	// DropBudget counts non-priority batches dropped to stay under
	// Options.MaxBytes.
	DropBudget = "budget"
	// DropBudgetPriority counts priority batches dropped because nothing
	// else was left to drop.
	DropBudgetPriority = "budget_priority"
)

// budgetState remembers whether the spool is dropping, so that going over
// the budget and coming back under it are each logged once, however many
// batches are dropped in between.
type budgetState struct {
	over     bool // dropping since the last time the spool was under half its budget
	priority bool // priority batches dropped in this episode
}

// checkUnder ends an over-budget episode once the disk use falls to half the
// budget: the hysteresis keeps a spool hovering at its limit from logging at
// every segment.
func (b *budgetState) checkUnder(s *Spool) {
	if b.over && s.disk <= int64(s.opts.MaxBytes)/2 {
		s.log.Info("spool under budget again", "disk_bytes", s.disk, "max_bytes", int64(s.opts.MaxBytes),
			"dropped_budget", s.stats.dropped[DropBudget], "dropped_priority", s.stats.dropped[DropBudgetPriority])
		*b = budgetState{}
	}
}

// makeRoom drops batches until a record of size bytes fits in the budget.
// Disk space comes back only when a whole segment goes, so each step evicts
// one segment: the one holding the oldest non-priority record, whose
// priority records move to the active segment; when only priority records
// are left, the one holding the oldest record, all of it. Each step removes
// at least one live record and adds none, so the loop ends; and Append has
// checked that size fits in an empty spool. Called with mu held.
func (s *Spool) makeRoom(size int64) error {
	for s.disk+s.need(size) > int64(s.opts.MaxBytes) {
		if !s.budget.over {
			s.budget.over = true
			s.log.Warn("spool over budget, dropping the oldest batches", "disk_bytes", s.disk,
				"max_bytes", int64(s.opts.MaxBytes), "records", len(s.recs)-s.dead)
		}
		if i := s.oldest(func(r *rec) bool { return !r.prio }); i >= 0 {
			if err := s.evict(s.recs[i].seg, true); err != nil {
				return err
			}
			continue
		}
		if i := s.oldest(func(*rec) bool { return true }); i >= 0 {
			if !s.budget.priority {
				s.budget.priority = true
				s.log.Warn("spool over budget with only priority batches left, dropping the oldest of them",
					"disk_bytes", s.disk, "max_bytes", int64(s.opts.MaxBytes), "records", len(s.recs)-s.dead)
			}
			if err := s.evict(s.recs[i].seg, false); err != nil {
				return err
			}
			continue
		}
		// Nothing live is left: the space is the active segment's dead records.
		if a := s.active(); a != nil && a.size > segHeaderSize {
			if _, err := s.rotate(); err != nil {
				return err
			}
			continue
		}
		return fmt.Errorf("spool holds %d bytes and nothing to drop (max_bytes %d)", s.disk, int64(s.opts.MaxBytes))
	}
	return nil
}

// need is the disk a record of size bytes takes, with the header of a new
// segment if it does not fit in the active one.
func (s *Spool) need(size int64) int64 {
	a := s.active()
	if a == nil || a.broken || (a.size > segHeaderSize && a.size+size > int64(s.opts.SegmentBytes)) {
		return size + segHeaderSize
	}
	return size
}

// oldest returns the index of the live record with the lowest id that
// matches, or -1.
func (s *Spool) oldest(match func(*rec) bool) int {
	for i := range s.recs {
		if r := &s.recs[i]; !r.dead && match(r) {
			return i
		}
	}
	return -1
}

// evict deletes seg for the budget. Its records are dropped and counted;
// with keepPriority its priority records are first copied to the active
// segment (a new one if seg was active), fsynced there whatever the fsync
// policy, since they are older than anything the policy covers. Called with
// mu held.
func (s *Spool) evict(seg *segment, keepPriority bool) error {
	if seg == s.active() {
		if _, err := s.rotate(); err != nil {
			return err
		}
	}
	reason := DropBudget
	if !keepPriority {
		reason = DropBudgetPriority
	}
	var carry []int
	for i := range s.recs {
		r := &s.recs[i]
		if r.dead || r.seg != seg {
			continue
		}
		if keepPriority && r.prio {
			carry = append(carry, i)
			continue
		}
		s.kill(i)
		s.stats.dropped[reason]++
	}
	var touched []*segment
	for _, i := range carry {
		dst, err := s.carry(i)
		if err != nil {
			return fmt.Errorf("move priority batch %d out of %s: %w", s.recs[i].id, seg.path, err)
		}
		if dst != nil && (len(touched) == 0 || touched[len(touched)-1] != dst) {
			touched = append(touched, dst)
		}
	}
	for _, g := range touched {
		if err := s.syncData(g); err != nil {
			return fmt.Errorf("move priority batches out of %s: %w", seg.path, err)
		}
		g.synced = g.written
	}
	s.deleteSegment(seg)
	s.prune()
	return nil
}

// carry copies the live record recs[i] to the active segment and points the
// index at the copy; it returns the segment written. A record that no longer
// reads back is counted as corrupt instead. Called with mu held.
func (s *Spool) carry(i int) (*segment, error) {
	r := s.recs[i]
	data, err := r.seg.readRecord(r.off, r.n, r.id)
	if err != nil {
		s.stats.corrupt++
		s.log.Error("spool record damaged on disk, skipped", "id", r.id, "file", r.seg.path, "offset", r.off, "err", err)
		s.kill(i)
		return nil, nil
	}
	moved := r
	if err := s.write(&moved, data); err != nil {
		return nil, err
	}
	r.seg.live--
	moved.seg.live++
	s.recs[i] = moved
	return moved.seg, nil
}
