package spool

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// syncData fsyncs a segment's data file and times it in
// kanal_spool_fsync_seconds. The caller records the generation it covered.
func (s *Spool) syncData(seg *segment) error {
	start := time.Now()
	err := seg.f.Sync()
	s.metrics.observeFsync(time.Since(start))
	if err != nil {
		return fmt.Errorf("fsync %s: %w", seg.path, err)
	}
	return nil
}

// syncLoop is the interval fsync: every interval it fsyncs the active
// segment and the ack files written since the last round. It runs until
// Close and takes mu only to collect the work, so Append and Next never
// wait for its fsyncs.
func (s *Spool) syncLoop(interval time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		err := s.syncRound()
		switch {
		case err != nil && !failing:
			s.log.Error("spool fsync failing", "err", err)
		case err == nil && failing:
			s.log.Info("spool fsync working again")
		}
		failing = err != nil
	}
}

// syncRound is one round of syncLoop.
func (s *Spool) syncRound() error {
	type job struct {
		seg *segment
		ack *os.File // nil: the data file
		gen uint64
	}
	s.mu.Lock()
	var jobs []job
	if a := s.active(); a != nil && a.synced < a.written {
		jobs = append(jobs, job{a, nil, a.written})
	}
	for _, g := range s.segs {
		if g.ack != nil && g.ackSynced < g.ackWritten {
			jobs = append(jobs, job{g, g.ack, g.ackWritten})
		}
	}
	s.mu.Unlock()

	var errs []error
	for _, j := range jobs {
		var err error
		if j.ack != nil {
			err = j.ack.Sync()
		} else {
			err = s.syncData(j.seg)
		}
		if errors.Is(err, os.ErrClosed) {
			continue // deleted meanwhile: nothing left to keep
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.mu.Lock()
		if j.ack != nil {
			j.seg.ackSynced = max(j.seg.ackSynced, j.gen)
		} else {
			j.seg.synced = max(j.seg.synced, j.gen)
		}
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}
