package can

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// DropReport is a DROPCOUNT line of a candump log. `candump -l -d` writes
// one when the kernel dropped frames for its socket because candump fell
// behind, before the next frame it logs:
//
//	DROPCOUNT: dropped 2829 CAN frames on 'vcan0' socket (total drops 2829)
//
// It is neither a frame nor malformed: it marks a gap in the recording.
// can-utils' canplayer skips it silently; LogReader passes it to
// LogReaderOptions.OnDrops and counts it (Drops), so commands can tell the
// user that the log is incomplete.
type DropReport struct {
	File    string // the log, as LineError names it
	Line    int
	Bus     string // the interface candump named, e.g. "vcan0" (or "any")
	Dropped uint32 // frames lost since the previous report for that socket
	Total   uint32 // frames lost since candump opened the socket
}

func (d DropReport) String() string {
	return fmt.Sprintf("%s:%d: the recorder dropped %d frames on %s (total %d)", d.File, d.Line, d.Dropped, d.Bus, d.Total)
}

// dropPrefix starts every DROPCOUNT line candump writes.
var dropPrefix = []byte("DROPCOUNT:")

var errDropCount = errors.New(`bad DROPCOUNT line, want "DROPCOUNT: dropped N CAN frames on 'IFACE' socket (total drops N)"`)

// parseDropCount parses the text of a DROPCOUNT line (without newline).
// can-utils has written it in these forms, all accepted:
//
//	DROPCOUNT: dropped %d CAN frame%s on '%s' socket (total drops %d)   until 2021 (Debian 11, 12)
//	DROPCOUNT: dropped %u CAN frame%s on '%s' socket (total drops %u)   since
//
// "frame" is singular for one frame. %d prints counts over 2^31 as
// negative numbers, which are read back as the uint32 they were. The name is
// candump's interface argument in older versions and the receiving device in
// newer ones. " socket" is optional, and a trailing CR is ignored.
func parseDropCount(line []byte) (bus []byte, dropped, total uint32, err error) {
	s := bytes.TrimRight(line, "\r")
	s, ok := bytes.CutPrefix(s, []byte("DROPCOUNT: dropped "))
	if !ok {
		return nil, 0, 0, errDropCount
	}
	if dropped, s, ok = cutCount(s); !ok {
		return nil, 0, 0, errDropCount
	}
	if s, ok = bytes.CutPrefix(s, []byte(" CAN frame")); !ok {
		return nil, 0, 0, errDropCount
	}
	s, _ = bytes.CutPrefix(s, []byte("s"))
	if s, ok = bytes.CutPrefix(s, []byte(" on '")); !ok {
		return nil, 0, 0, errDropCount
	}
	end := bytes.LastIndex(s, []byte("' "))
	if end <= 0 {
		return nil, 0, 0, errDropCount
	}
	bus, s = s[:end], s[end+2:]
	if bytes.ContainsAny(bus, " \t") {
		return nil, 0, 0, errDropCount
	}
	s, _ = bytes.CutPrefix(s, []byte("socket "))
	if s, ok = bytes.CutPrefix(s, []byte("(total drops ")); !ok {
		return nil, 0, 0, errDropCount
	}
	if total, s, ok = cutCount(s); !ok || string(s) != ")" {
		return nil, 0, 0, errDropCount
	}
	return bus, dropped, total, nil
}

// cutCount parses a decimal count as printf's %d or %u wrote a 32-bit
// counter, and returns the rest of s.
func cutCount(s []byte) (uint32, []byte, bool) {
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	var v uint64
	i := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if v = v*10 + uint64(s[i]-'0'); v > 1<<32-1 {
			return 0, nil, false
		}
	}
	if i == 0 || (neg && v > 1<<31) {
		return 0, nil, false
	}
	if neg {
		return uint32(-int64(v)), s[i:], true
	}
	return uint32(v), s[i:], true
}

// AppendDropCount appends the DROPCOUNT line (without newline) that
// current can-utils' `candump -l -d` writes when the kernel dropped
// dropped frames on bus, total of them since the socket was opened:
//
//	DROPCOUNT: dropped 2829 CAN frames on 'vcan0' socket (total drops 2829)
func AppendDropCount(dst []byte, bus string, dropped, total uint32) []byte {
	dst = append(dst, "DROPCOUNT: dropped "...)
	dst = strconv.AppendUint(dst, uint64(dropped), 10)
	dst = append(dst, " CAN frame"...)
	if dropped != 1 {
		dst = append(dst, 's')
	}
	dst = append(dst, " on '"...)
	dst = append(dst, bus...)
	dst = append(dst, "' socket (total drops "...)
	dst = strconv.AppendUint(dst, uint64(total), 10)
	return append(dst, ')')
}
