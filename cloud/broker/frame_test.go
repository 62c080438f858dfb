package broker

import (
	"bytes"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// encode returns the wire bytes of a v5 PUBLISH with a payload of n bytes.
func encodePublish(t testing.TB, topic string, n int) []byte {
	t.Helper()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, ProtocolVersion: 5,
		TopicName: topic, PacketID: 7, Payload: make([]byte, n)}
	var b bytes.Buffer
	if err := pk.PublishEncode(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestFrameGuard(t *testing.T) {
	small := encodePublish(t, "a/b", 100)
	big := encodePublish(t, "a/b", 300_000)
	ping := []byte{0xc0, 0x00}
	for _, tc := range []struct {
		name     string
		stream   []byte
		max      int
		pass     int // bytes passed before the oversized packet
		tooLarge bool
		packets  int
	}{
		{"small packets", bytes.Repeat(append(small, ping...), 3), 1000, 3 * (len(small) + 2), false, 6},
		{"exactly the limit", small, len(small), len(small), false, 1},
		{"one over", small, len(small) - 1, 0, true, 0},
		{"big after small", append(append(append([]byte{}, small...), ping...), big...), 256 << 10, len(small) + 2, true, 2},
		{"zero length", bytes.Repeat(ping, 10), 2, 20, false, 10},
		{"four length bytes", []byte{0x30, 0xff, 0xff, 0xff, 0x7f}, 1 << 20, 0, true, 0},
		{"five length bytes stops following", []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01, 0x30, 0xff}, 100, 8, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Whole, and split at every offset (and byte by byte): the same verdict.
			for split := 0; split <= len(tc.stream) && split < 4000; split++ {
				g := frameGuard{max: tc.max}
				pass, big := 0, false
				for _, part := range chunks(tc.stream, split) {
					n, tl := g.scan(part)
					pass += n
					if tl {
						big = true
						break
					}
				}
				if big != tc.tooLarge || g.packets != tc.packets {
					t.Fatalf("split %d: tooLarge %v packets %d, want %v %d", split, big, g.packets, tc.tooLarge, tc.packets)
				}
				// Header bytes of the oversized packet in earlier pieces are passed
				// already: at most its type byte and 3 length bytes.
				if big && (pass < tc.pass || pass > tc.pass+4) {
					t.Fatalf("split %d: passed %d bytes, the oversized packet starts at %d", split, pass, tc.pass)
				}
				if split == 0 && pass != tc.pass {
					t.Fatalf("whole: passed %d, want %d", pass, tc.pass)
				}
			}
		})
	}
}

// chunks cuts b into pieces of size n (n == 0: one piece).
func chunks(b []byte, n int) [][]byte {
	if n == 0 {
		return [][]byte{b}
	}
	var out [][]byte
	for len(b) > n {
		out = append(out, b[:n])
		b = b[n:]
	}
	return append(out, b)
}

func TestFrameGuardSize(t *testing.T) {
	b := encodePublish(t, "kanal/v1/vehicles/v/batch", 300_000)
	g := frameGuard{max: 256 << 10}
	if _, big := g.scan(b[:10]); !big || g.size != len(b) {
		t.Errorf("size %d (tooLarge %v), want %d", g.size, big, len(b))
	}
}

// FuzzFrameGuard: any stream, cut anywhere, gets the same verdict as whole,
// and never more bytes passed than the stream has.
func FuzzFrameGuard(f *testing.F) {
	f.Add(encodePublish(f, "a", 10), 3, 20)
	f.Add([]byte{0x30, 0x80, 0x80, 0x80, 0x01}, 1, 100)
	f.Add([]byte{0xc0, 0, 0xc0, 0, 0x30, 0x05, 1, 2, 3, 4, 5}, 2, 6)
	f.Fuzz(func(t *testing.T, stream []byte, split, max int) {
		if split < 1 || max < 2 {
			return
		}
		whole := frameGuard{max: max}
		wpass, wbig := whole.scan(stream)
		cut := frameGuard{max: max}
		cpass, cbig := 0, false
		for _, part := range chunks(stream, split) {
			n, big := cut.scan(part)
			if n > len(part) {
				t.Fatalf("passed %d of %d", n, len(part))
			}
			cpass += n
			if big {
				cbig = true
				break
			}
		}
		if wbig != cbig || whole.packets != cut.packets || whole.size != cut.size {
			t.Fatalf("whole %v/%d/%d, cut %v/%d/%d", wbig, whole.packets, whole.size, cbig, cut.packets, cut.size)
		}
		if !wbig && (wpass != len(stream) || cpass != len(stream)) {
			t.Fatalf("passed %d and %d of %d", wpass, cpass, len(stream))
		}
	})
}

func TestTokenBucket(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := newTokenBucket(10, 5, t0)
	for i := range 5 {
		if !b.take(t0) {
			t.Fatalf("burst token %d refused", i)
		}
	}
	if b.take(t0) {
		t.Fatal("sixth token at once granted")
	}
	if !b.take(t0.Add(100 * time.Millisecond)) {
		t.Fatal("no token after 1/rate")
	}
	if b.take(t0.Add(100 * time.Millisecond)) {
		t.Fatal("two tokens after 1/rate")
	}
	// Saving up stops at the burst.
	later := t0.Add(time.Hour)
	for i := range 5 {
		if !b.take(later) {
			t.Fatalf("token %d after an hour refused", i)
		}
	}
	if b.take(later) {
		t.Fatal("more than the burst saved up")
	}
	off := newTokenBucket(0, 0, t0)
	for range 1000 {
		if !off.take(t0) {
			t.Fatal("rate 0 limits")
		}
	}
}
