package batch

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/uplink/batch/internal/batchpb"
)

// The decoder reads a Body straight off the wire with protowire instead of
// unmarshaling it into batchpb messages. Unmarshaling allocates a Column
// struct of about 200 bytes for every column message, and an empty column
// is 2 bytes: a 4 MiB body, which zstd makes from a few hundred bytes of
// payload, would cost 400 MiB. Read this way, a body costs nothing beyond
// the values it holds, which the header's count (≤ max_values) bounds.
//
// It accepts what any protobuf encoder may write for batch.proto: fields
// in any order, repeated fields packed or not (or both), unknown fields
// (skipped), a scalar given twice (the last wins).

// Field numbers of Body and Column, as in batch.proto.
const (
	bodyTimeBase = 1
	bodyColumns  = 2

	colID       = 1
	colTimeExp  = 2
	colTimeStep = 3
	colTimes    = 4
	colKind     = 5
	colExponent = 6
	colStep     = 7
	colInts     = 8
	colULPs     = 9
	colFloat32s = 10
	colFloat64s = 11
)

// elem is the encoding of the elements of a repeated field.
type elem uint8

const (
	elemVarint elem = iota
	elemFixed32
	elemFixed64
)

var elemWireType = [...]protowire.Type{elemVarint: protowire.VarintType, elemFixed32: protowire.Fixed32Type, elemFixed64: protowire.Fixed64Type}

// column is what scanColumn learns of a column message: its scalars and
// how many elements each repeated field has.
type column struct {
	id, timeExp, exponent                 uint32
	timeStep, step                        uint64
	kind                                  batchpb.Kind
	times, ints, ulps, float32s, float64s int
}

// readBody fills out (len = the header's value count) from a serialized
// Body, checking that column ids ascend and that the columns hold exactly
// len(out) values.
func readBody(raw []byte, out []catalog.Value) error {
	var base int64
	for m := raw; len(m) > 0; { // first the time base, wherever it is
		num, typ, v, _, n, err := consumeField(m)
		if err != nil {
			return fmt.Errorf("body: %w", err)
		}
		m = m[n:]
		switch {
		case num == bodyTimeBase && typ == protowire.VarintType:
			base = int64(v)
		case num == bodyTimeBase, num == bodyColumns && typ != protowire.BytesType:
			return fmt.Errorf("body: field %d has wire type %d", num, typ)
		}
	}
	if base > maxBaseS || base < -maxBaseS {
		return fmt.Errorf("body: time_base_s %d out of range", base)
	}
	at, i := 0, -1
	var prev uint32
	for m := raw; len(m) > 0; {
		num, _, _, tag, n, _ := consumeField(m) // checked above
		field := m[tag:n]
		m = m[n:]
		if num != bodyColumns {
			continue
		}
		i++
		msg, _ := protowire.ConsumeBytes(field)
		c, err := scanColumn(msg)
		if err != nil {
			return fmt.Errorf("column %d: %w", i, err)
		}
		switch {
		case c.id == 0:
			return fmt.Errorf("column %d: catalog id 0", i)
		case c.id <= prev:
			return fmt.Errorf("column %d: id %d after id %d (want ascending, each once)", i, c.id, prev)
		case c.times == 0:
			return fmt.Errorf("column %d (id %d): no values", i, c.id)
		case c.times > len(out)-at:
			return fmt.Errorf("column %d (id %d): more values than the header's %d", i, c.id, len(out))
		}
		prev = c.id
		vals := out[at : at+c.times]
		for j := range vals {
			vals[j].ID = c.id
		}
		if err := readTimes(vals, msg, &c, base); err != nil {
			return fmt.Errorf("column %d (id %d): %w", i, c.id, err)
		}
		if err := readValues(vals, msg, &c); err != nil {
			return fmt.Errorf("column %d (id %d): %w", i, c.id, err)
		}
		at += len(vals)
	}
	if at != len(out) {
		return fmt.Errorf("body: %d values, header says %d", at, len(out))
	}
	return nil
}

