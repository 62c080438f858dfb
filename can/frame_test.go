package can

import (
	"errors"
	"testing"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		desc string
		f    Frame
		want error // nil: valid
	}{
		{"standard", Frame{ID: 0x7FF, Len: 8}, nil},
		{"standard id over 11 bits", Frame{ID: 0x800}, ErrIDRange},
		{"extended", Frame{ID: MaxExtendedID, Flags: Extended}, nil},
		{"extended id over 29 bits", Frame{ID: MaxExtendedID + 1, Flags: Extended}, ErrIDRange},
		{"error class over 29 bits", Frame{ID: MaxExtendedID + 1, Flags: Error, Len: 8}, ErrIDRange},
		{"error frame", Frame{ID: 4, Flags: Error, Len: 8}, nil},
		{"classic 9 bytes", Frame{ID: 1, Len: 9}, ErrLenRange},
		{"FD 64 bytes, every flag bit", Frame{ID: 1, Len: 64, Flags: FD | 0x0F}, nil},
		{"FD 65 bytes", Frame{ID: 1, Len: 65, Flags: FD}, ErrLenRange},
		{"FD remote", Frame{ID: 1, Flags: FD | Remote}, ErrFlagMix},
		{"FD error", Frame{ID: 1, Flags: FD | Error}, ErrFlagMix},
		{"FD raw DLC", Frame{ID: 1, Len: 8, DLC: 9, Flags: FD}, ErrRawDLC},
		{"classic with FD flag bits", Frame{ID: 1, Flags: BRS}, errFDNibbleF},
		{"classic with the unnamed flag bit", Frame{ID: 1, Flags: 0x08}, errFDNibbleF},
		{"remote error", Frame{ID: 1, Flags: Remote | Error}, ErrFlagMix},
		{"raw DLC 15", Frame{ID: 1, Len: 8, DLC: 15}, nil},
		{"raw DLC on 7 bytes", Frame{ID: 1, Len: 7, DLC: 9}, ErrRawDLC},
		{"raw DLC 8", Frame{ID: 1, Len: 8, DLC: 8}, ErrRawDLC},
		{"raw DLC 16", Frame{ID: 1, Len: 8, DLC: 16}, ErrRawDLC},
		{"remote with raw DLC", Frame{ID: 1, Len: 8, DLC: 12, Flags: Remote}, nil},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			err := tc.f.Validate()
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("Validate(%+v) = %v, want %v", tc.f, err, tc.want)
			}
		})
	}
}

func TestDLC(t *testing.T) {
	for dlc := range uint8(16) {
		n := DLCToLen(dlc)
		if got := LenToDLC(n); got != dlc {
			t.Errorf("LenToDLC(DLCToLen(%d) = %d) = %d", dlc, n, got)
		}
	}
	for _, tc := range []struct{ n, dlc int }{{0, 0}, {8, 8}, {9, 9}, {12, 9}, {13, 10}, {32, 13}, {33, 14}, {64, 15}, {65, 15}} {
		if got := LenToDLC(tc.n); int(got) != tc.dlc {
			t.Errorf("LenToDLC(%d) = %d, want %d (an FD controller pads to DLCToLen)", tc.n, got, tc.dlc)
		}
	}
}

func TestFrameKinds(t *testing.T) {
	f, err := ParseFrame([]byte("12345678##5AABB"))
	if err != nil {
		t.Fatal(err)
	}
	if !f.IsFD() || !f.IsExtended() || f.IsRemote() || f.IsError() || string(f.Payload()) != "\xAA\xBB" {
		t.Errorf("%v: FD %v, extended %v, remote %v, error %v, payload % X", f, f.IsFD(), f.IsExtended(), f.IsRemote(), f.IsError(), f.Payload())
	}
	if f, _ := ParseFrame([]byte("123#R2")); !f.IsRemote() || f.IsFD() || len(f.Payload()) != 2 {
		t.Errorf("remote frame %v", f)
	}
	p := f.Payload()
	p[0] = 0x42 // Payload aliases the frame's data
	if f.Data[0] != 0x42 {
		t.Error("Payload does not alias Data")
	}
}
