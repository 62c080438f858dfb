package socketcan

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// parseControl reads the receive timestamp and the drop counter from the
// control messages of a recvmsg, in place and without allocating
// (unix.ParseSocketControlMessage would allocate a slice per frame).
func parseControl(oob []byte) (ts time.Time, drops uint32, haveDrops bool) {
	hdrLen := unix.CmsgLen(0)
	for len(oob) >= hdrLen {
		var l int
		if unix.SizeofCmsghdr == 16 { // cmsg_len is a size_t
			l = int(hostOrder.Uint64(oob))
		} else {
			l = int(hostOrder.Uint32(oob))
		}
		off := unix.SizeofCmsghdr - 8
		level := int32(hostOrder.Uint32(oob[off:]))
		typ := int32(hostOrder.Uint32(oob[off+4:]))
		if l < hdrLen || l > len(oob) {
			return
		}
		data := oob[hdrLen:l]
		if level == unix.SOL_SOCKET {
			switch {
			case typ == unix.SO_TIMESTAMPNS_NEW && len(data) >= 16:
				ts = time.Unix(int64(hostOrder.Uint64(data)), int64(hostOrder.Uint64(data[8:])))
			case typ == unix.SO_TIMESTAMPNS_OLD && len(data) >= 16 && unsafe.Sizeof(uintptr(0)) == 8:
				ts = time.Unix(int64(hostOrder.Uint64(data)), int64(hostOrder.Uint64(data[8:])))
			case typ == unix.SO_TIMESTAMPNS_OLD && len(data) >= 8: // struct timespec of 32-bit longs
				ts = time.Unix(int64(int32(hostOrder.Uint32(data))), int64(int32(hostOrder.Uint32(data[4:]))))
			case typ == unix.SO_RXQ_OVFL && len(data) >= 4:
				drops, haveDrops = hostOrder.Uint32(data), true
			}
		}
		next := unix.CmsgSpace(l - hdrLen)
		if next > len(oob) {
			return
		}
		oob = oob[next:]
	}
	return
}
