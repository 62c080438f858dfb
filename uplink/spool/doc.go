// Package spool is the agent's durable queue of encoded batches: the only
// record of a batch between the batcher and the broker's PUBACK. A batch
// leaves it only when the publisher calls Ack after a successful PUBACK (or
// Quarantine after a PUBACK that can never succeed), or when the disk budget
// drops it, which is counted by reason. After a crash or a power loss Open
// gives back every batch that was not acked, byte for byte; the batches
// carry their own boot id and sequence, which downstream deduplicates on.
//
// The package stores opaque bytes and imports no other Kanal package.
//
//	s, err := spool.Open(spool.Options{Dir: "/var/lib/kanal/spool"})
//	rec, err := s.Append(batch, priority)          // the batcher
//	rec, err := s.Next(ctx, lastSent)              // the publisher ...
//	err = s.Ack(rec.ID)                            // ... after the PUBACK
//
// # Files
//
// Dir holds:
//
//	LOCK                      flock'd by the open Spool; holds its pid
//	00000000000000000001.seg  segment files, numbered; the highest is the active one
//	00000000000000000001.ack  ack file of that segment (once a record of it is acked)
//	quarantine/<id>.batch     batches the broker refused for good, as appended
//	quarantine/<id>.reason    why, and when
//
// Records are appended to the active segment; when it has reached
// Options.SegmentBytes the next record starts a new one. Segments are never
// rewritten: a sealed segment is deleted whole once none of its records is
// queued. All integers are little-endian; every checksum is CRC-32C
// (Castagnoli), which amd64 and arm64 compute in hardware.
//
// # Segment header (40 bytes)
//
//	0   8  magic "KNLSPOOL"
//	8   4  format version, 1
//	12  4  zero
//	16  8  segment number, as in the file name
//	24  8  first: the next record id when the segment was made (the id
//	       floor, which keeps ids increasing when every record is gone)
//	32  4  CRC-32C of bytes 0–31
//	36  4  zero
//
// # Record (36 bytes + data)
//
//	0   4  marker "KSR" 0x01 (resynchronization point and format version)
//	4   4  data length n
//	8   8  id
//	16  8  append time, Unix nanoseconds
//	24  1  flags: bit 0 priority; other bits zero
//	25  3  zero
//	28  4  CRC-32C of the data
//	32  4  CRC-32C of bytes 0–31 of the header
//	36  n  data, the batch as appended
//
// The header has its own checksum so that a reader can trust the length
// before reading the data: a damaged data byte costs exactly its record, and
// a scan for the next marker is linear in the file size. Ids increase in a
// segment except for records the budget moved (see below).
//
// # Ack file (16-byte entries)
//
//	0   8  id
//	8   1  why it left: 1 acked, 2 quarantined, 3 found corrupt
//	9   3  zero
//	12  4  CRC-32C of bytes 0–11
//
// An entry is written (not fsynced) per Ack. An ack lost with a power loss
// brings its batch back once: a duplicate, never a loss. An entry whose
// checksum fails is ignored for the same reason.
//
// # Recovery (Open)
//
//   - Every ack file is read first; an id found in any of them is gone, in
//     whichever segment its record is. An ack file without its segment is
//     what a crash in the middle of a deletion leaves (the data file goes
//     first); it is removed after its ids are read. *.tmp files are removed.
//   - Each segment is scanned from offset 40. A record whose header and data
//     checksums hold is kept. A record whose header holds but data does not
//     is damage: skipped and counted (kanal_spool_corrupt_total). Bytes that
//     do not parse are skipped up to the next marker whose header holds, and
//     counted as one damaged region. Each damaged file is logged once, with
//     its first damaged offset, and every record after the damage is kept.
//   - What follows the last record that can be framed is the torn tail: the
//     write a crash cut short. In the newest segment it is truncated, logged
//     and counted (kanal_spool_torn_tails_total), and appends continue after
//     it. In an older segment, which no crash can tear, it is damage and the
//     file is left as it is.
//   - A damaged segment header is damage; its records are read anyway and
//     the newest segment's header is rewritten. A segment header of another
//     format version fails Open with ErrVersion rather than dropping batches
//     a newer build wrote.
//   - An id found in two segments is a budget move that a crash interrupted:
//     the copy in the newer segment is kept.
//   - The next id is above every id any segment, ack file or quarantine file
//     mentions, and above every segment's id floor; so a stale ack can never
//     remove a batch appended later.
//   - Sealed segments with no record left are deleted.
//
// # Disk budget
//
// Options.MaxBytes bounds the segment and ack files. Space comes back a
// segment at a time, so when an Append would exceed it the spool evicts whole
// segments: first the one holding the oldest non-priority batch (its
// priority batches are copied to the active segment and fsynced before the
// old file goes, so they are never lost by the move), then, when only
// priority batches are left, the oldest segment entirely. Each dropped batch
// is counted by reason (kanal_spool_dropped_total{reason="budget"} or
// "budget_priority"); the first drop and the return under half the budget
// are logged.
package spool
