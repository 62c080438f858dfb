package batch

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/proto"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/uplink/batch/internal/batchpb"
)

// DefaultLevel is the zstd level an Encoder uses when EncoderOptions.Level
// is 0: klauspost's SpeedDefault, about zstd's level 3.
const DefaultLevel = int(zstd.SpeedDefault)

// EncoderOptions configures an Encoder. The zero value is ready to use.
type EncoderOptions struct {
	// Level is the zstd level, from 1 (fastest) to 4 (smallest): klauspost's
	// SpeedFastest, SpeedDefault, SpeedBetterCompression and
	// SpeedBestCompression. 0 means DefaultLevel. Measured on the bundled
	// drives, 4 makes batches 1 to 2 % smaller than 2 but its encoder state
	// takes about 50 MB (3: 20 MB, 2: under 2 MB), more than the agent's
	// whole memory budget.
	Level int `yaml:"level"`
	// Dict is a zstd dictionary (the format of `zstd --train` and
	// zstd.BuildDict). Small batches compress much better with one trained
	// on earlier bodies; every Decoder then needs it in DecoderOptions.Dicts,
	// where its id (inside the dictionary) finds it. nil: no dictionary.
	Dict []byte `yaml:"-"`
}

// Encoder turns Batches into payloads. It keeps its zstd state and every
// buffer between calls, so encoding allocates almost nothing once warm. An
// Encoder is not safe for concurrent use: give each goroutine its own.
type Encoder struct {
	zstd *zstd.Encoder

	// grouping values by id, in input order within an id
	index  map[uint32]int32 // id → group slot
	slots  []int32          // slot of each input value
	groups []group          // by slot
	fill   []int32          // slot → values placed so far
	order  []int32          // slots by ascending id
	sorted []catalog.Value

	w      columnWriter
	cols   []*batchpb.Column // reused column messages
	body   batchpb.Body
	hdr    batchpb.Header
	outer  batchpb.Batch
	raw    []byte
	packed []byte

	noCompress bool // tests: always CODEC_NONE, so fuzzing reaches the body
}

// group is the values of one id in a batch being encoded.
type group struct {
	id    uint32
	n     int
	start int // in sorted
}

// NewEncoder returns an Encoder, or an error naming the bad option.
func NewEncoder(opts EncoderOptions) (*Encoder, error) {
	level := opts.Level
	if level == 0 {
		level = DefaultLevel
	}
	if level < int(zstd.SpeedFastest) || level > int(zstd.SpeedBestCompression) {
		return nil, fmt.Errorf("batch encoder: options: level %d: want 1 to 4 (0: default)", opts.Level)
	}
	zo := []zstd.EOption{
		zstd.WithEncoderLevel(zstd.EncoderLevel(level)),
		zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderCRC(true),    // 4 bytes: a damaged body fails instead of decoding wrong
		zstd.WithSingleSegment(true), // the frame header always holds the content size
	}
	if opts.Dict != nil {
		zo = append(zo, zstd.WithEncoderDict(opts.Dict))
	}
	z, err := zstd.NewWriter(nil, zo...)
	if err != nil {
		return nil, fmt.Errorf("batch encoder: options: dict: %w", err)
	}
	return &Encoder{zstd: z, index: map[uint32]int32{}}, nil
}

