package spool

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// addSegmentSeeds seeds f with the segments in testdata, whole, cut and
// with a byte flipped, and with the ack file beside each when the target
// takes two inputs.
func addSegmentSeeds(f *testing.F, withAcks bool) {
	segs, _ := filepath.Glob(filepath.Join("testdata", "*"+segExt))
	if len(segs) == 0 {
		f.Fatal("no segments in testdata")
	}
	acks := readFile(f, filepath.Join("testdata", "v1.ack"))
	add := func(b []byte) {
		if withAcks {
			f.Add(b, acks)
		} else {
			f.Add(b)
		}
	}
	for _, p := range segs {
		b := readFile(f, p)
		add(b)
		add(b[:len(b)/2])
		add(b[:segHeaderSize+recHeaderSize+3])
		flipped := slices.Clone(b)
		flipped[segHeaderSize+recHeaderSize+1] ^= 0xff
		add(flipped)
		add(slices.Concat(b[:segHeaderSize], []byte("KSR\x01"), b[segHeaderSize:]))
	}
	add(nil)
}

// FuzzScanSegment feeds any bytes to the segment reader: it never panics,
// every record it returns is whole and checks out, damage and records do
// not overlap, and scanning again what recovery keeps (the bytes up to end)
// finds the same.
func FuzzScanSegment(f *testing.F) {
	addSegmentSeeds(f, false)
	f.Fuzz(func(t *testing.T, b []byte) {
		r := scanSegment(b)
		if r.end > int64(len(b)) || r.end < min(int64(len(b)), segHeaderSize) {
			t.Fatalf("end %d of %d bytes", r.end, len(b))
		}
		type span struct{ off, end int64 }
		var spans []span
		for _, rec := range r.records {
			if _, _, err := decodeRecord(b[rec.off:rec.off+rec.size()], rec.id); err != nil {
				t.Fatalf("record %d at %d does not decode: %v", rec.id, rec.off, err)
			}
			spans = append(spans, span{rec.off, rec.off + rec.size()})
		}
		for _, d := range r.damaged {
			spans = append(spans, span{d.off, d.off + d.n})
		}
		slices.SortFunc(spans, func(a, b span) int { return int(a.off - b.off) })
		last := int64(segHeaderSize)
		for _, s := range spans {
			if s.off < last || s.end > r.end || s.end <= s.off {
				t.Fatalf("span %v overlaps, or is outside [40, %d)", s, r.end)
			}
			last = s.end
		}
		again := scanSegment(b[:r.end])
		if again.end != r.end || !slices.Equal(again.records, r.records) || !slices.Equal(again.damaged, r.damaged) {
			t.Fatalf("rescan of the kept bytes differs: %+v vs %+v", again, r)
		}
	})
}

// FuzzOpen puts any bytes where a segment and its ack file belong and opens
// the spool: it opens (or refuses a newer format), never panics or hangs,
// queues what the segment reader finds, appends after it, and reopens to
// the same queue plus the new record.
func FuzzOpen(f *testing.F) {
	addSegmentSeeds(f, true)
	f.Fuzz(func(t *testing.T, seg, ack []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segName(1)), seg, 0o640); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "00000000000000000001"+ackExt), ack, 0o640); err != nil {
			t.Fatal(err)
		}
		opts := Options{Dir: dir, MaxBytes: 1 << 20, SegmentBytes: 1 << 20, Fsync: FsyncNone, Logger: quiet}
		s, err := Open(opts)
		if errors.Is(err, ErrVersion) {
			return
		}
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer s.Close()
		before := drain(t, s)
		c1 := s.Stats().Corrupt
		r, err := s.Append([]byte("after fuzz"), true)
		if err != nil && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("Append: %v", err)
		}
		for _, q := range before {
			if q.ID >= r.ID && err == nil {
				t.Fatalf("new id %d not above queued id %d", r.ID, q.ID)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, err = Open(opts)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		after := drain(t, s)
		if n := len(after); n == 0 || after[n-1].ID != r.ID || !bytes.Equal(after[n-1].Data, r.Data) {
			t.Fatalf("reopen lost the new record: %v", ids(after))
		}
		sameRecords(t, after[:len(after)-1], before)
		if st := s.Stats(); st.TornTails != 0 || st.Corrupt > c1 {
			t.Fatalf("reopen found new damage: %+v (first open: corrupt %d)", st, c1)
		}
	})
}
