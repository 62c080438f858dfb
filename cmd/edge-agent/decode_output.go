package main

// What decode prints: the JSON Lines contract of DESIGN.md (by DBC name or,
// with --normalized, by catalog path), the table for people, and the counts.

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/kanal-dev/kanal/can"
	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/dbc"
)

// decoded is one frame to print: the pipeline's output, and the values of
// it that pass the filters (DBC values, or catalog values with
// --normalized).
type decoded struct {
	t     *can.Timed
	fv    *dbc.FrameValues
	vals  []dbc.Value
	cvals []catalog.Value
}

// emitter formats one decoded frame.
type emitter interface {
	frame(b []byte, d *decoded) []byte
}

// jsonEmitter writes the JSON Lines contract of DESIGN.md by hand:
// encoding/json would allocate per frame and reorder nothing we need.
type jsonEmitter struct {
	keys map[*dbc.Plan][][]byte // per plan, per SigRef: `"name":`
}

func (e *jsonEmitter) frame(b []byte, d *decoded) []byte {
	t, p, res, vals := d.t, d.fv.Plan, d.fv.Result, d.vals
	keys := e.keys[p]
	if keys == nil {
		for _, s := range p.Signals() {
			keys = append(keys, append(appendJSONString(nil, s.Name), ':'))
		}
		e.keys[p] = keys
	}
	b = appendJSONHead(b, t, p.Message(res.Msg).Name)
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, keys[v.Sig]...)
		b = p.AppendNumber(b, v)
	}
	return append(b, "}}\n"...)
}

// appendJSONHead writes a JSON Lines record up to the opening of its
// "signals" object: {"t":…,"bus":…,"id":…,"msg":…,"signals":{
func appendJSONHead(b []byte, t *can.Timed, msg string) []byte {
	b = append(b, `{"t":`...)
	b = appendTime(b, t.Time)
	b = append(b, `,"bus":`...)
	b = appendJSONString(b, t.Bus)
	b = append(b, `,"id":`...)
	b = strconv.AppendUint(b, uint64(t.Frame.ID), 10)
	b = append(b, `,"msg":`...)
	b = appendJSONString(b, msg)
	return append(b, `,"signals":{`...)
}

// appendTime writes seconds with the log's microseconds (candump's
// precision), or nanoseconds when the log had finer digits.
func appendTime(b []byte, t time.Time) []byte {
	sec, ns := t.Unix(), t.Nanosecond()
	b = strconv.AppendInt(b, sec, 10)
	b = append(b, '.')
	frac, digits := ns/1000, 6
	if ns%1000 != 0 {
		frac, digits = ns, 9
	}
	s := strconv.Itoa(frac)
	for i := len(s); i < digits; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// normJSONEmitter writes the JSON Lines contract with catalog values:
// "signals" keyed by catalog path, "ids" giving each path's catalog id.
type normJSONEmitter struct {
	cat  *catalog.Catalog
	keys map[uint32][]byte // catalog id → `"path"`
}

func (e *normJSONEmitter) key(id uint32) []byte {
	k, ok := e.keys[id]
	if !ok {
		path := "?"
		if ent, found := e.cat.ByID(id); found {
			path = ent.Path
		}
		k = appendJSONString(nil, path)
		e.keys[id] = k
	}
	return k
}

func (e *normJSONEmitter) frame(b []byte, d *decoded) []byte {
	b = appendJSONHead(b, d.t, d.fv.Plan.Message(d.fv.Result.Msg).Name)
	for i, v := range d.cvals {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e.key(v.ID)...)
		b = append(b, ':')
		b = appendJSONNumber(b, v.Num)
	}
	b = append(b, `},"ids":{`...)
	for i, v := range d.cvals {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e.key(v.ID)...)
		b = append(b, ':')
		b = strconv.AppendUint(b, uint64(v.ID), 10)
	}
	return append(b, "}}\n"...)
}