// Encode appends the payload of b to dst and returns the extended slice.
// b.Values may come in any order; the payload holds them grouped by id, in
// their order within an id, and Decode gives them back bit for bit. b is
// not changed. The header must pass CheckVehicleID and CheckBootID, Seq
// must be at least 1, and no value may have id 0. len(payload) ≤
// Bound(len(b.Values), number of distinct ids).
func (e *Encoder) Encode(dst []byte, b *Batch) ([]byte, error) {
	if err := checkEncodable(&b.Header); err != nil {
		return dst, fmt.Errorf("encode batch: %w", err)
	}
	if uint64(len(b.Values)) > math.MaxUint32 {
		return dst, fmt.Errorf("encode batch: %d values (at most %d)", len(b.Values), uint32(math.MaxUint32))
	}
	raw, err := e.encodeBody(b.Values)
	if err != nil {
		return dst, fmt.Errorf("encode batch: %w", err)
	}
	if uint64(len(raw)) > math.MaxUint32 {
		return dst, fmt.Errorf("encode batch: body of %d bytes (at most 4 GiB)", len(raw))
	}
	codec, body := batchpb.Codec_CODEC_NONE, raw
	if !e.noCompress && len(raw) > 0 {
		e.packed = e.zstd.EncodeAll(raw, e.packed[:0])
		if len(e.packed) < len(raw) {
			codec, body = batchpb.Codec_CODEC_ZSTD, e.packed
		}
	}
	h := &e.hdr
	h.Schema = SchemaVersion
	h.Vehicle = b.Header.Vehicle
	h.Boot = b.Header.Boot
	h.Seq = b.Header.Seq
	h.SentAt = b.Header.SentAt
	h.Keyframe = b.Header.Keyframe
	h.Priority = b.Header.Priority
	h.Values = uint32(len(b.Values))
	h.Codec = codec
	h.BodySize = uint32(len(raw))
	e.outer.Header, e.outer.Body = h, body
	out, err := proto.MarshalOptions{}.MarshalAppend(dst, &e.outer)
	e.outer.Body = nil
	if err != nil {
		return dst, fmt.Errorf("encode batch: %w", err)
	}
	return out, nil
}

// encodeBody serializes the columns of vs into e.raw.
func (e *Encoder) encodeBody(vs []catalog.Value) ([]byte, error) {
	earliest, err := e.group(vs)
	if err != nil {
		return nil, err
	}
	base := timeBase(earliest)
	e.body.TimeBaseS = base
	e.body.Columns = e.body.Columns[:0]
	for j, slot := range e.order {
		g := &e.groups[slot]
		if j == len(e.cols) {
			e.cols = append(e.cols, &batchpb.Column{})
		}
		c := e.cols[j]
		vals := e.sorted[g.start : g.start+g.n]
		c.Id = g.id
		e.w.q = writeTimes(c, vals, base, e.w.q)
		e.w.writeValues(c, vals)
		e.body.Columns = append(e.body.Columns, c)
	}
	raw, err := proto.MarshalOptions{}.MarshalAppend(e.raw[:0], &e.body)
	if err != nil {
		return nil, err
	}
	e.raw = raw
	return raw, nil
}

// group sorts vs by id into e.sorted, keeping the input order within an id
// (a counting sort: two passes, one map lookup per run of equal ids), and
// returns the earliest time. e.order lists the group slots by ascending id.
func (e *Encoder) group(vs []catalog.Value) (int64, error) {
	clear(e.index)
	e.groups, e.slots = e.groups[:0], e.slots[:0]
	var earliest int64 = math.MaxInt64
	var last uint32
	slot := int32(-1)
	for i := range vs {
		v := &vs[i]
		if v.ID == 0 {
			return 0, fmt.Errorf("value %d has catalog id 0", i)
		}
		if v.ID != last || slot < 0 {
			s, ok := e.index[v.ID]
			if !ok {
				s = int32(len(e.groups))
				e.index[v.ID] = s
				e.groups = append(e.groups, group{id: v.ID})
			}
			slot, last = s, v.ID
		}
		e.groups[slot].n++
		e.slots = append(e.slots, slot)
		earliest = min(earliest, v.Time)
	}
	if len(vs) == 0 {
		earliest = 0
	}
	e.order = e.order[:0]
	for s := range e.groups {
		e.order = append(e.order, int32(s))
	}
	slices.SortFunc(e.order, func(a, b int32) int { return cmp.Compare(e.groups[a].id, e.groups[b].id) })
	start := 0
	for _, s := range e.order {
		e.groups[s].start = start
		start += e.groups[s].n
	}
	e.sorted = slices.Grow(e.sorted[:0], len(vs))[:len(vs)]
	e.fill = slices.Grow(e.fill[:0], len(e.groups))[:len(e.groups)]
	clear(e.fill)
	for i := range vs {
		s := e.slots[i]
		e.sorted[e.groups[s].start+int(e.fill[s])] = vs[i]
		e.fill[s]++
	}
	return earliest, nil
}
