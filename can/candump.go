package can

import (
	"errors"
	"fmt"
	"time"
)

// The candump text format, as can-utils writes it (lib.c snprintf_canframe,
// candump.c log file mode):
//
//	(1732221946.679678) can0 167#72801C000019FE00     classic, 11-bit id
//	(1732221946.679678) can0 1BFC0C00#0102            classic, 29-bit id (8 hex digits)
//	(1732221946.679678) can0 123#R                    remote frame
//	(1732221946.679678) can0 123#R8_E                 remote frame, length 8, raw DLC 14
//	(1732221946.679678) can0 123#1122334455667788_9   8 bytes, raw DLC 9
//	(1732221946.679678) can0 20000004#0004000000000000 error frame (CAN_ERR_FLAG)
//	(1732221946.679678) can0 123##1001122            FD frame, flags nibble (BRS=1, ESI=2), data
//
// The parser accepts what can-utils' parse_canframe accepts (lower-case hex,
// '.' between bytes) and rejects what it would silently mangle (a 3-digit id
// over 0x7FF, flag bits 30–31 in an 8-digit id, an odd number of digits);
// the writer writes the canonical form, so every line can-utils writes reads
// back and writes out identically.

const hexUpper = "0123456789ABCDEF"

// Why a candump line is malformed; LineError wraps them with file and line.
var (
	errNoDelim     = errors.New("no '#' after a 3- or 8-digit id")
	errBadHex      = errors.New("bad hex digit")
	errOddData     = errors.New("odd number of data digits")
	errTooLong     = errors.New("too many data bytes")
	errStdID       = errors.New("standard id over 0x7FF")
	errIDFlags     = errors.New("id has flag bits 30-31 set")
	errBadRawDLC   = errors.New("raw DLC must be 9-F after 8 data bytes")
	errBadRTRLen   = errors.New("remote frame length must be 0-8")
	errTimestamp   = errors.New("bad timestamp, want (seconds.fraction)")
	errNoInterface = errors.New("missing interface name")
	errNoFrame     = errors.New("missing frame")
	errTrailing    = errors.New("unexpected text after frame")
)

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// ParseFrame parses the frame part of a candump line, e.g. `123#DEADBEEF`.
func ParseFrame(s []byte) (Frame, error) {
	var f Frame
	var idx int
	switch {
	case len(s) > 3 && s[3] == '#':
		idx = 3
	case len(s) > 8 && s[8] == '#':
		idx = 8
	default:
		return f, errNoDelim
	}
	var id uint32
	for _, c := range s[:idx] {
		n, ok := unhex(c)
		if !ok {
			return f, fmt.Errorf("%w %q in id", errBadHex, c)
		}
		id = id<<4 | uint32(n)
	}
	if idx == 3 {
		if id > MaxStandardID {
			return f, errStdID
		}
	} else {
		switch {
		case id&^(MaxExtendedID|errFlag) != 0:
			return f, errIDFlags
		case id&errFlag != 0:
			f.Flags |= Error
			id &^= errFlag
		default:
			f.Flags |= Extended
		}
	}
	f.ID = id
	rest := s[idx+1:]

	if len(rest) > 0 && (rest[0] == 'R' || rest[0] == 'r') {
		if f.Flags&Error != 0 {
			return f, fmt.Errorf("%w: remote error frame", ErrFlagMix)
		}
		f.Flags |= Remote
		rest = rest[1:]
		if len(rest) == 0 {
			return f, nil
		}
		n, ok := unhex(rest[0])
		if !ok || n > MaxClassicLen {
			return f, errBadRTRLen
		}
		f.Len = n
		rest = rest[1:]
		if len(rest) == 0 {
			return f, nil
		}
		if f.Len != MaxClassicLen {
			return f, errTrailing
		}
		return f, parseRawDLC(&f, rest)
	}

	maxLen := MaxClassicLen
	if len(rest) > 0 && rest[0] == '#' {
		if f.Flags&Error != 0 {
			return f, fmt.Errorf("%w: FD error frame", ErrFlagMix)
		}
		if len(rest) < 2 {
			return f, fmt.Errorf("%w: missing FD flags", errBadHex)
		}
		n, ok := unhex(rest[1])
		if !ok {
			return f, fmt.Errorf("%w %q in FD flags", errBadHex, rest[1])
		}
		f.Flags |= FD | Flags(n)
		maxLen = MaxFDLen
		rest = rest[2:]
	}

	i := 0
	for i < len(rest) {
		c := rest[i]
		if c == '.' {
			i++
			continue
		}
		if c == '_' {
			break
		}
		if int(f.Len) == maxLen {
			return f, errTooLong
		}
		hi, ok := unhex(c)
		if !ok {
			return f, fmt.Errorf("%w %q in data", errBadHex, c)
		}
		if i+1 >= len(rest) {
			return f, errOddData
		}
		lo, ok := unhex(rest[i+1])
		if !ok {
			return f, fmt.Errorf("%w %q in data", errBadHex, rest[i+1])
		}
		f.Data[f.Len] = hi<<4 | lo
		f.Len++
		i += 2
	}
	if i < len(rest) { // at '_'
		if f.IsFD() || f.Len != MaxClassicLen {
			return f, errBadRawDLC
		}
		return f, parseRawDLC(&f, rest[i:])
	}
	return f, nil
}

// parseRawDLC parses `_X`, the raw DLC 9–15 of a classic 8-byte frame.
func parseRawDLC(f *Frame, s []byte) error {
	if len(s) != 2 || s[0] != '_' {
		return errBadRawDLC
	}
	n, ok := unhex(s[1])
	if !ok || n <= MaxClassicLen {
		return errBadRawDLC
	}
	f.DLC = n
	return nil
}

