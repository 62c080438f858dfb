package socketcan

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kanal-dev/kanal/can"
)

func mustParse(t *testing.T, s string) can.Frame {
	t.Helper()
	f, err := can.ParseFrame([]byte(s))
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return f
}

func TestFrameRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		frame string
		size  int
		id    uint32 // kernel can_id
	}{
		{"123#DEADBEEF", classicMTU, 0x123},
		{"12345678#01", classicMTU, 0x12345678 | EFF},
		{"123#R", classicMTU, 0x123 | rtrFlag},
		{"123#R4", classicMTU, 0x123 | rtrFlag},
		{"1ABCDEF0#R", classicMTU, 0x1ABCDEF0 | EFF | rtrFlag},
		{"7FF#0011223344556677_C", classicMTU, 0x7FF},
		{"20000004#0004000000000000", classicMTU, 0x4 | errFlag},
		{"123##1" + "00112233445566778899AABBCCDDEEFF", fdMTU, 0x123},
		{"1FFFFFFF##3" + "00", fdMTU, 0x1FFFFFFF | EFF},
		{"321##0", fdMTU, 0x321},
		{"123##8AA", fdMTU, 0x123}, // flag bit 0x08: no name, kept
		{"123##B11", fdMTU, 0x123},
		{"123##F11", fdMTU, 0x123},
	} {
		f := mustParse(t, tc.frame)
		var b [fdMTU]byte
		n, err := encodeFrame(&b, f)
		if err != nil || n != tc.size {
			t.Fatalf("%s: encode = %d, %v; want %d bytes", tc.frame, n, err, tc.size)
		}
		if id := hostOrder.Uint32(b[:4]); id != tc.id {
			t.Errorf("%s: can_id %#x, want %#x", tc.frame, id, tc.id)
		}
		if f.IsFD() && can.Flags(b[5]) != f.Flags&0x0F {
			t.Errorf("%s: canfd_frame.flags %#x, want the whole nibble %#x", tc.frame, b[5], f.Flags&0x0F)
		}
		got, ok := decodeFrame(b[:n])
		if !ok || got != f {
			t.Errorf("%s: decode = %v (%v), want %v", tc.frame, got, ok, f)
		}
	}
}

func TestDecodeKernelForms(t *testing.T) {
	var b [fdMTU]byte
	hostOrder.PutUint32(b[:4], 0x7E8)
	b[4], b[5] = 8, 0x7 // FDF set by newer kernels on every FD frame
	f, ok := decodeFrame(b[:])
	if !ok || !f.IsFD() || f.Flags&can.FDF == 0 || f.Flags&can.BRS == 0 || f.Len != 8 {
		t.Errorf("FD frame with FDF: %v %#x", f, f.Flags)
	}
	b[5] = 0xFB // bits above the nibble are not candump's and are not kept
	if f, ok := decodeFrame(b[:]); !ok || f.Flags&^(can.FD) != can.BRS|can.ESI|0x08 {
		t.Errorf("FD frame with flags 0xFB: %v %#x, want the nibble B", f, f.Flags)
	}
	if _, ok := decodeFrame(b[:20]); ok {
		t.Error("a 20-byte datagram decoded")
	}
	b[4] = 200 // a corrupt length is clamped, never an out-of-range slice
	if f, ok := decodeFrame(b[:classicMTU]); !ok || f.Len != 8 {
		t.Errorf("classic len 200: %v", f)
	}
}

func TestEncodeInvalid(t *testing.T) {
	var b [fdMTU]byte
	f := can.Frame{ID: 0x800, Len: 1}
	if _, err := encodeFrame(&b, f); !errors.Is(err, can.ErrIDRange) {
		t.Errorf("standard id 0x800: %v", err)
	}
	f = can.Frame{ID: 1, Len: 9}
	if _, err := encodeFrame(&b, f); !errors.Is(err, can.ErrLenRange) {
		t.Errorf("classic len 9: %v", err)
	}
}

func TestFiltersFor(t *testing.T) {
	got := FiltersFor([]uint32{0x80000100, 0x200, 0x100, 0x200, 0x1234, 0x80001234})
	want := []Filter{{ID: 0x100}, {ID: 0x200}, {ID: 0x100, Extended: true}, {ID: 0x1234, Extended: true}}
	if len(got) != len(want) {
		t.Fatalf("FiltersFor = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("FiltersFor = %v, want %v", got, want)
		}
	}
	for _, tc := range []struct {
		f        Filter
		id, mask uint32
	}{
		{Filter{ID: 0x100}, 0x100, 0x7FF | EFF | rtrFlag},
		{Filter{ID: 0x100, Extended: true}, 0x100 | EFF, 0x1FFFFFFF | EFF | rtrFlag},
		{Filter{ID: 0x7E8, Mask: 0x7F0}, 0x7E0, 0x7F0 | EFF | rtrFlag},
	} {
		id, mask := tc.f.kernelFilter()
		if id != tc.id || mask != tc.mask {
			t.Errorf("%+v: can_id %#x mask %#x, want %#x %#x", tc.f, id, mask, tc.id, tc.mask)
		}
	}
}

// Two Metrics on one registry share the collectors instead of panicking.
func TestMetricsShared(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, b := NewMetrics(reg), NewMetrics(reg)
	if a.Err() != nil || b.Err() != nil {
		t.Fatalf("register: %v %v", a.Err(), b.Err())
	}
	a.forBus("can0").rx.Inc()
	b.forBus("can0").rx.Inc()
	b.forBus("can1").drops.Add(3)
	if got := testutil.ToFloat64(a.frames.WithLabelValues("can0", "rx")); got != 2 {
		t.Errorf("can0 rx = %v, want 2", got)
	}
	if n, err := testutil.GatherAndCount(reg, "kanal_can_kernel_drops_total"); err != nil || n != 2 {
		t.Errorf("drops series = %d, %v; want one per bus", n, err)
	}
}
