package spool

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Sizes of the on-disk structures; doc.go draws them.
const (
	segHeaderSize = 40
	recHeaderSize = 36
	ackEntrySize  = 16
	segVersion    = 1
	// maxRecordData bounds one batch; the broker's limit is far below it.
	maxRecordData = 1 << 30
	// maxRecordID bounds ids (10 batches/s for 10^10 years), so that no
	// file, however damaged, can make the next id overflow.
	maxRecordID = 1 << 62
	segExt      = ".seg"
	ackExt      = ".ack"
	tmpExt      = ".tmp"
)

var (
	segMagic   = [8]byte{'K', 'N', 'L', 'S', 'P', 'O', 'O', 'L'}
	recMagic   = [4]byte{'K', 'S', 'R', segVersion}
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

// Reasons an ack file gives for a record leaving the queue. Recovery treats
// them alike; they tell a person reading the file what happened.
const (
	ackAcked       byte = 1
	ackQuarantined byte = 2
	ackCorrupt     byte = 3
)

// segment is one segment file and its ack file. The fields are guarded by
// Spool.mu.
type segment struct {
	seq   uint64 // the number in the file name; segments are ordered by it
	first uint64 // the next record id when the segment was made
	path  string
	f     *os.File
	size  int64 // bytes of valid data: header and records
	live  int   // records not yet acked, dropped or quarantined

	ack     *os.File // nil until the first ack
	ackSize int64
	scratch []byte // an ack entry being written

	// Write generations, for fsync bookkeeping: a sync that started after
	// write number w makes every write up to w durable.
	written, synced       uint64
	ackWritten, ackSynced uint64
	broken                bool // a failed write left the tail unknown: no more appends
}

func segName(seq uint64) string { return fmt.Sprintf("%020d%s", seq, segExt) }

// parseSeq reads the number in a segment, ack or quarantine file name;
// numbers over maxRecordID are not ours.
func parseSeq(name, ext string) (uint64, bool) {
	base, ok := strings.CutSuffix(name, ext)
	if !ok || base == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(base, 10, 64)
	return n, err == nil && n <= maxRecordID
}

func (g *segment) ackPath() string { return strings.TrimSuffix(g.path, segExt) + ackExt }

// segHeader is the first segHeaderSize bytes of a segment file.
type segHeader struct {
	seq   uint64
	first uint64
}

func (h segHeader) encode() []byte {
	b := make([]byte, segHeaderSize)
	copy(b, segMagic[:])
	binary.LittleEndian.PutUint32(b[8:], segVersion)
	binary.LittleEndian.PutUint64(b[16:], h.seq)
	binary.LittleEndian.PutUint64(b[24:], h.first)
	binary.LittleEndian.PutUint32(b[32:], crc32.Checksum(b[:32], castagnoli))
	return b
}

var (
	errShortHeader = errors.New("segment header missing (file shorter than 40 bytes)")
	errBadHeader   = errors.New("segment header damaged")
)

// decodeSegHeader reads a segment header. A header whose checksum holds but
// whose version is not segVersion wraps ErrVersion.
func decodeSegHeader(b []byte) (segHeader, error) {
	if len(b) < segHeaderSize {
		return segHeader{}, errShortHeader
	}
	if !bytes.Equal(b[:8], segMagic[:]) || crc32.Checksum(b[:32], castagnoli) != binary.LittleEndian.Uint32(b[32:]) {
		return segHeader{}, errBadHeader
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != segVersion {
		return segHeader{}, fmt.Errorf("%w %d (this build reads %d)", ErrVersion, v, segVersion)
	}
	h := segHeader{seq: binary.LittleEndian.Uint64(b[16:]), first: binary.LittleEndian.Uint64(b[24:])}
	if h.first > maxRecordID {
		return segHeader{}, errBadHeader
	}
	return h, nil
}

// recHeader is the fixed part of a record.
type recHeader struct {
	n        uint32
	id       uint64
	appended int64
	prio     bool
	dataCRC  uint32
}

func (h recHeader) size() int64 { return recHeaderSize + int64(h.n) }

// appendRecord appends the record framing of data to dst. The header is
// built in place: a local array would escape to the heap through crc32.
func appendRecord(dst []byte, id uint64, appended int64, prio bool, data []byte) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, recHeaderSize)...)
	h := dst[n:]
	copy(h, recMagic[:])
	binary.LittleEndian.PutUint32(h[4:], uint32(len(data)))
	binary.LittleEndian.PutUint64(h[8:], id)
	binary.LittleEndian.PutUint64(h[16:], uint64(appended))
	if prio {
		h[24] = 1
	}
	binary.LittleEndian.PutUint32(h[28:], crc32.Checksum(data, castagnoli))
	binary.LittleEndian.PutUint32(h[32:], crc32.Checksum(h[:32], castagnoli))
	return append(dst, data...)
}

