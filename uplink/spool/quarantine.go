package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Names in Dir/quarantine: <id>.batch holds the bytes exactly as appended,
// <id>.reason says why and when, in "key: value" lines.
const (
	quarantineSub = "quarantine"
	batchExt      = ".batch"
	reasonExt     = ".reason"
)

// quarantine is the state of Dir/quarantine, guarded by Spool.mu.
type quarantine struct {
	dir   string
	files []quarantined // by id, oldest first
	bytes int64
	maxID uint64 // highest id ever quarantined here: ids are not given again
}

// quarantined is one quarantined batch, its two files together.
type quarantined struct {
	id    uint64
	bytes int64
}

func (s *Spool) quarantineDir() string { return filepath.Join(s.opts.Dir, quarantineSub) }

// Quarantine moves a batch that can never succeed (the broker answered
// "payload format invalid") out of the queue into
// Dir/quarantine/<id>.batch, with the reason beside it in <id>.reason, for
// a developer to look at. It is counted in kanal_spool_quarantined_total
// and logged. The files are fsynced before the record leaves the queue, so
// a crash loses neither. The folder keeps at most
// Options.QuarantineBytes: beyond that, the oldest quarantined batches are
// deleted (logged).
//
// An id that is not queued returns ErrNotFound.
func (s *Spool) Quarantine(id uint64, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	i := s.find(id)
	if i < 0 {
		return fmt.Errorf("quarantine %d: %w", id, ErrNotFound)
	}
	r := s.recs[i]
	data, err := r.seg.readRecord(r.off, r.n, r.id)
	if errors.Is(err, errCorrupt) {
		s.corruptRecord(i, err)
	}
	if err != nil {
		return fmt.Errorf("quarantine %d: %w", id, err)
	}
	path, err := s.quar.add(r, data, reason, s.opts.Fsync != FsyncNone)
	if err != nil {
		return fmt.Errorf("quarantine %d: %w", id, err)
	}
	s.stats.quarantined++
	s.log.Warn("batch quarantined", "id", id, "reason", reason, "bytes", len(data), "file", path)
	if n, bytes := s.quar.trim(int64(s.opts.QuarantineBytes)); n > 0 {
		s.log.Warn("quarantine full, oldest batches deleted", "deleted", n, "bytes", bytes,
			"max_bytes", int64(s.opts.QuarantineBytes))
	}
	if err := s.remove(i, ackQuarantined); err != nil {
		return fmt.Errorf("quarantine %d: %w", id, err)
	}
	return nil
}

// load reads what an earlier process quarantined.
func (q *quarantine) load(dir string) error {
	q.dir = dir
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read quarantine: %w", err)
	}
	sizes := make(map[uint64]int64)
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, tmpExt) {
			os.Remove(filepath.Join(dir, name))
			continue
		}
		id, ok := parseSeq(name, batchExt)
		if !ok {
			id, ok = parseSeq(name, reasonExt)
		}
		info, err := e.Info()
		if !ok || err != nil || !info.Mode().IsRegular() {
			continue
		}
		sizes[id] += info.Size()
	}
	for id, n := range sizes {
		q.files = append(q.files, quarantined{id, n})
		q.bytes += n
		q.maxID = max(q.maxID, id)
	}
	sortQuarantined(q.files)
	return nil
}

func sortQuarantined(fs []quarantined) {
	for i := 1; i < len(fs); i++ { // few files, mostly sorted
		for j := i; j > 0 && fs[j].id < fs[j-1].id; j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
}

// add writes a batch and its reason and returns the batch's path. Each file
// is written under a temporary name and renamed, so a crash leaves either
// the whole file or a .tmp that the next Open removes.
func (q *quarantine) add(r rec, data []byte, reason string, sync bool) (string, error) {
	if err := os.MkdirAll(q.dir, 0o750); err != nil {
		return "", err
	}
	base := filepath.Join(q.dir, strconv.FormatUint(r.id, 10))
	why := fmt.Sprintf("id: %d\nreason: %s\nappended: %s\nquarantined: %s\npriority: %t\nbytes: %d\n",
		r.id, strings.Join(strings.Fields(reason), " "), time.Unix(0, r.appended).UTC().Format(time.RFC3339Nano),
		time.Now().UTC().Format(time.RFC3339Nano), r.prio, len(data))
	for _, f := range []struct {
		path string
		b    []byte
	}{{base + batchExt, data}, {base + reasonExt, []byte(why)}} {
		if err := writeFileAtomic(f.path, f.b, sync); err != nil {
			return "", err
		}
	}
	if sync {
		if err := syncDir(q.dir); err != nil {
			return "", err
		}
	}
	q.files = append(q.files, quarantined{r.id, int64(len(data) + len(why))})
	sortQuarantined(q.files)
	q.bytes += int64(len(data) + len(why))
	q.maxID = max(q.maxID, r.id)
	return base + batchExt, nil
}

// trim deletes the oldest quarantined batches until the folder holds at most
// limit bytes, always keeping the newest. It returns what it deleted.
func (q *quarantine) trim(limit int64) (n int, bytes int64) {
	for q.bytes > limit && len(q.files) > 1 {
		f := q.files[0]
		base := filepath.Join(q.dir, strconv.FormatUint(f.id, 10))
		os.Remove(base + batchExt)
		os.Remove(base + reasonExt)
		q.files = q.files[1:]
		q.bytes -= f.bytes
		n++
		bytes += f.bytes
	}
	return n, bytes
}

// writeFileAtomic writes b to path through a temporary file and a rename.
func writeFileAtomic(path string, b []byte, sync bool) error {
	tmp := path + tmpExt
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
