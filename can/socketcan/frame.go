package socketcan

import (
	"encoding/binary"
	"fmt"

	"github.com/kanal-dev/kanal/can"
)

// Layout of linux/can.h, kept here rather than taken from x/sys/unix so that
// the conversion is tested on every OS.
const (
	rtrFlag = 0x40000000 // CAN_RTR_FLAG
	errFlag = 0x20000000 // CAN_ERR_FLAG
	sffMask = 0x000007FF // CAN_SFF_MASK
	effMask = 0x1FFFFFFF // CAN_EFF_MASK, also CAN_ERR_MASK

	classicMTU = 16 // sizeof(struct can_frame)
	fdMTU      = 72 // sizeof(struct canfd_frame)

	// fdFlagBits are the bits of canfd_frame.flags a Frame carries: the
	// candump flag nibble, BRS, ESI, FDF and 0x08, which no kernel header
	// names yet but the kernel passes through (cansend 123##8AA arrives as
	// 123##CAA, FDF added). Masking to the named bits would turn a log's
	// 123##B11 into 123##711 on replay, where canplayer sends 123##F11.
	fdFlagBits = 0x0F
)

// Both structs start with can_id (host order), then the length:
//
//	struct can_frame   { u32 can_id; u8 len; u8 pad; u8 res0; u8 len8_dlc; u8 data[8]; }
//	struct canfd_frame { u32 can_id; u8 len; u8 flags; u8 res0; u8 res1; u8 data[64]; }
var hostOrder = binary.NativeEndian

// decodeFrame converts a frame read from a raw socket. The read size tells
// the struct: 16 bytes is a can_frame, 72 a canfd_frame. It reports false
// for any other size (a CAN XL frame, which Kanal does not ask for).
func decodeFrame(b []byte) (can.Frame, bool) {
	var f can.Frame
	if len(b) != classicMTU && len(b) != fdMTU {
		return f, false
	}
	id := hostOrder.Uint32(b[0:4])
	switch {
	case id&errFlag != 0:
		f.Flags |= can.Error
		f.ID = id & effMask
	case id&EFF != 0:
		f.Flags |= can.Extended
		f.ID = id & effMask
	default:
		f.ID = id & sffMask
	}
	f.Len = b[4]
	if len(b) == fdMTU {
		f.Flags |= can.FD | can.Flags(b[5])&fdFlagBits
		f.Len = min(f.Len, can.MaxFDLen)
		copy(f.Data[:f.Len], b[8:8+int(f.Len)])
		return f, true
	}
	f.Len = min(f.Len, can.MaxClassicLen)
	if id&rtrFlag != 0 {
		f.Flags |= can.Remote
		return f, true // the length is the one requested; there is no data
	}
	if f.Len == can.MaxClassicLen && b[7] > can.MaxClassicLen && b[7] <= 15 {
		f.DLC = b[7]
	}
	copy(f.Data[:f.Len], b[8:8+int(f.Len)])
	return f, true
}

// encodeFrame writes f as the kernel struct into b and returns the number
// of bytes to write: 16 for a classic frame, 72 for an FD frame.
func encodeFrame(b *[fdMTU]byte, f can.Frame) (int, error) {
	if err := f.Validate(); err != nil {
		return 0, fmt.Errorf("frame %s: %w", f, err)
	}
	id := f.ID
	switch {
	case f.IsError():
		id |= errFlag
	case f.IsExtended():
		id |= EFF
	}
	if f.IsRemote() {
		id |= rtrFlag
	}
	*b = [fdMTU]byte{}
	hostOrder.PutUint32(b[0:4], id)
	b[4] = f.Len
	if f.IsFD() {
		b[5] = byte(f.Flags & fdFlagBits)
		copy(b[8:], f.Data[:f.Len])
		return fdMTU, nil
	}
	b[7] = f.DLC
	if !f.IsRemote() {
		copy(b[8:16], f.Data[:f.Len])
	}
	return classicMTU, nil
}
