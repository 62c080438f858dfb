package spool

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// goldenRecords are the records of testdata/v1.seg.
var goldenRecords = []struct {
	id       uint64
	appended int64
	prio     bool
	data     []byte
}{
	{1, 1732221946679678000, false, []byte("hello, spool")},
	{2, 1732221947000000001, true, payload(7, 300)},
	{3, 1732221948123456789, false, nil},
	{9, 1732221949000000000, true, []byte{0x28, 0xb5, 0x2f, 0xfd}}, // a moved record: ids may jump
}

func goldenSegment() []byte {
	b := segHeader{seq: 1, first: 1}.encode()
	for _, r := range goldenRecords {
		b = appendRecord(b, r.id, r.appended, r.prio, r.data)
	}
	return b
}

func goldenAcks() []byte {
	return appendAck(appendAck(appendAck(nil, 1, ackAcked), 3, ackQuarantined), 2, ackCorrupt)
}

// The files in testdata are format version 1 as this package writes it. A
// change of the format fails here: bump segVersion, keep a reader for
// version 1 (vehicles in the field have such spools), and rewrite them with
// GOLDEN=1.
func TestGoldenFormat(t *testing.T) {
	for _, g := range []struct {
		file string
		b    []byte
	}{{"v1.seg", goldenSegment()}, {"v1.ack", goldenAcks()}} {
		path := filepath.Join("testdata", g.file)
		if os.Getenv("GOLDEN") != "" {
			if err := os.WriteFile(path, g.b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if want := readFile(t, path); !bytes.Equal(g.b, want) {
			t.Errorf("%s: this build writes %x\nwant %x", path, g.b, want)
		}
	}
	r := scanSegment(readFile(t, filepath.Join("testdata", "v1.seg")))
	if r.headerErr != nil || r.header != (segHeader{1, 1}) || len(r.damaged) != 0 {
		t.Fatalf("scan of v1.seg: %+v", r)
	}
	if len(r.records) != len(goldenRecords) {
		t.Fatalf("scan of v1.seg found %d records, want %d", len(r.records), len(goldenRecords))
	}
	b := readFile(t, filepath.Join("testdata", "v1.seg"))
	for i, got := range r.records {
		w := goldenRecords[i]
		data, _, err := decodeRecord(b[got.off:got.off+got.size()], w.id)
		if err != nil || got.id != w.id || got.appended != w.appended || got.prio != w.prio || !bytes.Equal(data, w.data) {
			t.Errorf("record %d: %+v %v", i, got, err)
		}
	}
	ids, bad, end := scanAcks(readFile(t, filepath.Join("testdata", "v1.ack")))
	if !slices.Equal(ids, []uint64{1, 3, 2}) || bad != 0 || end != 3*ackEntrySize {
		t.Errorf("scan of v1.ack: %v %d %d", ids, bad, end)
	}
}

func TestScanSegment(t *testing.T) {
	good := goldenSegment()
	rec := func(i int) (int64, int64) { // offset and end of golden record i
		off := int64(segHeaderSize)
		for j := range i {
			off += recHeaderSize + int64(len(goldenRecords[j].data))
		}
		return off, off + recHeaderSize + int64(len(goldenRecords[i].data))
	}
	flip := func(b []byte, at int64) []byte {
		c := slices.Clone(b)
		c[at] ^= 1
		return c
	}
	off1, end1 := rec(1)
	off3, end3 := rec(3)
	tests := []struct {
		name    string
		b       []byte
		records []uint64
		damaged int
		end     int64
	}{
		{"empty file", nil, nil, 0, 0},
		{"header only", good[:segHeaderSize], nil, 0, segHeaderSize},
		{"whole", good, []uint64{1, 2, 3, 9}, 0, end3},
		{"cut in the last header", good[:off3+10], []uint64{1, 2, 3}, 0, off3},
		{"cut in the last data", good[:end3-1], []uint64{1, 2, 3}, 0, off3},
		{"data byte of record 2", flip(good, off1+recHeaderSize+50), []uint64{1, 3, 9}, 1, end3},
		{"length of record 2", flip(good, off1+5), []uint64{1, 3, 9}, 1, end3},
		{"marker of record 2", flip(good, off1), []uint64{1, 3, 9}, 1, end3},
		{"last record's data: a tear", flip(good, end3-1), []uint64{1, 2, 3}, 0, off3},
		{"zeros after", append(slices.Clone(good), make([]byte, 100)...), []uint64{1, 2, 3, 9}, 0, end3},
		{"garbage then a record", slices.Concat(good[:off1], []byte("garbage KSR\x01"), good[off1:end1]), []uint64{1, 2}, 1, end1 + 12},
		{"a stray marker at the end", slices.Concat(good, []byte("KSR\x01")), []uint64{1, 2, 3, 9}, 0, end3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := scanSegment(tt.b)
			var got []uint64
			for _, rec := range r.records {
				got = append(got, rec.id)
			}
			if !slices.Equal(got, tt.records) || len(r.damaged) != tt.damaged || r.end != tt.end {
				t.Errorf("records %v damaged %v end %d; want %v, %d damaged, end %d",
					got, r.damaged, r.end, tt.records, tt.damaged, tt.end)
			}
		})
	}
}

func TestSegmentHeader(t *testing.T) {
	h := segHeader{seq: 42, first: 1 << 40}
	b := h.encode()
	if got, err := decodeSegHeader(b); err != nil || got != h {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for i := range 32 {
		c := slices.Clone(b)
		c[i] ^= 0x80
		if _, err := decodeSegHeader(c); err == nil {
			t.Errorf("byte %d flipped: header accepted", i)
		}
	}
	if _, err := decodeSegHeader(b[:39]); err != errShortHeader {
		t.Errorf("short header: %v", err)
	}
}

func TestParseSeq(t *testing.T) {
	for name, want := range map[string]uint64{"00000000000000000001.seg": 1, "7.seg": 7, segName(1 << 60): 1 << 60, segName(maxRecordID): maxRecordID} {
		if got, ok := parseSeq(name, segExt); !ok || got != want {
			t.Errorf("parseSeq(%q) = %d %v", name, got, ok)
		}
	}
	for _, name := range []string{".seg", "x.seg", "1.ack", "-1.seg", "1.seg.tmp", "LOCK", segName(maxRecordID + 1), "18446744073709551616.seg"} {
		if _, ok := parseSeq(name, segExt); ok {
			t.Errorf("parseSeq(%q) accepted", name)
		}
	}
}
