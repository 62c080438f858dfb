package batch

import (
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/uplink/batch/internal/batchpb"
)

// Defaults of DecoderOptions.
const (
	// DefaultMaxBytes is the largest payload a Decoder accepts by default:
	// the broker's packet limit, which no batch can exceed anyway.
	DefaultMaxBytes = 256 << 10
	// DefaultMaxBodyBytes bounds the body after decompression. Real bodies
	// compress 3 to 10 times; 4 MiB leaves room above a 256 KiB payload
	// and keeps a hostile one from making the decoder allocate more than
	// about ten times this (the body, then its columns as int64s).
	DefaultMaxBodyBytes = 4 << 20
	// DefaultMaxValues bounds the values of one batch: 24 bytes each in the
	// result, 6 MiB at most.
	DefaultMaxValues = 1 << 18
)

// ErrLimit is returned (wrapped) when a payload exceeds a limit of
// DecoderOptions, before anything of that size is allocated.
var ErrLimit = errors.New("over the decoder's limit")

// DecoderOptions bounds what a Decoder accepts, so a hostile payload (a
// decompression bomb, a header announcing a billion values) gets an error,
// never a panic or an allocation without bound. The zero value is ready to
// use.
type DecoderOptions struct {
	// MaxBytes is the largest payload; 0 means DefaultMaxBytes.
	MaxBytes int `yaml:"max_bytes"`
	// MaxBodyBytes is the largest body after decompression; 0 means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int `yaml:"max_body_bytes"`
	// MaxValues is the most values in one batch; 0 means DefaultMaxValues.
	MaxValues int `yaml:"max_values"`
	// Dicts are the zstd dictionaries encoders may use, found by the id
	// each holds (see EncoderOptions.Dict).
	Dicts [][]byte `yaml:"-"`
}

// Decoder reads payloads made by an Encoder. It is safe for concurrent use:
// the gateway's publish hooks share one.
type Decoder struct {
	maxBytes, maxBody, maxValues int
	zstd                         *zstd.Decoder
	bufs                         sync.Pool // *[]byte, decompressed bodies
}

// NewDecoder returns a Decoder, or an error naming the bad option.
func NewDecoder(opts DecoderOptions) (*Decoder, error) {
	d := &Decoder{maxBytes: opts.MaxBytes, maxBody: opts.MaxBodyBytes, maxValues: opts.MaxValues}
	for _, f := range []struct {
		name string
		v    *int
		def  int
	}{
		{"max_bytes", &d.maxBytes, DefaultMaxBytes},
		{"max_body_bytes", &d.maxBody, DefaultMaxBodyBytes},
		{"max_values", &d.maxValues, DefaultMaxValues},
	} {
		switch {
		case *f.v < 0:
			return nil, fmt.Errorf("batch decoder: options: %s %d: want 0 (default %d) or more", f.name, *f.v, f.def)
		case *f.v == 0:
			*f.v = f.def
		}
	}
	if uint64(d.maxBody) > 1<<31 {
		return nil, fmt.Errorf("batch decoder: options: max_body_bytes %d: at most 2 GiB", d.maxBody)
	}
	// zstd counts a window of at least MinWindowSize even for tiny frames;
	// the exact bound is body_size, enforced through the capacity of dst.
	zmax := uint64(max(d.maxBody, zstd.MinWindowSize))
	z, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(0), // one decoder state per core for concurrent DecodeAll
		zstd.WithDecoderMaxMemory(zmax),
		zstd.WithDecoderMaxWindow(zmax),
		zstd.WithDecodeAllCapLimit(true), // never more than the header's body_size
		zstd.WithDecoderDicts(opts.Dicts...),
	)
	if err != nil {
		return nil, fmt.Errorf("batch decoder: options: dicts: %w", err)
	}
	d.zstd = z
	return d, nil
}

// Decode returns the batch in data. Its values are grouped by id, ids
// ascending, and within an id in the order they were given to Encode.
func (d *Decoder) Decode(data []byte) (*Batch, error) {
	b := new(Batch)
	if err := d.DecodeInto(data, b); err != nil {
		return nil, err
	}
	return b, nil
}

// DecodeInto is Decode into b, reusing the capacity of b.Values. On error
// b keeps its header and has no values.
func (d *Decoder) DecodeInto(data []byte, b *Batch) error {
	b.Values = b.Values[:0]
	if err := d.decode(data, b); err != nil {
		b.Values = b.Values[:0]
		return fmt.Errorf("decode batch: %w", err)
	}
	return nil
}

func (d *Decoder) decode(data []byte, b *Batch) error {
	if len(data) > d.maxBytes {
		return fmt.Errorf("payload of %d bytes: %w (max_bytes %d)", len(data), ErrLimit, d.maxBytes)
	}
	h, pb, body, err := parseOuter(data)
	if err != nil {
		return err
	}
	if h.Values > d.maxValues {
		return fmt.Errorf("header: %d values: %w (max_values %d)", h.Values, ErrLimit, d.maxValues)
	}
	size := int(pb.BodySize)
	if size > d.maxBody {
		return fmt.Errorf("header: body of %d bytes: %w (max_body_bytes %d)", size, ErrLimit, d.maxBody)
	}
	if pb.Codec == batchpb.Codec_CODEC_ZSTD {
		bufp, _ := d.bufs.Get().(*[]byte)
		if bufp == nil {
			bufp = new([]byte)
		}
		defer d.bufs.Put(bufp)
		if cap(*bufp) < size {
			*bufp = make([]byte, 0, size) // not slices.Grow: under -race it allocates twice
		}
		raw, err := d.decompress(body, *bufp, size)
		if err != nil {
			return err
		}
		body = raw
	}
	if cap(b.Values) < h.Values {
		b.Values = make([]catalog.Value, h.Values)
	}
	b.Values = b.Values[:h.Values]
	if err := readBody(body, b.Values); err != nil {
		return err
	}
	b.Header = h
	return nil
}

// decompress decodes a zstd body of size bytes into dst (capacity ≥ size).
// The frame must announce exactly that size, so a bomb stops at its header.
func (d *Decoder) decompress(body, dst []byte, size int) ([]byte, error) {
	var zh zstd.Header
	if err := zh.Decode(body); err != nil {
		return dst, fmt.Errorf("body: zstd frame header: %w", err)
	}
	if zh.Skippable || !zh.HasFCS || zh.FrameContentSize != uint64(size) {
		return dst, fmt.Errorf("body: zstd frame of %d bytes (known: %t), header says body_size %d", zh.FrameContentSize, zh.HasFCS, size)
	}
	raw, err := d.zstd.DecodeAll(body, dst[:0:size]) // capacity size exactly: the cap limit is that
	if err != nil {
		return raw, fmt.Errorf("body: zstd: %w", err)
	}
	if len(raw) != size {
		return raw, fmt.Errorf("body: %d bytes after zstd, header says body_size %d", len(raw), size)
	}
	return raw, nil
}
