package batch

// Worst-case sizes of the wire format, in bytes, for Bound. A varint of a
// 64-bit number takes at most 10 bytes, of a 32-bit one 5; a tag 1 (every
// field number is below 16).
const (
	// The header message: schema, vehicle and boot (at most MaxIDLen each),
	// seq, sent_at (fixed 8), keyframe, priority, values, codec, body_size.
	maxHeaderBytes = (1 + 5) + 2*(1+1+MaxIDLen) + (1 + 10) + (1 + 8) + 2*(1+1) + (1 + 5) + (1 + 1) + (1 + 5)
	// The payload around the body: the header field and the body's tag and
	// length.
	maxOuterBytes = (1 + 2 + maxHeaderBytes) + (1 + 5)
	// The body without columns: time_base_s.
	maxBodyBytes = 1 + 10
	// One column without its values: its tag and length, id, time_exp,
	// kind, exponent, and the tag and length of its packed fields (times;
	// ints or float32s or float64s; ulps).
	maxColumnBytes = (1 + 5) + (1 + 5) + (1 + 1) + (1 + 1) + (1 + 1) + 3*(1+5)
	// time_step and step, which only a column of two values or more has.
	maxStepBytes = 2 * (1 + 10)
	// One value: its time and its value, both varints at worst. Float32 and
	// float64 values take 4 and 8 bytes, and a decimal column with ulps is
	// written only when its ints and ulps take less than 8 bytes a value.
	maxValueBytes = 10 + 10
)

// Bound returns an upper bound of the payload size of a batch of values
// signal values in columns distinct ids, whatever the values, ids, times
// and header (vehicle and boot ids are at most MaxIDLen bytes). The agent's
// batcher closes a batch before Bound passes its limit, so no payload ever
// goes over the broker's maximum packet size (mochi answers an oversized
// packet with a bare TCP close that the agent cannot tell from a network
// fault).
//
// It holds because Encode sends the body uncompressed when zstd does not
// make it smaller, so compression never adds to the worst case.
func Bound(values, columns int) int {
	stepped := max(0, min(columns, values-columns)) // columns with two values or more
	return maxOuterBytes + maxBodyBytes + columns*maxColumnBytes + stepped*maxStepBytes + values*maxValueBytes
}
