package dbc

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kanal-dev/kanal/can"
)

// extDBC returns a DBC file with one 1-byte message per id, named
// prefix<index>; an id with the 0x80000000 flag is a 29-bit id.
func extDBC(prefix string, ids []uint32) []byte {
	var b strings.Builder
	b.WriteString(cantoolsHeader)
	for i, id := range ids {
		fmt.Fprintf(&b, "BO_ %d %s%d: 1 ECU\n SG_ S%d : 0|8@1+ (1,0) [0|0] \"\" X\n\n", id, prefix, i, i)
	}
	return []byte(b.String())
}

// TestPlanExtendedIDs checks the one id lookup NewPlan and Decode share:
// every 29-bit id of a plan is found, ids between and around them are not,
// a standard id never matches a 29-bit id of the same number, and of two
// files the later one's definition of a 29-bit id wins.
func TestPlanExtendedIDs(t *testing.T) {
	// unsorted, with the lowest and highest 29-bit ids and a 29-bit id
	// whose number is also a standard id of the file
	ext := []uint32{0x18FEF100, 0, 0x1FFFFFFF, 0x0CF004FE, 0x100, 7, 0x18FEF101, 0x00000800}
	var vendorIDs []uint32
	for _, id := range ext {
		vendorIDs = append(vendorIDs, id|idExtendedFlag)
	}
	vendorIDs = append(vendorIDs, 0x100) // standard 0x100 beside extended 0x100
	vendor, err := Parse("vendor.dbc", extDBC("Vendor", vendorIDs))
	if err != nil {
		t.Fatal(err)
	}
	override, err := Parse("override.dbc", extDBC("Override", []uint32{0x0CF004FE | idExtendedFlag, 0x1FFFFFFF | idExtendedFlag}))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(vendor, override)
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint32]string{ // 29-bit id → message that decodes it
		0x18FEF100: "Vendor0", 0: "Vendor1", 0x1FFFFFFF: "Override1", 0x0CF004FE: "Override0",
		0x100: "Vendor4", 7: "Vendor5", 0x18FEF101: "Vendor6", 0x800: "Vendor7",
	}
	for id, name := range want {
		t.Run(fmt.Sprintf("ext %#x", id), func(t *testing.T) {
			_, res := p.Decode(addr(frame(id, can.Extended, 1)), nil)
			if res.Status != Decoded || p.Message(res.Msg).Name != name {
				t.Fatalf("Decode: %v, msg %d; want %s", res.Status, res.Msg, name)
			}
			if got := p.find(id, true); got != int(res.Msg) {
				t.Errorf("find = %d, Decode matched %d", got, res.Msg)
			}
		})
	}
	for _, id := range []uint32{1, 6, 8, 0xFF, 0x101, 0x7FF, 0x801, 0x0CF004FD, 0x18FEF0FF, 0x18FEF102, 0x1FFFFFFE} {
		t.Run(fmt.Sprintf("unknown ext %#x", id), func(t *testing.T) {
			if _, res := p.Decode(addr(frame(id, can.Extended, 1)), nil); res.Status != UnknownID {
				t.Errorf("Decode: %v, want %v", res.Status, UnknownID)
			}
			if got := p.find(id, true); got != -1 {
				t.Errorf("find = %d, want -1", got)
			}
		})
	}
	t.Run("standard beside extended", func(t *testing.T) {
		_, res := p.Decode(addr(frame(0x100, 0, 1)), nil)
		if res.Status != Decoded || p.Message(res.Msg).Name != "Vendor8" {
			t.Fatalf("Decode: %v, msg %d; want Vendor8", res.Status, res.Msg)
		}
		for _, id := range []uint32{0, 7, 0x800, 0x7FF} {
			if got := p.find(id, false); got != -1 {
				t.Errorf("find(%#x, standard) = %d, want -1", id, got)
			}
		}
	})
	if len(p.Shadowed) != 2 {
		t.Fatalf("shadowed %v, want the vendor's 0x0CF004FE and 0x1FFFFFFF", p.Shadowed)
	}
	for _, s := range p.Shadowed {
		if s.Pos.File != "vendor.dbc" || !strings.Contains(s.Msg, "later file") {
			t.Errorf("shadowed %v, want a vendor.dbc message redefined in a later file", s)
		}
	}
}
