package loadgen

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/uplink/batch"
)

// PayloadMode says how each publish gets its payload.
type PayloadMode string

const (
	// PayloadHeader (the default) encodes the body of every profile second
	// once, with the agent's Encoder, and writes a fresh header per publish
	// (vehicle, boot, seq, send time) in front of it: a valid batch, named
	// as the agent names it, for 0.06 µs instead of an encode's 60 µs
	// (BenchmarkPayload, default profile, this 2-core machine: 10,000
	// batches/s encoded would take 0.6 of a core from the gateway beside
	// it). The values inside keep the profile's timestamps.
	PayloadHeader PayloadMode = "header"
	// PayloadEncode encodes every batch afresh, its values moved to the
	// second before the publish: what an agent does, at an agent's cost.
	PayloadEncode PayloadMode = "encode"
)

// The fields of the wire schema (uplink/batch/internal/batchpb/batch.proto,
// the contract for readers in any language) that a fresh header replaces.
const (
	fieldBatchHeader = 1
	fieldHeaderFirst = 2 // vehicle; then boot (3), seq (4), sent_at (5)
	fieldHeaderLast  = 5
)

// template is one profile second, encoded once.
type template struct {
	values []catalog.Value
	base   int64  // the second the values are in, Unix ns
	front  []byte // header fields before vehicle (schema), raw
	back   []byte // header fields after sent_at (keyframe ... body_size), raw
	body   []byte // the Batch's body field, tag and length included
}

// newTemplates encodes every second of p.
func newTemplates(p *Profile) ([]template, error) {
	enc, err := batch.NewEncoder(batch.EncoderOptions{})
	if err != nil {
		return nil, err
	}
	ts := make([]template, len(p.Seconds))
	for i, vs := range p.Seconds {
		payload, err := enc.Encode(nil, &batch.Batch{Header: batch.Header{Vehicle: "v", Boot: "b", Seq: 1}, Values: vs})
		if err != nil {
			return nil, fmt.Errorf("profile second %d: %w", i, err)
		}
		t := &ts[i]
		t.values = vs
		t.base = vs[0].Time
		for _, v := range vs {
			t.base = min(t.base, v.Time)
		}
		t.base -= t.base % int64(time.Second)
		if err := t.split(payload); err != nil {
			return nil, fmt.Errorf("profile second %d: %w", i, err)
		}
	}
	return ts, nil
}

// split keeps what a fresh header does not replace.
func (t *template) split(payload []byte) error {
	for rest := payload; len(rest) > 0; {
		num, typ, n := protowire.ConsumeTag(rest)
		if n < 0 {
			return protowire.ParseError(n)
		}
		m := protowire.ConsumeFieldValue(num, typ, rest[n:])
		if m < 0 {
			return protowire.ParseError(m)
		}
		if num != fieldBatchHeader {
			t.body = append(t.body, rest[:n+m]...)
			rest = rest[n+m:]
			continue
		}
		hdr, k := protowire.ConsumeBytes(rest[n:])
		if k < 0 {
			return protowire.ParseError(k)
		}
		for len(hdr) > 0 {
			fnum, ftyp, fn := protowire.ConsumeTag(hdr)
			if fn < 0 {
				return protowire.ParseError(fn)
			}
			fm := protowire.ConsumeFieldValue(fnum, ftyp, hdr[fn:])
			if fm < 0 {
				return protowire.ParseError(fm)
			}
			switch {
			case fnum < fieldHeaderFirst:
				t.front = append(t.front, hdr[:fn+fm]...)
			case fnum > fieldHeaderLast:
				t.back = append(t.back, hdr[:fn+fm]...)
			}
			hdr = hdr[fn+fm:]
		}
		rest = rest[n+m:]
	}
	return nil
}

// payloader makes the payloads of one writer goroutine, reusing its
// buffers (and in PayloadEncode its Encoder) from publish to publish.
type payloader struct {
	mode PayloadMode
	hdr  []byte
	out  []byte
	enc  *batch.Encoder
	vals []catalog.Value
}

func newPayloader(mode PayloadMode) (*payloader, error) {
	p := &payloader{mode: mode}
	if mode == PayloadEncode {
		enc, err := batch.NewEncoder(batch.EncoderOptions{})
		if err != nil {
			return nil, err
		}
		p.enc = enc
	}
	return p, nil
}

// payload returns the batch of t under header h, valid until the next call.
func (p *payloader) payload(t *template, h batch.Header) ([]byte, error) {
	if p.mode == PayloadEncode {
		shift := h.SentAt - int64(time.Second) - t.base
		p.vals = append(p.vals[:0], t.values...)
		for i := range p.vals {
			p.vals[i].Time += shift
		}
		out, err := p.enc.Encode(p.out[:0], &batch.Batch{Header: h, Values: p.vals})
		if err != nil {
			return nil, err
		}
		p.out = out
		return out, nil
	}
	p.hdr = append(p.hdr[:0], t.front...)
	p.hdr = protowire.AppendTag(p.hdr, 2, protowire.BytesType)
	p.hdr = protowire.AppendString(p.hdr, h.Vehicle)
	p.hdr = protowire.AppendTag(p.hdr, 3, protowire.BytesType)
	p.hdr = protowire.AppendString(p.hdr, h.Boot)
	p.hdr = protowire.AppendTag(p.hdr, 4, protowire.VarintType)
	p.hdr = protowire.AppendVarint(p.hdr, h.Seq)
	p.hdr = protowire.AppendTag(p.hdr, 5, protowire.Fixed64Type)
	p.hdr = protowire.AppendFixed64(p.hdr, uint64(h.SentAt))
	p.hdr = append(p.hdr, t.back...)
	p.out = protowire.AppendTag(p.out[:0], fieldBatchHeader, protowire.BytesType)
	p.out = protowire.AppendBytes(p.out, p.hdr)
	p.out = append(p.out, t.body...)
	return p.out, nil
}