// errFlag is CAN_ERR_FLAG, the error-frame bit of a kernel can_id.
const errFlag = 0x20000000

// AppendText appends the candump form of f to b, as can-utils writes it.
func (f Frame) AppendText(b []byte) []byte {
	switch {
	case f.Flags&Error != 0:
		b = appendHex32(b, (f.ID&MaxExtendedID)|errFlag, 8)
	case f.Flags&Extended != 0:
		b = appendHex32(b, f.ID&MaxExtendedID, 8)
	default:
		b = appendHex32(b, f.ID&MaxStandardID, 3)
	}
	b = append(b, '#')
	n := int(f.Len)
	if f.Flags&FD == 0 {
		n = min(n, MaxClassicLen)
		if f.Flags&Remote != 0 {
			b = append(b, 'R')
			if n > 0 {
				b = append(b, hexUpper[n])
				if n == MaxClassicLen && f.DLC > MaxClassicLen {
					b = append(b, '_', hexUpper[f.DLC&0x0F])
				}
			}
			return b
		}
	} else {
		n = min(n, MaxFDLen)
		b = append(b, '#', hexUpper[f.Flags&fdNibble])
	}
	for _, c := range f.Data[:n] {
		b = append(b, hexUpper[c>>4], hexUpper[c&0x0F])
	}
	if f.Flags&FD == 0 && n == MaxClassicLen && f.DLC > MaxClassicLen {
		b = append(b, '_', hexUpper[f.DLC&0x0F])
	}
	return b
}

func appendHex32(b []byte, v uint32, digits int) []byte {
	for shift := (digits - 1) * 4; shift >= 0; shift -= 4 {
		b = append(b, hexUpper[(v>>uint(shift))&0x0F])
	}
	return b
}

// logLine is a parsed candump log line whose interface name still points
// into the input, so the reader can intern it without allocating.
type logLine struct {
	sec, nsec int64
	bus       []byte
	frame     Frame
}

// parseLogLine parses `(sec.frac) iface frame`. Runs of spaces or tabs
// separate the fields (candump -L pads interface names); a trailing CR is
// ignored. Up to 9 fraction digits are kept (nanoseconds).
func parseLogLine(line []byte) (logLine, error) {
	var l logLine
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) < 4 || line[0] != '(' {
		return l, errTimestamp
	}
	i := 1
	start := i
	for i < len(line) && line[i] >= '0' && line[i] <= '9' {
		if i-start >= 18 {
			return l, errTimestamp
		}
		l.sec = l.sec*10 + int64(line[i]-'0')
		i++
	}
	if i == start || i >= len(line) || line[i] != '.' {
		return l, errTimestamp
	}
	i++
	start = i
	var frac int64
	for i < len(line) && line[i] >= '0' && line[i] <= '9' {
		if i-start >= 9 {
			return l, errTimestamp
		}
		frac = frac*10 + int64(line[i]-'0')
		i++
	}
	digits := i - start
	if digits == 0 || i >= len(line) || line[i] != ')' {
		return l, errTimestamp
	}
	for ; digits < 9; digits++ {
		frac *= 10
	}
	l.nsec = frac
	i++
	i = skipBlank(line, i)
	start = i
	for i < len(line) && line[i] != ' ' && line[i] != '\t' {
		i++
	}
	if i == start || i == len(line) {
		if i == start {
			return l, errNoInterface
		}
		return l, errNoFrame
	}
	l.bus = line[start:i]
	i = skipBlank(line, i)
	start = i
	for i < len(line) && line[i] != ' ' && line[i] != '\t' {
		i++
	}
	if i == start {
		return l, errNoFrame
	}
	frameText := line[start:i]
	// candump -l may be followed by a direction flag (" T"/" R") in some
	// versions; any other trailing text is an error.
	if j := skipBlank(line, i); j < len(line) {
		if j != len(line)-1 || (line[j] != 'T' && line[j] != 'R') {
			return l, errTrailing
		}
	}
	f, err := ParseFrame(frameText)
	if err != nil {
		return l, err
	}
	l.frame = f
	return l, nil
}

func skipBlank(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	return i
}

// ParseLogLine parses one line of a candump log file,
// `(1732221946.679678) can0 167#72801C000019FE00`.
func ParseLogLine(line string) (Timed, error) {
	l, err := parseLogLine([]byte(line))
	if err != nil {
		return Timed{}, err
	}
	return Timed{Time: time.Unix(l.sec, l.nsec).UTC(), Bus: string(l.bus), Frame: l.frame}, nil
}

// AppendLogLine appends t as a candump log line, without the newline:
// `(%010d.%06d) bus frame`. Time is written in microseconds, as candump does;
// finer digits are truncated.
func AppendLogLine(b []byte, t Timed) []byte {
	sec := t.Time.Unix()
	usec := int64(t.Time.Nanosecond() / 1000)
	b = append(b, '(')
	b = appendPadded(b, sec, 10)
	b = append(b, '.')
	b = appendPadded(b, usec, 6)
	b = append(b, ')', ' ')
	b = append(b, t.Bus...)
	b = append(b, ' ')
	return t.Frame.AppendText(b)
}

// appendPadded appends v in decimal, zero-padded to at least width digits.
func appendPadded(b []byte, v int64, width int) []byte {
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	var buf [20]byte
	i := len(buf)
	for v >= 10 {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	i--
	buf[i] = byte('0' + v)
	for n := len(buf) - i; n < width; n++ {
		b = append(b, '0')
	}
	return append(b, buf[i:]...)
}
