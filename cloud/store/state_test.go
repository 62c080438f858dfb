package store

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// op is one step of a state table test: mark seq of boot, or check it.
type op struct {
	boot string
	seq  uint64
	mark bool // false: check has == want
	want bool
}

func mk(boot string, seq uint64) op     { return op{boot: boot, seq: seq, mark: true} }
func has(boot string, seq uint64) op    { return op{boot: boot, seq: seq, want: true} }
func hasNot(boot string, seq uint64) op { return op{boot: boot, seq: seq} }
func bootID(i int) string               { return fmt.Sprintf("boot%012d", i) }
func seqs(from, to uint64) (out []uint64) {
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return
}

func TestStateDecides(t *testing.T) {
	a, b := bootID(1), bootID(2)
	tests := []struct {
		name string
		ops  []op
	}{
		{"empty state stores anything", []op{hasNot(a, 1), hasNot(a, 1000)}},
		{"a marked seq is decided", []op{mk(a, 1), has(a, 1), hasNot(a, 2), hasNot(b, 1)}},
		{"first seen seq leaves the lower ones open", []op{mk(a, 5), has(a, 5), hasNot(a, 4), hasNot(a, 1), hasNot(a, 6)}},
		{"out of order in flight", []op{mk(a, 1), mk(a, 3), mk(a, 4), hasNot(a, 2), mk(a, 2), has(a, 2), has(a, 1), has(a, 3), has(a, 4), hasNot(a, 5)}},
		{"gaps never block", []op{mk(a, 1), mk(a, 10), mk(a, 100), hasNot(a, 50), has(a, 10), hasNot(a, 101), mk(a, 101), has(a, 101)}},
		{"window edge: W below max is still a bit", []op{mk(a, 1), mk(a, 200), hasNot(a, 200-Window), has(a, 200-Window-1), has(a, 1)}},
		{"a jump of exactly W keeps the old max", []op{mk(a, 10), mk(a, 10+Window), has(a, 10), hasNot(a, 11), hasNot(a, 10+Window-1)}},
		{"a jump over W decides everything below", []op{mk(a, 10), mk(a, 11+Window), has(a, 10), has(a, 9), hasNot(a, 12)}},
		{"a jump of 64 crosses the word", []op{mk(a, 1), mk(a, 3), mk(a, 67), has(a, 3), has(a, 1), hasNot(a, 2), hasNot(a, 66), hasNot(a, 4)}},
		{"a jump of 65", []op{mk(a, 1), mk(a, 2), mk(a, 67), has(a, 2), hasNot(a, 3), hasNot(a, 66)}},
		{"boots are apart", []op{mk(a, 3), mk(b, 7), has(a, 3), hasNot(a, 7), has(b, 7), hasNot(b, 3)}},
		{"marking twice changes nothing", []op{mk(a, 4), mk(a, 4), mk(a, 2), mk(a, 2), has(a, 4), has(a, 2), hasNot(a, 3)}},
		{"an old seq marked late", []op{mk(a, 300), mk(a, 300-Window), has(a, 300-Window), hasNot(a, 300-Window+1)}},
		{"a seq below the window marked changes nothing", []op{mk(a, 300), mk(a, 100), has(a, 100), has(a, 300), hasNot(a, 299)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s state
			for i, o := range tc.ops {
				if o.mark {
					s = s.with(o.boot, o.seq)
					continue
				}
				if got := s.has(o.boot, o.seq); got != o.want {
					t.Fatalf("step %d: has(%s, %d) = %v, want %v", i, o.boot, o.seq, got, o.want)
				}
			}
			back, err := decodeState(s.encode())
			if err != nil || back != s {
				t.Fatalf("round trip: %+v, %v; want %+v", back, err, s)
			}
		})
	}
}

// TestStateBoots: the Boots most recently written boots are kept, the
// least recently written evicted, and a write moves a boot to the front.
func TestStateBoots(t *testing.T) {
	var s state
	for i := range Boots + 1 {
		s = s.with(bootID(i), 1)
	}
	if s.n != Boots {
		t.Fatalf("%d boots, want %d", s.n, Boots)
	}
	if s.has(bootID(0), 1) {
		t.Fatal("the oldest boot is still there after Boots newer ones")
	}
	for i := 1; i <= Boots; i++ {
		if !s.has(bootID(i), 1) {
			t.Fatalf("boot %d lost", i)
		}
	}
	s = s.with(bootID(1), 2)       // boot 1 is now the newest
	s = s.with(bootID(Boots+1), 1) // evicts boot 2, not boot 1
	if !s.has(bootID(1), 2) || s.has(bootID(2), 1) {
		t.Fatalf("eviction is not by last write: %+v", s)
	}
}

