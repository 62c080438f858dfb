package loadgen

import (
	"bytes"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/uplink/batch"
)

// TestPayload checks both modes against the agent's decoder: the header
// says who sent which batch when, and the values are the profile's.
func TestPayload(t *testing.T) {
	prof, err := SyntheticProfile(SyntheticOptions{Seconds: 5})
	if err != nil {
		t.Fatal(err)
	}
	ts, err := newTemplates(prof)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := batch.NewDecoder(batch.DecoderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []PayloadMode{PayloadHeader, PayloadEncode} {
		t.Run(string(mode), func(t *testing.T) {
			p, err := newPayloader(mode)
			if err != nil {
				t.Fatal(err)
			}
			for i := range ts {
				h := batch.Header{Vehicle: VehicleID("pv", i+1), Boot: batch.NewBoot(), Seq: uint64(i)*1000 + 1, SentAt: time.Now().UnixNano()}
				data, err := p.payload(&ts[i], h)
				if err != nil {
					t.Fatal(err)
				}
				rh, err := batch.ReadHeader(data)
				if err != nil {
					t.Fatal(err)
				}
				h.Schema, h.Values = batch.SchemaVersion, len(prof.Seconds[i])
				if rh != h {
					t.Fatalf("header %+v, want %+v", rh, h)
				}
				b, err := dec.Decode(data)
				if err != nil {
					t.Fatal(err)
				}
				checkValues(t, b.Header, b.Values, prof.Seconds[i], mode)
				if !bytes.Equal(data[len(data)-len(ts[i].body):], ts[i].body) && mode == PayloadHeader {
					t.Error("body not reused")
				}
			}
		})
	}
}

// TestPayloadFlags: a template's other header fields (keyframe, values,
// codec, body size) survive the fresh header.
func TestPayloadFlags(t *testing.T) {
	enc, err := batch.NewEncoder(batch.EncoderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	prof := smallProfile(t)
	orig, err := enc.Encode(nil, &batch.Batch{Header: batch.Header{Vehicle: "v", Boot: "b", Seq: 1, Keyframe: true, Priority: true}, Values: prof.Seconds[0]})
	if err != nil {
		t.Fatal(err)
	}
	var tpl template
	if err := tpl.split(orig); err != nil {
		t.Fatal(err)
	}
	p, _ := newPayloader(PayloadHeader)
	data, err := p.payload(&tpl, batch.Header{Vehicle: "other", Boot: "boot2", Seq: 7, SentAt: 42})
	if err != nil {
		t.Fatal(err)
	}
	h, err := batch.ReadHeader(data)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Keyframe || !h.Priority || h.Vehicle != "other" || h.Boot != "boot2" || h.Seq != 7 || h.SentAt != 42 || h.Values != len(prof.Seconds[0]) {
		t.Errorf("header %+v", h)
	}
	if err := tpl.split([]byte{0x0a, 0x05, 1}); err == nil {
		t.Error("split of a truncated payload did not fail")
	}
}

// BenchmarkPayload is what one publish's payload costs in each mode, on
// the default synthetic profile (about 148 values a batch).
func BenchmarkPayload(b *testing.B) {
	prof, err := SyntheticProfile(SyntheticOptions{})
	if err != nil {
		b.Fatal(err)
	}
	ts, err := newTemplates(prof)
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []PayloadMode{PayloadHeader, PayloadEncode} {
		b.Run("mode="+string(mode), func(b *testing.B) {
			p, err := newPayloader(mode)
			if err != nil {
				b.Fatal(err)
			}
			h := batch.Header{Vehicle: "load-000001", Boot: batch.NewBoot(), SentAt: time.Now().UnixNano()}
			size := 0
			b.ReportAllocs()
			for b.Loop() {
				h.Seq++
				data, err := p.payload(&ts[h.Seq%uint64(len(ts))], h)
				if err != nil {
					b.Fatal(err)
				}
				size += len(data)
			}
			b.ReportMetric(float64(size)/float64(b.N), "B/batch")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "batches/s")
		})
	}
}