// parseRecHeader checks the marker, the header checksum and the reserved
// bits of the record header at the start of b. It costs the same for any
// length, so a scan that tries it at every marker stays linear.
func parseRecHeader(b []byte) (recHeader, bool) {
	if len(b) < recHeaderSize || !bytes.Equal(b[:4], recMagic[:]) ||
		crc32.Checksum(b[:32], castagnoli) != binary.LittleEndian.Uint32(b[32:]) ||
		b[24]&^1 != 0 || b[25]|b[26]|b[27] != 0 {
		return recHeader{}, false
	}
	h := recHeader{
		n:        binary.LittleEndian.Uint32(b[4:]),
		id:       binary.LittleEndian.Uint64(b[8:]),
		appended: int64(binary.LittleEndian.Uint64(b[16:])),
		prio:     b[24] == 1,
		dataCRC:  binary.LittleEndian.Uint32(b[28:]),
	}
	return h, h.n <= maxRecordData && h.id != 0 && h.id <= maxRecordID
}

// errCorrupt is a record whose bytes no longer match its checksums.
var errCorrupt = errors.New("record checksum mismatch")

// decodeRecord checks a whole record read back from a segment and returns
// its data, which aliases b.
func decodeRecord(b []byte, id uint64) ([]byte, recHeader, error) {
	h, ok := parseRecHeader(b)
	if !ok || h.id != id || int64(len(b)) != h.size() {
		return nil, h, errCorrupt
	}
	data := b[recHeaderSize:]
	if crc32.Checksum(data, castagnoli) != h.dataCRC {
		return nil, h, errCorrupt
	}
	return data, h, nil
}

// scanned is a record found by scanSegment.
type scanned struct {
	off int64
	recHeader
}

// region is a byte range of a segment.
type region struct{ off, n int64 }

// scanResult is what scanSegment found in a segment file.
type scanResult struct {
	header    segHeader
	headerErr error
	records   []scanned
	damaged   []region // records or bytes that failed their checksums, with valid data after them
	end       int64    // end of the last record that parsed; what follows is a torn tail
}

// scanSegment reads every record of a segment file held in b. It never
// fails: a record whose header holds but whose data does not is damage of
// exactly that record; bytes that do not parse at all are skipped up to the
// next record marker whose header holds, as one damaged region. Everything
// after the last good record that cannot be framed, or is framed but fails
// its data checksum, is the torn tail (end marks where it starts): a write
// that reached the disk in part, header page first, looks like that. It
// does O(1) work per byte, whatever b holds.
func scanSegment(b []byte) scanResult {
	r := scanResult{end: min(int64(len(b)), segHeaderSize)}
	r.header, r.headerErr = decodeSegHeader(b)
	off, badFrom := int64(segHeaderSize), int64(-1)
	for off < int64(len(b)) {
		h, ok := parseRecHeader(b[off:])
		if !ok {
			if badFrom < 0 {
				badFrom = off
			}
			if off = resync(b, off+1); off < 0 {
				break
			}
			continue
		}
		if off+h.size() > int64(len(b)) {
			break // a record cut short
		}
		if badFrom >= 0 { // a framed record follows: what came before it is damage
			r.damaged = append(r.damaged, region{badFrom, off - badFrom})
			badFrom = -1
		}
		if crc32.Checksum(b[off+recHeaderSize:off+h.size()], castagnoli) == h.dataCRC {
			r.records = append(r.records, scanned{off, h})
		} else {
			r.damaged = append(r.damaged, region{off, h.size()})
		}
		off += h.size()
		r.end = off
	}
	for n := len(r.damaged); n > 0 && r.damaged[n-1].off+r.damaged[n-1].n == r.end; n-- {
		r.end = r.damaged[n-1].off // nothing good after it: part of the tail
		r.damaged = r.damaged[:n-1]
	}
	return r
}