// consumeField parses the field at the start of m: its number, wire type,
// varint value (for varint fields), the length of its tag and its total
// length.
func consumeField(m []byte) (num protowire.Number, typ protowire.Type, v uint64, tag, n int, err error) {
	num, typ, tag = protowire.ConsumeTag(m)
	if tag < 0 {
		return 0, 0, 0, 0, 0, protowire.ParseError(tag)
	}
	var l int
	if typ == protowire.VarintType {
		v, l = protowire.ConsumeVarint(m[tag:])
	} else {
		l = protowire.ConsumeFieldValue(num, typ, m[tag:])
	}
	if l < 0 {
		return 0, 0, 0, 0, 0, fmt.Errorf("field %d: %w", num, protowire.ParseError(l))
	}
	return num, typ, v, tag, tag + l, nil
}

// scanColumn checks the encoding of a column message and returns its
// scalars and element counts.
func scanColumn(m []byte) (column, error) {
	var c column
	for len(m) > 0 {
		num, typ, v, tag, n, err := consumeField(m)
		if err != nil {
			return c, err
		}
		val := m[tag:n]
		m = m[n:]
		var count *int
		var e elem
		switch num {
		case colID, colTimeExp, colTimeStep, colKind, colExponent, colStep:
			if typ != protowire.VarintType {
				return c, fmt.Errorf("field %d has wire type %d, want varint", num, typ)
			}
			switch num { // 32-bit fields truncate, as in every protobuf runtime
			case colID:
				c.id = uint32(v)
			case colTimeExp:
				c.timeExp = uint32(v)
			case colTimeStep:
				c.timeStep = v
			case colKind:
				c.kind = batchpb.Kind(int32(v))
			case colExponent:
				c.exponent = uint32(v)
			case colStep:
				c.step = v
			}
			continue
		case colTimes:
			count, e = &c.times, elemVarint
		case colInts:
			count, e = &c.ints, elemVarint
		case colULPs:
			count, e = &c.ulps, elemVarint
		case colFloat32s:
			count, e = &c.float32s, elemFixed32
		case colFloat64s:
			count, e = &c.float64s, elemFixed64
		default:
			continue // unknown: skipped
		}
		k, err := countElems(val, typ, e)
		if err != nil {
			return c, fmt.Errorf("field %d: %w", num, err)
		}
		*count += k
	}
	return c, nil
}

var errPacked = errors.New("packed elements do not fill the field")

// countElems counts the elements in the value val of one occurrence of a
// repeated field: packed (bytes) or a single element.
func countElems(val []byte, typ protowire.Type, e elem) (int, error) {
	if typ != protowire.BytesType {
		if typ != elemWireType[e] {
			return 0, fmt.Errorf("wire type %d, want %d or packed", typ, elemWireType[e])
		}
		return 1, nil
	}
	p, _ := protowire.ConsumeBytes(val)
	switch e {
	case elemFixed32:
		if len(p)%4 != 0 {
			return 0, errPacked
		}
		return len(p) / 4, nil
	case elemFixed64:
		if len(p)%8 != 0 {
			return 0, errPacked
		}
		return len(p) / 8, nil
	}
	k := 0
	for len(p) > 0 {
		_, n := protowire.ConsumeVarint(p)
		if n < 0 {
			return 0, errPacked
		}
		p = p[n:]
		k++
	}
	return k, nil
}

// forEach calls fn with every element of the repeated field num of the
// column message m, in order. scanColumn has checked m.
func forEach(m []byte, num protowire.Number, e elem, fn func(i int, v uint64)) {
	i := 0
	for len(m) > 0 {
		n, typ, l := protowire.ConsumeTag(m)
		m = m[l:]
		l = protowire.ConsumeFieldValue(n, typ, m)
		val := m[:l]
		m = m[l:]
		if n != num {
			continue
		}
		if typ == protowire.BytesType {
			val, _ = protowire.ConsumeBytes(val)
			for len(val) > 0 {
				v, k := consumeElem(val, e)
				fn(i, v)
				i++
				val = val[k:]
			}
			continue
		}
		v, _ := consumeElem(val, e)
		fn(i, v)
		i++
	}
}

func consumeElem(b []byte, e elem) (uint64, int) {
	switch e {
	case elemFixed32:
		v, n := protowire.ConsumeFixed32(b)
		return uint64(v), n
	case elemFixed64:
		return protowire.ConsumeFixed64(b)
	}
	return protowire.ConsumeVarint(b)
}
