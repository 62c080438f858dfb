package broker

// frameGuard follows the MQTT framing of a connection's inbound bytes, so
// that an oversized packet is seen from its fixed header, before mochi
// allocates its body, and can be answered with DISCONNECT 0x95 (mochi
// itself closes the connection without a word; see DESIGN.md). It costs a
// few operations per packet, not per byte: bodies are skipped by count.
//
// A packet's size is MQTT's: the fixed header (type byte and 1 to 4 bytes
// of remaining length) plus the remaining length.
type frameGuard struct {
	max     int // largest packet allowed, bytes
	state   uint8
	length  int // remaining length decoded so far
	mult    int
	lenSize int // bytes of the remaining length read so far
	skip    int // body bytes still to pass
	packets int // packets fully read
	size    int // size of the oversized packet, once found
}

const (
	stHeader uint8 = iota // next byte is a packet's first
	stLength              // in the remaining length
	stBody                // in a body
	stDone                // oversized or malformed: stop following
)

// scan follows p, the next bytes of the stream. It returns how many of
// them may be passed on (all of them, or those before the header of an
// oversized packet) and whether a packet over the limit begins in p or
// before it. A remaining length longer than 4 bytes is malformed: scan
// stops following and lets mochi report it.
func (g *frameGuard) scan(p []byte) (pass int, tooLarge bool) {
	start := 0 // where the current packet's header began in p (0 if before)
	for i := 0; i < len(p); {
		switch g.state {
		case stHeader:
			start = i
			g.state, g.length, g.mult, g.lenSize = stLength, 0, 1, 0
			i++
		case stLength:
			b := p[i]
			i++
			g.length += int(b&0x7f) * g.mult
			g.mult *= 128
			g.lenSize++
			if b&0x80 != 0 {
				if g.lenSize == 4 {
					g.state = stDone
					return len(p), false
				}
				continue
			}
			if size := 1 + g.lenSize + g.length; size > g.max {
				g.state, g.size = stDone, size
				return start, true
			}
			g.skip, g.state = g.length, stBody
			if g.skip == 0 {
				g.state = stHeader
				g.packets++
			}
		case stBody:
			n := min(g.skip, len(p)-i)
			i += n
			g.skip -= n
			if g.skip == 0 {
				g.state = stHeader
				g.packets++
			}
		case stDone:
			return len(p), false
		}
	}
	return len(p), false
}