// resync returns the offset of the next record header at or after from,
// or -1.
func resync(b []byte, from int64) int64 {
	for from+recHeaderSize <= int64(len(b)) {
		i := bytes.Index(b[from:], recMagic[:])
		if i < 0 {
			return -1
		}
		p := from + int64(i)
		if _, ok := parseRecHeader(b[p:]); ok {
			return p
		}
		from = p + 1
	}
	return -1
}

// appendAck appends one ack entry to dst, built in place as appendRecord
// does.
func appendAck(dst []byte, id uint64, reason byte) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, ackEntrySize)...)
	e := dst[n:]
	binary.LittleEndian.PutUint64(e, id)
	e[8] = reason
	binary.LittleEndian.PutUint32(e[12:], crc32.Checksum(e[:12], castagnoli))
	return dst
}

// scanAcks reads an ack file: the ids it removes, the number of entries
// that failed their checksum, and the length of its whole entries (a torn
// last entry is cut there).
func scanAcks(b []byte) (ids []uint64, bad int, end int64) {
	end = int64(len(b)) / ackEntrySize * ackEntrySize
	for off := int64(0); off < end; off += ackEntrySize {
		e := b[off : off+ackEntrySize]
		if crc32.Checksum(e[:12], castagnoli) != binary.LittleEndian.Uint32(e[12:]) ||
			e[8] < ackAcked || e[8] > ackCorrupt || e[9]|e[10]|e[11] != 0 ||
			binary.LittleEndian.Uint64(e) > maxRecordID {
			bad++
			continue
		}
		ids = append(ids, binary.LittleEndian.Uint64(e))
	}
	return ids, bad, end
}

// createSegment makes a new segment file with its header; sync makes the
// file and its directory entry durable.
func createSegment(dir string, h segHeader, sync bool) (*segment, error) {
	path := filepath.Join(dir, segName(h.seq))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, fmt.Errorf("create segment: %w", err)
	}
	g := &segment{seq: h.seq, first: h.first, path: path, f: f, size: segHeaderSize}
	if _, err := f.WriteAt(h.encode(), 0); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("write segment header %s: %w", path, err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			os.Remove(path)
			return nil, fmt.Errorf("sync segment %s: %w", path, err)
		}
		if err := syncDir(dir); err != nil {
			return g, err
		}
	}
	return g, nil
}

// readRecord reads back the record of id at off and checks it.
func (g *segment) readRecord(off int64, n uint32, id uint64) ([]byte, error) {
	b := make([]byte, recHeaderSize+int64(n))
	if _, err := g.f.ReadAt(b, off); err != nil {
		if errors.Is(err, os.ErrClosed) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: read %s at %d: %v", errCorrupt, g.path, off, err)
	}
	data, _, err := decodeRecord(b, id)
	return data, err
}

// writeAck appends an ack entry, opening the ack file on the first one.
func (g *segment) writeAck(id uint64, reason byte) error {
	if g.ack == nil {
		f, err := os.OpenFile(g.ackPath(), os.O_RDWR|os.O_CREATE, 0o640)
		if err != nil {
			return fmt.Errorf("open ack file: %w", err)
		}
		g.ack = f
	}
	g.scratch = appendAck(g.scratch[:0], id, reason)
	if _, err := g.ack.WriteAt(g.scratch, g.ackSize); err != nil {
		return fmt.Errorf("write ack file %s: %w", g.ackPath(), err)
	}
	g.ackSize += ackEntrySize
	g.ackWritten++
	return nil
}

// close closes the segment's files.
func (g *segment) close() error {
	err := g.f.Close()
	if g.ack != nil {
		err = errors.Join(err, g.ack.Close())
	}
	return err
}

// syncDir makes created, renamed and removed names in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