// appendJSONNumber appends f in its shortest form; NaN and infinities,
// which JSON cannot carry, become null.
func appendJSONNumber(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// normTableEmitter is tableEmitter for catalog values: path = value unit,
// with the catalog id and, for enums, the label.
type normTableEmitter struct {
	cat *catalog.Catalog
}

func (e *normTableEmitter) frame(b []byte, d *decoded) []byte {
	t := d.t
	b = t.Time.UTC().AppendFormat(b, tableTime)
	b = append(b, ' ')
	b = append(b, t.Bus...)
	b = append(b, ' ')
	b = append(b, d.fv.Plan.Message(d.fv.Result.Msg).Name...)
	for _, v := range d.cvals {
		ent, _ := e.cat.ByID(v.ID)
		path := "?"
		if ent != nil {
			path = ent.Path
		}
		b = fmt.Appendf(b, "\n    %-6d %s = ", v.ID, path)
		b = appendJSONNumber(b, v.Num)
		if ent != nil {
			if ent.Unit != "" {
				b = append(b, ' ')
				b = append(b, ent.Unit...)
			}
			if l, ok := ent.Label(v.Num); ok {
				b = fmt.Appendf(b, " (%s)", l)
			} else if ent.Type == catalog.Bool {
				b = append(b, [...]string{" (false)", " (true)"}[min(1, int(math.Abs(v.Num)))]...)
			}
		}
	}
	return append(b, '\n')
}

// tableTime is how the table output shows a frame's time: UTC, to the
// microsecond of candump.
const tableTime = "2006-01-02 15:04:05.000000"

// tableEmitter writes one line per frame for people: time, bus, id, message,
// then name=value with unit and, where the value table has one, the label.
type tableEmitter struct{}

func (tableEmitter) frame(b []byte, d *decoded) []byte {
	t, p, vals := d.t, d.fv.Plan, d.vals
	m := p.Message(d.fv.Result.Msg)
	b = t.Time.UTC().AppendFormat(b, tableTime)
	b = append(b, ' ')
	b = append(b, t.Bus...)
	b = append(b, ' ')
	if m.Extended {
		b = fmt.Appendf(b, "%08X", t.Frame.ID)
	} else {
		b = fmt.Appendf(b, "%03X", t.Frame.ID)
	}
	b = append(b, ' ')
	b = append(b, m.Name...)
	for _, v := range vals {
		s := p.Signal(v.Sig)
		b = append(b, "\n    "...)
		b = append(b, s.Name...)
		b = append(b, " = "...)
		b = p.AppendNumber(b, v)
		if s.Unit != "" {
			b = append(b, ' ')
			b = append(b, s.Unit...)
		}
		if l, ok := s.Label(int64(v.Raw)); ok {
			b = fmt.Appendf(b, " (%s)", l)
		}
		if s.HasRange() && (v.Num < s.Min || v.Num > s.Max) {
			b = fmt.Appendf(b, "  [outside %g..%g]", s.Min, s.Max)
		}
	}
	return append(b, '\n')
}

func writeCounts(w io.Writer, st dbc.Stats, malformed int, elapsed time.Duration) {
	fmt.Fprintf(w, "frames        %d\n", st.Frames)
	fmt.Fprintf(w, "decoded       %d\n", st.Decoded)
	for s, n := range st.Skipped {
		if dbc.Status(s) != dbc.Decoded {
			fmt.Fprintf(w, "skipped %-13s %d\n", dbc.Status(s).String()+":", n)
		}
	}
	if st.NoPlan > 0 {
		fmt.Fprintf(w, "  (of unknown_id, on a bus without DBC: %d)\n", st.NoPlan)
	}
	fmt.Fprintf(w, "values        %d\n", st.Values)
	fmt.Fprintf(w, "out of range  %d\n", st.OutOfRange)
	fmt.Fprintf(w, "malformed     %d\n", malformed)
	sec := elapsed.Seconds()
	if sec > 0 {
		fmt.Fprintf(w, "rate          %.0f frames/s, %.0f values/s (%.3fs, reading included)\n",
			float64(st.Frames)/sec, float64(st.Values)/sec, sec)
	}
}
