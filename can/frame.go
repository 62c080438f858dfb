package can

import (
	"errors"
	"fmt"
)

// Limits of the CAN identifiers and payloads, as in linux/can.h.
const (
	MaxStandardID = 0x7FF      // 11-bit identifier
	MaxExtendedID = 0x1FFFFFFF // 29-bit identifier
	MaxClassicLen = 8          // data bytes of a classic (CAN 2.0) frame
	MaxFDLen      = 64         // data bytes of a CAN FD frame
)

// Flags describe the kind of a frame. The low four bits are the low nibble
// of the kernel's struct canfd_frame flags, written as the flag nibble of a
// candump `ID##<flags>DATA` line: BRS, ESI, FDF and 0x08, which Kanal does
// not interpret but keeps, as the kernel and can-utils do. So a log
// round-trips byte for byte, through files and through a bus.
type Flags uint16

const (
	// BRS is the CAN FD bit rate switch (CANFD_BRS).
	BRS Flags = 0x01
	// ESI is the CAN FD error state indicator (CANFD_ESI).
	ESI Flags = 0x02
	// FDF marks an FD frame in the kernel's flags field (CANFD_FDF); newer
	// kernels set it on every FD frame. It is kept only so that logs that
	// carry it round-trip; FD is what the code tests.
	FDF Flags = 0x04

	fdNibble Flags = 0x0F // the bits candump writes after `##`, named or not

	// FD marks a CAN FD frame (up to 64 data bytes).
	FD Flags = 1 << 8
	// Extended marks a 29-bit identifier (CAN_EFF_FLAG).
	Extended Flags = 1 << 9
	// Remote marks a remote transmission request (CAN_RTR_FLAG); classic only.
	Remote Flags = 1 << 10
	// Error marks an error frame (CAN_ERR_FLAG): ID holds the error class
	// bits and Data the details, as in linux/can/error.h.
	Error Flags = 1 << 11
)

// Frame is one classic or FD frame. It has a fixed size and no pointers, so
// it never needs the heap; at 72 bytes it is passed by pointer on the
// decode path (dbc.Plan.Decode takes *can.Frame, which measured a quarter
// faster than the copy), by value elsewhere.
//
// go.einride.tech/can's Frame holds 8 bytes and cannot carry CAN FD; Kanal
// owns this type and converts to einride's where einride code is reused.
type Frame struct {
	ID    uint32 // 11 or 29 bits, without the kernel's flag bits; see Flags
	Len   uint8  // data bytes: 0–8 classic, 0–64 FD; for Remote the requested length
	DLC   uint8  // raw DLC 9–15 of a classic 8-byte frame (len8_dlc), else 0
	Flags Flags
	Data  [MaxFDLen]byte
}

// Payload returns the frame's data bytes. The slice aliases f.Data.
func (f *Frame) Payload() []byte { return f.Data[:f.Len] }

// IsFD reports whether f is a CAN FD frame.
func (f Frame) IsFD() bool { return f.Flags&FD != 0 }

// IsExtended reports whether f has a 29-bit identifier.
func (f Frame) IsExtended() bool { return f.Flags&Extended != 0 }

// IsRemote reports whether f is a remote transmission request.
func (f Frame) IsRemote() bool { return f.Flags&Remote != 0 }

// IsError reports whether f is an error frame.
func (f Frame) IsError() bool { return f.Flags&Error != 0 }

// Validation errors of Frame.Validate.
var (
	ErrIDRange   = errors.New("identifier out of range")
	ErrLenRange  = errors.New("data length out of range")
	ErrFlagMix   = errors.New("invalid flag combination")
	ErrRawDLC    = errors.New("raw DLC is only valid for classic 8-byte frames")
	errFDNibbleF = errors.New("FD flags set on a classic frame")
)

// Validate reports whether f is a frame a bus could carry.
func (f Frame) Validate() error {
	switch {
	case f.IsError():
		if f.ID > MaxExtendedID {
			return fmt.Errorf("%w: error class %#x", ErrIDRange, f.ID)
		}
	case f.IsExtended():
		if f.ID > MaxExtendedID {
			return fmt.Errorf("%w: extended id %#x", ErrIDRange, f.ID)
		}
	default:
		if f.ID > MaxStandardID {
			return fmt.Errorf("%w: standard id %#x", ErrIDRange, f.ID)
		}
	}
	if f.IsFD() {
		if f.Len > MaxFDLen {
			return fmt.Errorf("%w: %d bytes in an FD frame", ErrLenRange, f.Len)
		}
		if f.Flags&(Remote|Error) != 0 {
			return fmt.Errorf("%w: FD frames have no remote or error form", ErrFlagMix)
		}
		if f.DLC != 0 {
			return ErrRawDLC
		}
		return nil
	}
	if f.Len > MaxClassicLen {
		return fmt.Errorf("%w: %d bytes in a classic frame", ErrLenRange, f.Len)
	}
	if f.Flags&fdNibble != 0 {
		return errFDNibbleF
	}
	if f.Flags&Remote != 0 && f.Flags&Error != 0 {
		return fmt.Errorf("%w: remote error frame", ErrFlagMix)
	}
	if f.DLC != 0 && (f.Len != MaxClassicLen || f.DLC < 9 || f.DLC > 15) {
		return ErrRawDLC
	}
	return nil
}

// String returns the frame in candump's compact form, `123#DEADBEEF`.
func (f Frame) String() string {
	return string(f.AppendText(make([]byte, 0, 2*MaxFDLen+16)))
}

// dlcToLen maps a CAN FD DLC to its data length (ISO 11898-1).
var dlcToLen = [16]uint8{0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64}

// LenToDLC returns the smallest DLC that carries n data bytes; an FD
// controller pads a frame of n bytes up to DLCToLen(LenToDLC(n)).
func LenToDLC(n int) uint8 {
	for dlc, l := range dlcToLen {
		if int(l) >= n {
			return uint8(dlc)
		}
	}
	return 15
}

// DLCToLen returns the data length of a DLC (0–15).
func DLCToLen(dlc uint8) int { return int(dlcToLen[dlc&0x0F]) }
