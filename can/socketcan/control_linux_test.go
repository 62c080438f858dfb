package socketcan

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// cmsg appends one control message as the kernel lays it out.
func cmsg(b []byte, level, typ int32, data []byte) []byte {
	h := make([]byte, unix.CmsgSpace(len(data)))
	l := unix.CmsgLen(len(data))
	if unix.SizeofCmsghdr == 16 {
		hostOrder.PutUint64(h, uint64(l))
	} else {
		hostOrder.PutUint32(h, uint32(l))
	}
	off := unix.SizeofCmsghdr - 8
	hostOrder.PutUint32(h[off:], uint32(level))
	hostOrder.PutUint32(h[off+4:], uint32(typ))
	copy(h[unix.CmsgLen(0):], data)
	return append(b, h...)
}

func TestParseControl(t *testing.T) {
	ts := make([]byte, 16)
	hostOrder.PutUint64(ts, 1732221946)
	hostOrder.PutUint64(ts[8:], 679678123)
	drops := make([]byte, 4)
	hostOrder.PutUint32(drops, 2829)
	both := cmsg(cmsg(nil, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_NEW, ts), unix.SOL_SOCKET, unix.SO_RXQ_OVFL, drops)
	want := time.Unix(1732221946, 679678123)

	for _, tc := range []struct {
		desc      string
		oob       []byte
		ts        time.Time
		drops     uint32
		haveDrops bool
	}{
		{"timestamp and drops", both, want, 2829, true},
		{"timestamp only", cmsg(nil, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_NEW, ts), want, 0, false},
		{"old timestamp, 64-bit", cmsg(nil, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_OLD, ts), want, 0, false},
		{"other level ignored", cmsg(nil, unix.SOL_CAN_RAW, unix.SO_RXQ_OVFL, drops), time.Time{}, 0, false},
		{"none", nil, time.Time{}, 0, false},
		{"second message without padding", both[:len(both)-4], want, 2829, true},
		{"truncated second message", both[:len(both)-5], want, 0, false},
		{"truncated header", both[:unix.CmsgLen(0)-1], time.Time{}, 0, false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			ts, drops, have := parseControl(tc.oob)
			if !ts.Equal(tc.ts) || drops != tc.drops || have != tc.haveDrops {
				t.Errorf("parseControl = %v, %d, %v; want %v, %d, %v", ts, drops, have, tc.ts, tc.drops, tc.haveDrops)
			}
		})
	}
	bad := append([]byte(nil), both...) // a length past the buffer stops the parse
	if unix.SizeofCmsghdr == 16 {
		hostOrder.PutUint64(bad, 1<<20)
	} else {
		hostOrder.PutUint32(bad, 1<<20)
	}
	if ts, _, have := parseControl(bad); !ts.IsZero() || have {
		t.Errorf("bogus length parsed: %v %v", ts, have)
	}
}

// FuzzParseControl: whatever the control buffer holds, no panic.
func FuzzParseControl(f *testing.F) {
	ts := make([]byte, 16)
	f.Add(cmsg(cmsg(nil, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_NEW, ts), unix.SOL_SOCKET, unix.SO_RXQ_OVFL, []byte{1, 0, 0, 0}))
	f.Fuzz(func(t *testing.T, oob []byte) { parseControl(oob) })
}
