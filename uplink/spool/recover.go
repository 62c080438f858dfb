package spool

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// recover rebuilds the index from the files in Dir, following the rules in
// doc.go: acks first, so that every id an ack file mentions counts as gone;
// then each segment, oldest first. Damage is counted and logged; only an
// unknown format version is an error. Called by Open before anything else
// can see s.
func (s *Spool) recover() error {
	dir := s.opts.Dir
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read dir: %w", err)
	}
	var segSeqs, ackSeqs []uint64
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() {
			continue
		}
		if strings.HasSuffix(name, tmpExt) {
			os.Remove(filepath.Join(dir, name)) // a quarantine or compaction that did not finish
			continue
		}
		if seq, ok := parseSeq(name, segExt); ok {
			segSeqs = append(segSeqs, seq)
		} else if seq, ok := parseSeq(name, ackExt); ok {
			ackSeqs = append(ackSeqs, seq)
		}
	}
	slices.Sort(segSeqs)
	for _, seq := range slices.Concat(segSeqs, ackSeqs) {
		s.nextSeq = max(s.nextSeq, seq+1)
	}
	s.nextSeq = max(s.nextSeq, 1)

	gone := make(map[uint64]bool)
	ackSizes := make(map[uint64]int64)
	var maxID uint64
	for _, seq := range ackSeqs {
		size, ids := s.recoverAcks(seq, slices.Contains(segSeqs, seq))
		for _, id := range ids {
			gone[id] = true
			maxID = max(maxID, id)
		}
		ackSizes[seq] = size
	}

	index := make(map[uint64]int) // id -> position in s.recs
	var buf []byte                // one segment at a time
	for k, seq := range segSeqs {
		newest := k == len(segSeqs)-1
		seg, res, err := s.recoverSegment(seq, newest, &buf)
		if err != nil {
			return err
		}
		if seg == nil {
			continue
		}
		s.nextID = max(s.nextID, res.header.first)
		seg.ackSize = ackSizes[seq]
		s.segs = append(s.segs, seg)
		for _, r := range res.records {
			maxID = max(maxID, r.id)
			if gone[r.id] {
				continue
			}
			e := rec{id: r.id, seg: seg, off: r.off, n: r.n, appended: r.appended, prio: r.prio}
			if j, dup := index[r.id]; dup {
				// A budget eviction copied it forward and stopped before
				// deleting the old segment: the newer copy is the one.
				s.recs[j].seg.live--
				s.recs[j] = e
			} else {
				index[r.id] = len(s.recs)
				s.recs = append(s.recs, e)
			}
			seg.live++
		}
	}
	s.nextID = max(s.nextID, maxID+1, 1)
	slices.SortFunc(s.recs, func(a, b rec) int {
		switch {
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
	for _, r := range s.recs {
		s.liveBytes += int64(r.n)
	}
	for _, g := range s.segs {
		s.disk += g.size + g.ackSize
	}
	if a := s.active(); a != nil && a.first == 0 {
		// The newest segment lost its header: write a new one, so that the
		// id floor is on disk again and the damage is reported only once.
		a.first = s.nextID
		if _, err := a.f.WriteAt(segHeader{seq: a.seq, first: a.first}.encode(), 0); err != nil {
			return fmt.Errorf("rewrite header of %s: %w", a.path, err)
		}
		if a.size < segHeaderSize {
			s.disk += segHeaderSize - a.size
			a.size = segHeaderSize
		}
		if err := s.syncIf(a.f); err != nil {
			return fmt.Errorf("sync %s: %w", a.path, err)
		}
	}
	for _, g := range slices.Clone(s.segs) {
		if g.live == 0 && g != s.active() {
			s.deleteSegment(g)
		}
	}
	return nil
}

// recoverAcks reads one ack file and returns its length in whole entries
// and the ids it removes. An ack file without its segment is left over from
// a deletion that a crash interrupted: its ids still count, then it goes.
func (s *Spool) recoverAcks(seq uint64, hasSegment bool) (int64, []uint64) {
	path := filepath.Join(s.opts.Dir, strings.TrimSuffix(segName(seq), segExt)+ackExt)
	b, err := os.ReadFile(path)
	if err != nil {
		s.log.Warn("spool ack file unreadable, its batches will be sent again", "file", path, "err", err)
		return 0, nil
	}
	ids, bad, end := scanAcks(b)
	if bad > 0 {
		s.stats.corrupt += uint64(bad)
		s.log.Warn("spool ack file damaged, some acked batches will be sent again", "file", path, "entries", bad)
	}
	if !hasSegment {
		os.Remove(path)
		return 0, ids
	}
	if end < int64(len(b)) {
		if err := os.Truncate(path, end); err != nil {
			s.log.Warn("spool ack file not truncated", "file", path, "err", err)
		}
	}
	return end, ids
}

// recoverSegment opens and scans one segment file, reports its damage and
// truncates its torn tail if it is the newest (the only one a crash can
// tear; the others are reported and left as they are). It returns a nil
// segment for a file to forget: a sealed segment too short to hold a
// header. A header that failed its checksum leaves seg.first at 0.
//
// The file is read into *buf, which is reused from segment to segment.
func (s *Spool) recoverSegment(seq uint64, newest bool, buf *[]byte) (*segment, scanResult, error) {
	path := filepath.Join(s.opts.Dir, segName(seq))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, scanResult{}, fmt.Errorf("open segment: %w", err)
	}
	b, err := readAll(f, buf)
	if err != nil {
		f.Close()
		return nil, scanResult{}, fmt.Errorf("read segment %s: %w", path, err)
	}
	res := scanSegment(b)
	switch {
	case errors.Is(res.headerErr, ErrVersion):
		f.Close()
		return nil, res, fmt.Errorf("segment %s: %w", path, res.headerErr)
	case errors.Is(res.headerErr, errShortHeader) && !newest:
		f.Close()
		os.Remove(path)
		return nil, res, nil
	case errors.Is(res.headerErr, errShortHeader):
		// Made just before a crash: no record can be in it.
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, res, fmt.Errorf("truncate %s: %w", path, err)
		}
		res.end = 0
	case res.headerErr == nil && res.header.seq != seq:
		res.headerErr = fmt.Errorf("%w: it says segment %d", errBadHeader, res.header.seq)
		fallthrough
	case res.headerErr != nil:
		res.header = segHeader{}
		s.stats.corrupt++
		s.log.Error("spool segment header damaged, reading its records anyway", "file", path, "err", res.headerErr)
	}
	seg := &segment{seq: seq, first: res.header.first, path: path, f: f, size: int64(len(b))}
	if len(res.damaged) > 0 {
		var n int64
		for _, d := range res.damaged {
			n += d.n
		}
		s.stats.corrupt += uint64(len(res.damaged))
		s.log.Error("spool segment damaged, records skipped", "file", path, "offset", res.damaged[0].off,
			"regions", len(res.damaged), "bytes", n, "records_kept", len(res.records))
	}
	if tail := int64(len(b)) - res.end; tail > 0 && res.end > 0 {
		if newest {
			if err := f.Truncate(res.end); err != nil {
				f.Close()
				return nil, res, fmt.Errorf("truncate torn tail of %s: %w", path, err)
			}
			if err := s.syncIf(f); err != nil {
				f.Close()
				return nil, res, fmt.Errorf("sync %s: %w", path, err)
			}
			seg.size = res.end
			s.stats.torn++
			s.log.Warn("spool torn tail truncated (a write cut short by a crash)", "file", path,
				"offset", res.end, "bytes", tail)
		} else {
			s.stats.corrupt++
			s.log.Error("spool segment has a damaged tail", "file", path, "offset", res.end, "bytes", tail)
		}
	}
	if res.end == 0 {
		seg.size = 0
	}
	return seg, res, nil
}

// readAll reads the whole of f into *buf, growing it when needed.
func readAll(f *os.File, buf *[]byte) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	n := fi.Size()
	if int64(cap(*buf)) < n {
		*buf = make([]byte, n)
	}
	b := (*buf)[:n]
	if _, err := f.ReadAt(b, 0); err != nil && !(err == io.EOF && n == 0) {
		return nil, err
	}
	return b, nil
}

// syncIf fsyncs a repair of recovery unless the policy is FsyncNone.
func (s *Spool) syncIf(f *os.File) error {
	if s.opts.Fsync == FsyncNone {
		return nil
	}
	return f.Sync()
}