// TestStateModel checks has and with against a plain set on random walks
// that respect the agent's spread: a batch is first sent only within 64 seqs
// of the lowest one neither stored nor dropped (uplink.MaxSpread); retries
// repeat any stored batch, however old; the agent drops batches by policy.
// has must say exactly "stored": true for every stored one (else a
// duplicate), false for every other one sent (else a loss).
func TestStateModel(t *testing.T) {
	for walk := range 200 {
		rng := rand.New(rand.NewPCG(uint64(walk), 7))
		var s state
		stored, gone := map[uint64]bool{}, map[uint64]bool{}
		var storedList []uint64
		boot := bootID(walk)
		var low uint64 = 1
		for range 2000 {
			seq := low + rng.Uint64N(64)
			if rng.IntN(10) == 0 && len(storedList) > 0 {
				seq = storedList[rng.IntN(len(storedList))]
			} else if gone[seq] {
				continue
			}
			if got := s.has(boot, seq); got != stored[seq] {
				t.Fatalf("walk %d: has(%d) = %v, want %v (lowest open %d)", walk, seq, got, stored[seq], low)
			}
			if !stored[seq] {
				s = s.with(boot, seq)
				stored[seq] = true
				storedList = append(storedList, seq)
			}
			if rng.IntN(50) == 0 && !stored[low] {
				gone[low] = true
			}
			for stored[low] || gone[low] {
				low++
			}
		}
		back, err := decodeState(s.encode())
		if err != nil || back != s {
			t.Fatalf("walk %d: round trip: %v", walk, err)
		}
	}
}

func TestStateSize(t *testing.T) {
	var s state
	for i := range Boots {
		for seq := uint64(1); seq <= 1000; seq++ {
			s = s.with(bootID(i), seq)
		}
	}
	if n := len(s.encode()); n > 120 {
		t.Errorf("four boots sent in order: %d bytes of header, want at most 120", n)
	}
	var worst state
	for i := range Boots {
		boot := strings.Repeat(string(rune('a'+i)), 64)
		worst = worst.with(boot, 1<<63)
		worst = worst.with(boot, 1<<63+Window/2) // half the bitmap open
	}
	enc := worst.encode()
	if n := len(enc); n > base64.RawStdEncoding.EncodedLen(maxStateBytes) {
		t.Errorf("worst case: %d bytes, over the decoder's limit", n)
	}
	if back, err := decodeState(enc); err != nil || back != worst {
		t.Errorf("worst case round trip: %v", err)
	}
}

func TestDecodeStateRefuses(t *testing.T) {
	st := state{}.with(bootID(1), 5)
	good := st.encode()
	raw, _ := base64.RawStdEncoding.DecodeString(good)
	b64 := func(b []byte) string { return base64.RawStdEncoding.EncodeToString(b) }
	with := func(f func([]byte) []byte) string { return b64(f(append([]byte(nil), raw...))) }
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "truncated"},
		{"not base64", "!!!!", "illegal base64"},
		{"version", with(func(b []byte) []byte { b[0] = 9; return b }), "version 9"},
		{"too many boots", with(func(b []byte) []byte { b[1] = Boots + 1; return b }), "boots"},
		{"more boots than bytes", with(func(b []byte) []byte { b[1] = 2; return b }), "bad id length"},
		{"bad boot id", with(func(b []byte) []byte { b[3] = '.'; return b }), "boot id"},
		{"trailing bytes", with(func(b []byte) []byte { return append(b, 0) }), "after the last boot"},
		{"bitmap too long", with(func(b []byte) []byte { b[len(b)-2] = 17; return b }), "bad bitmap length"},
		{"bitmap cut", with(func(b []byte) []byte { b[len(b)-2] = 3; return b }), "bad bitmap length"},
		{"max zero", b64([]byte{1, 1, 2, 'a', 'b', 0, 0}), "bad max seq"},
		{"duplicate boot", b64([]byte{1, 2, 2, 'a', 'b', 1, 0, 2, 'a', 'b', 2, 0}), "twice"},
		{"too long", strings.Repeat("A", 1000), "at most"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := decodeState(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("decodeState = %+v, %v; want an error with %q", s, err, tc.want)
			}
			if s != (state{}) {
				t.Fatalf("a refused state is not empty: %+v", s)
			}
		})
	}
}

func FuzzDecodeState(f *testing.F) {
	var s state
	f.Add(s.encode())
	for i, seq := range seqs(1, 6) {
		s = s.with(bootID(i%3), seq*40)
		f.Add(s.encode())
	}
	f.Add("AQA")
	f.Fuzz(func(t *testing.T, v string) {
		s, err := decodeState(v)
		if err != nil {
			return
		}
		back, err := decodeState(s.encode())
		if err != nil || back != s {
			t.Fatalf("round trip of %q: %+v, %v; want %+v", v, back, err, s)
		}
		for i := range s.n {
			m := s.marks[i]
			if !s.has(m.boot, m.max) || s.has(m.boot, m.max+1) {
				t.Fatalf("%q: the max of boot %q is not decided, or max+1 is", v, m.boot)
			}
			if next := s.with(m.boot, m.max+1); !next.has(m.boot, m.max) || !next.has(m.boot, m.max+1) {
				t.Fatalf("%q: marking max+1 of %q lost a mark", v, m.boot)
			}
		}
	})
}
