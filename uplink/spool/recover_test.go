package spool

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// filled returns a closed spool directory holding n records of about size
// bytes in one segment, the records and the segment's path.
func filled(t *testing.T, n, size int) (string, []Record, string) {
	t.Helper()
	dir := t.TempDir()
	s := open(t, dir, Options{Fsync: FsyncNone})
	recs := appendN(t, s, n, size, func(i int) bool { return i%2 == 1 })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	segs := segFiles(t, dir)
	if len(segs) != 1 {
		t.Fatalf("%d segments, want 1", len(segs))
	}
	return dir, recs, segs[0]
}

// withSegment returns a new spool directory whose only segment (named as
// name) holds b.
func withSegment(t *testing.T, name string, b []byte) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, filepath.Base(name)), b, 0o640); err != nil {
		t.Fatal(err)
	}
	return dir
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A crash can cut the last record anywhere: at every byte offset of it, only
// that record is lost, the tail is truncated and counted, and the spool
// appends after it and reopens clean.
func TestTornTailEveryOffset(t *testing.T) {
	_, recs, seg := filled(t, 5, 120)
	b := readFile(t, seg)
	last := int64(len(b)) - recHeaderSize - int64(len(recs[4].Data))
	for cut := last; cut < int64(len(b)); cut++ {
		dir := withSegment(t, seg, b[:cut])
		s := open(t, dir, Options{Fsync: FsyncNone})
		sameRecords(t, drain(t, s), recs[:4])
		st := s.Stats()
		if wantTorn := uint64(min(cut-last, 1)); st.TornTails != wantTorn || st.Corrupt != 0 {
			t.Fatalf("cut at %d: torn %d corrupt %d, want torn %d and no damage", cut, st.TornTails, st.Corrupt, wantTorn)
		}
		r, err := s.Append([]byte("after the tear"), false)
		if err != nil {
			t.Fatalf("cut at %d: Append: %v", cut, err)
		}
		if r.ID <= recs[3].ID {
			t.Fatalf("cut at %d: new id %d not above %d", cut, r.ID, recs[3].ID)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = open(t, dir, Options{Fsync: FsyncNone})
		sameRecords(t, drain(t, s), append(recs[:4:4], r))
		if st := s.Stats(); st.TornTails != 0 || st.Corrupt != 0 {
			t.Fatalf("cut at %d: second open reports %+v", cut, st)
		}
		s.Close()
	}
}

// A byte flipped anywhere in a record in the middle costs that record only:
// the damage is counted and logged once, every record after it is kept.
func TestFlippedByte(t *testing.T) {
	_, recs, seg := filled(t, 9, 80)
	b := readFile(t, seg)
	start := int64(segHeaderSize)
	for _, r := range recs[:4] {
		start += recHeaderSize + int64(len(r.Data))
	}
	end := start + recHeaderSize + int64(len(recs[4].Data))
	for off := start; off < end; off++ {
		bad := append([]byte(nil), b...)
		bad[off] ^= 0x40
		dir := withSegment(t, seg, bad)
		logs := &logRecorder{}
		s := open(t, dir, Options{Fsync: FsyncNone, Logger: slog.New(logs)})
		sameRecords(t, drain(t, s), without(recs, recs[4].ID))
		if st := s.Stats(); st.Corrupt != 1 || st.TornTails != 0 {
			t.Fatalf("byte %d flipped: corrupt %d torn %d, want 1 and 0", off, st.Corrupt, st.TornTails)
		}
		if n := logs.count("spool segment damaged, records skipped"); n != 1 {
			t.Fatalf("byte %d flipped: damage logged %d times", off, n)
		}
		s.Close()
	}
}

// Damage in the segment header is reported; the records are kept and the
// header of the newest segment is rewritten, so the next open is clean.
func TestFlippedHeaderByte(t *testing.T) {
	_, recs, seg := filled(t, 4, 50)
	b := readFile(t, seg)
	for off := range segHeaderSize {
		bad := append([]byte(nil), b...)
		bad[off] ^= 0x01
		dir := withSegment(t, seg, bad)
		s := open(t, dir, Options{Fsync: FsyncNone})
		sameRecords(t, drain(t, s), recs)
		wantCorrupt := uint64(1)
		if off >= 36 {
			wantCorrupt = 0 // the reserved bytes after the checksum
		}
		if st := s.Stats(); st.Corrupt != wantCorrupt {
			t.Fatalf("header byte %d flipped: corrupt %d, want %d", off, st.Corrupt, wantCorrupt)
		}
		if st := s.Stats(); st.NextID != 5 {
			t.Fatalf("header byte %d flipped: next id %d, want 5", off, st.NextID)
		}
		s.Close()
		s = open(t, dir, Options{Fsync: FsyncNone})
		if st := s.Stats(); st.Corrupt != 0 || st.Records != 4 {
			t.Fatalf("header byte %d flipped, second open: %+v", off, st)
		}
		s.Close()
	}
}

// Zeros after the last record, what ext4 can show after a power loss, are a
// torn tail.
func TestZeroTail(t *testing.T) {
	_, recs, seg := filled(t, 3, 100)
	b := append(readFile(t, seg), make([]byte, 4096)...)
	dir := withSegment(t, seg, b)
	s := open(t, dir, Options{})
	sameRecords(t, drain(t, s), recs)
	if st := s.Stats(); st.TornTails != 1 || st.Corrupt != 0 {
		t.Errorf("zero tail: %+v", st)
	}
	if got := readFile(t, filepath.Join(dir, filepath.Base(seg))); len(got) != len(b)-4096 {
		t.Errorf("segment is %d bytes, want it truncated to its records (%d)", len(got), len(b)-4096)
	}
}

// Damage in an older segment is reported and left in place; the newer
// segments are untouched.
func TestDamageInOlderSegment(t *testing.T) {
	dir := t.TempDir()
	opts := Options{MaxBytes: 1 << 20, SegmentBytes: 1 << 10, Fsync: FsyncNone}
	s := open(t, dir, opts)
	recs := appendN(t, s, 12, 300, nil) // three per segment
	s.Close()
	segs := segFiles(t, dir)
	b := readFile(t, segs[0])
	b[segHeaderSize+recHeaderSize+5] ^= 0xff                  // data of the first record
	b = append(b, []byte("KSR\x01 and then nothing sane")...) // a tail no crash could tear
	if err := os.WriteFile(segs[0], b, 0o640); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, opts)
	sameRecords(t, drain(t, s), recs[1:])
	if st := s.Stats(); st.Corrupt != 2 || st.TornTails != 0 {
		t.Errorf("older segment damage: corrupt %d torn %d, want 2 and 0", st.Corrupt, st.TornTails)
	}
	if got := readFile(t, segs[0]); len(got) != len(b) {
		t.Errorf("older segment was rewritten: %d bytes, had %d", len(got), len(b))
	}
}

