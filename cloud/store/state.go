package store

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/kanal-dev/kanal/uplink/batch"
)

// HeaderDedup is the header of every message on kanal.batches.{vehicle}
// that holds the vehicle's dedup state after that message (dedup.go).
const HeaderDedup = "Kanal-Dedup"

// stateVersion is the first byte of an encoded state. A new layout gets a
// new version; a Store that cannot read a state treats the vehicle as new
// (a possible duplicate, never a loss).
const stateVersion = 1

// mark is what the state knows of one boot.
type mark struct {
	boot string
	max  uint64 // highest seq stored
	// below holds Window bits: bit i (word i/64, bit i%64) says seq
	// max-1-i is stored. Seqs below 1 do not exist and are set, so a boot
	// whose batches all arrived has every bit set and encodes in one byte.
	below [2]uint64
}

// state is a vehicle's dedup state: the marks of its most recently written
// boots, newest first. It is a value (no pointers but the boot strings,
// which never change), so the cache hands out copies.
type state struct {
	n     int
	marks [Boots]mark
}

// find returns the index of boot in s, or -1.
func (s *state) find(boot string) int {
	for i := range s.n {
		if s.marks[i].boot == boot {
			return i
		}
	}
	return -1
}

// has reports whether seq of boot is decided: stored, or more than Window
// below the boot's highest stored seq.
func (s *state) has(boot string, seq uint64) bool {
	i := s.find(boot)
	if i < 0 {
		return false
	}
	m := &s.marks[i]
	if seq >= m.max {
		return seq == m.max
	}
	d := m.max - seq
	if d > Window {
		return true
	}
	return m.bit(d - 1)
}

// with returns s with seq of boot marked, the boot moved to the front, and
// the least recently written boot evicted when a new one makes Boots+1.
func (s state) with(boot string, seq uint64) state {
	var m mark
	if i := s.find(boot); i >= 0 {
		m = s.marks[i]
		copy(s.marks[1:i+1], s.marks[:i])
		switch {
		case seq > m.max:
			m.shift(seq - m.max)
		case seq < m.max && m.max-seq <= Window:
			m.set(m.max - seq - 1)
		}
	} else {
		m = mark{boot: boot, max: seq, below: onesFrom(seq - 1)}
		copy(s.marks[1:], s.marks[:Boots-1])
		s.n = min(s.n+1, Boots)
	}
	s.marks[0] = m
	return s
}

func (m *mark) bit(i uint64) bool { return m.below[i/64]>>(i%64)&1 == 1 }

func (m *mark) set(i uint64) { m.below[i/64] |= 1 << (i % 64) }

// shift raises max by k ≥ 1: the old max becomes bit k-1, every bit moves
// up by k, and bits past Window fall off (those seqs are now decided).
func (m *mark) shift(k uint64) {
	m.max += k
	if k > Window {
		m.below = [2]uint64{}
		return
	}
	lo, hi := m.below[0], m.below[1]
	switch {
	case k == Window:
		lo, hi = 0, 0
	case k >= 64:
		lo, hi = 0, lo<<(k-64)
	default:
		lo, hi = lo<<k, hi<<k|lo>>(64-k)
	}
	m.below = [2]uint64{lo, hi}
	m.set(k - 1)
}

// onesFrom returns the bitmap with bits i to Window-1 set.
func onesFrom(i uint64) [2]uint64 {
	const all = ^uint64(0)
	switch {
	case i >= Window:
		return [2]uint64{}
	case i >= 64:
		return [2]uint64{0, all << (i - 64)}
	}
	return [2]uint64{all << i, all}
}

// maxStateBytes bounds an encoded state before base64: version, count and
// per boot the id's length, the id, max as a varint, the bitmap's length
// and the bitmap.
const maxStateBytes = 2 + Boots*(1+batch.MaxIDLen+binary.MaxVarintLen64+1+Window/8)

// encode returns the state as the Kanal-Dedup header value: unpadded
// standard base64 of
//
//	version (1 byte) | boots (1 byte) | per boot, newest first:
//	  id length (uvarint) | id | max (uvarint) |
//	  bitmap length n (1 byte, 0-16) | n bitmap bytes
//
// The bitmap is little-endian (byte j holds bits 8j to 8j+7) with its
// trailing 0xff bytes left out: a boot whose older seqs are all stored,
// the usual case, has n = 0.
func (s *state) encode() string {
	var buf [maxStateBytes]byte
	b := append(buf[:0], stateVersion, byte(s.n))
	for i := range s.n {
		m := &s.marks[i]
		b = binary.AppendUvarint(b, uint64(len(m.boot)))
		b = append(b, m.boot...)
		b = binary.AppendUvarint(b, m.max)
		var bm [Window / 8]byte
		binary.LittleEndian.PutUint64(bm[:8], m.below[0])
		binary.LittleEndian.PutUint64(bm[8:], m.below[1])
		n := len(bm)
		for n > 0 && bm[n-1] == 0xff {
			n--
		}
		b = append(b, byte(n))
		b = append(b, bm[:n]...)
	}
	return base64.RawStdEncoding.EncodeToString(b)
}

// decodeState reads a Kanal-Dedup header value. It is outside input (any
// NATS client allowed on the subject could write one), so it checks every
// field and never panics.
func decodeState(v string) (state, error) {
	var s state
	if len(v) > base64.RawStdEncoding.EncodedLen(maxStateBytes) {
		return state{}, fmt.Errorf("dedup state: %d bytes, at most %d", len(v), base64.RawStdEncoding.EncodedLen(maxStateBytes))
	}
	var buf [maxStateBytes]byte
	n, err := base64.RawStdEncoding.Decode(buf[:], []byte(v))
	if err != nil {
		return state{}, fmt.Errorf("dedup state: %w", err)
	}
	b := buf[:n]
	if len(b) < 2 {
		return state{}, errors.New("dedup state: truncated")
	}
	if b[0] != stateVersion {
		return state{}, fmt.Errorf("dedup state: version %d (this gateway reads %d)", b[0], stateVersion)
	}
	if int(b[1]) > Boots {
		return state{}, fmt.Errorf("dedup state: %d boots (at most %d)", b[1], Boots)
	}
	s.n, b = int(b[1]), b[2:]
	for i := range s.n {
		m := &s.marks[i]
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return state{}, fmt.Errorf("dedup state: boot %d: bad id length", i)
		}
		m.boot, b = string(b[k:k+int(l)]), b[k+int(l):]
		if err := batch.CheckBootID(m.boot); err != nil {
			return state{}, fmt.Errorf("dedup state: boot %d: %w", i, err)
		}
		if s.find(m.boot) < i {
			return state{}, fmt.Errorf("dedup state: boot %q twice", m.boot)
		}
		if m.max, k = binary.Uvarint(b); k <= 0 || m.max == 0 {
			return state{}, fmt.Errorf("dedup state: boot %q: bad max seq", m.boot)
		}
		b = b[k:]
		if len(b) < 1 || b[0] > Window/8 || int(b[0]) > len(b)-1 {
			return state{}, fmt.Errorf("dedup state: boot %q: bad bitmap length", m.boot)
		}
		bm := [Window / 8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
		copy(bm[:], b[1:1+b[0]])
		b = b[1+b[0]:]
		m.below = [2]uint64{binary.LittleEndian.Uint64(bm[:8]), binary.LittleEndian.Uint64(bm[8:])}
	}
	if len(b) != 0 {
		return state{}, fmt.Errorf("dedup state: %d bytes after the last boot", len(b))
	}
	return s, nil
}