// An ack file whose segment is gone (a deletion a crash interrupted) and
// leftover temporary files are removed; the ids the ack file mentions are
// never given again.
func TestLeftovers(t *testing.T) {
	dir := t.TempDir()
	orphan := filepath.Join(dir, "00000000000000000099"+ackExt)
	if err := os.WriteFile(orphan, appendAck(nil, 500, ackAcked), 0o640); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "00000000000000000007"+segExt+tmpExt)
	if err := os.WriteFile(tmp, []byte("half"), 0o640); err != nil {
		t.Fatal(err)
	}
	s := open(t, dir, Options{})
	for _, p := range []string{orphan, tmp} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there: %v", p, err)
		}
	}
	r, err := s.Append([]byte("x"), false)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID <= 500 {
		t.Errorf("id %d given after an ack file mentioned 500", r.ID)
	}
	if segs := segFiles(t, dir); len(segs) != 1 || filepath.Base(segs[0]) != segName(100) {
		t.Errorf("segments %v, want %s: numbers are not reused either", segs, segName(100))
	}
}

// A torn ack entry is cut; a damaged one brings its record back (a
// duplicate) and is counted; the other acks hold.
func TestAckFileDamage(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{Fsync: FsyncNone})
	recs := appendN(t, s, 6, 40, nil)
	for _, id := range []uint64{1, 2, 3} {
		if err := s.Ack(id); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	ack := filepath.Join(dir, "00000000000000000001"+ackExt)
	b := readFile(t, ack)
	b[ackEntrySize+3] ^= 0x10                         // the entry of record 2
	b = append(b, appendAck(nil, 4, ackAcked)[:7]...) // a torn fourth entry
	if err := os.WriteFile(ack, b, 0o640); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, Options{Fsync: FsyncNone})
	sameRecords(t, drain(t, s), without(recs, 1, 3))
	if st := s.Stats(); st.Corrupt != 1 {
		t.Errorf("damaged ack entry: corrupt %d, want 1", st.Corrupt)
	}
	if fi, err := os.Stat(ack); err != nil || fi.Size() != 3*ackEntrySize {
		t.Errorf("ack file not cut to its whole entries: %v", err)
	}
	if err := s.Ack(5); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dir, Options{Fsync: FsyncNone})
	sameRecords(t, drain(t, s), without(recs, 1, 3, 5))
}

// A segment of a newer format version is refused, not dropped as damage.
func TestVersionRefused(t *testing.T) {
	_, _, seg := filled(t, 2, 10)
	b := readFile(t, seg)
	binary.LittleEndian.PutUint32(b[8:], 2)
	binary.LittleEndian.PutUint32(b[32:], crc32.Checksum(b[:32], castagnoli))
	dir := withSegment(t, seg, b)
	if _, err := Open(Options{Dir: dir, Logger: quiet}); !errors.Is(err, ErrVersion) {
		t.Fatalf("Open = %v, want ErrVersion", err)
	}
	if got := readFile(t, filepath.Join(dir, filepath.Base(seg))); string(got) != string(b) {
		t.Error("refused segment was modified")
	}
}

// A budget move that a crash interrupted leaves a record in two segments:
// it is queued once, and one ack removes both copies.
func TestDuplicateAfterInterruptedMove(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{Fsync: FsyncNone})
	recs := appendN(t, s, 3, 30, nil)
	s.Close()
	// The copy of record 2 the move wrote, in a newer segment.
	h := segHeader{seq: 2, first: 4}
	b := appendRecord(h.encode(), 2, recs[1].Appended.UnixNano(), recs[1].Priority, recs[1].Data)
	if err := os.WriteFile(filepath.Join(dir, segName(2)), b, 0o640); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, Options{Fsync: FsyncNone})
	sameRecords(t, drain(t, s), recs)
	if err := s.Ack(2); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dir, Options{Fsync: FsyncNone})
	sameRecords(t, drain(t, s), without(recs, 2))
}

// After a power loss that kept the acks of records whose own bytes were
// lost, the next ids are above those acks: a stale ack can never remove a
// batch appended later.
func TestStaleAckNeverRemovesNewBatch(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{Fsync: FsyncNone})
	recs := appendN(t, s, 8, 30, nil)
	for _, id := range []uint64{6, 7, 8} {
		if err := s.Ack(id); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	seg := segFiles(t, dir)[0]
	end := int64(segHeaderSize)
	for _, r := range recs[:5] {
		end += recHeaderSize + int64(len(r.Data))
	}
	if err := os.Truncate(seg, end); err != nil { // records 6..8 never reached the disk
		t.Fatal(err)
	}
	s = open(t, dir, Options{Fsync: FsyncNone})
	r, err := s.Append([]byte("new"), false)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != 9 {
		t.Fatalf("id %d after acks up to 8, want 9", r.ID)
	}
	s.Close()
	s = open(t, dir, Options{Fsync: FsyncNone})
	sameRecords(t, drain(t, s), append(recs[:5:5], r))
}

// A newest segment shorter than its header (made just before a crash) gets
// a header and takes the appends; it is not damage.
func TestShortNewestSegment(t *testing.T) {
	for _, n := range []int{0, 1, 39} {
		dir, recs, _ := filled(t, 2, 10)
		if err := os.WriteFile(filepath.Join(dir, segName(2)), make([]byte, n), 0o640); err != nil {
			t.Fatal(err)
		}
		s := open(t, dir, Options{})
		if st := s.Stats(); st.Corrupt != 0 || st.TornTails != 0 || st.NextID != 3 {
			t.Fatalf("%d-byte segment: %+v", n, st)
		}
		r, err := s.Append([]byte("x"), false)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		s = open(t, dir, Options{})
		sameRecords(t, drain(t, s), append(recs, r))
		if st := s.Stats(); st.Corrupt != 0 {
			t.Fatalf("%d-byte segment, second open: %+v", n, st)
		}
		s.Close()
	}
}
