package uplink

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/internal/bytesize"
	"github.com/kanal-dev/kanal/uplink/batch"
)

type sent struct {
	b        *batch.Batch
	size     int
	priority bool
}

func newBatcher(t *testing.T, opts BatchOptions, now func() time.Time) (*Batcher, *[]sent) {
	t.Helper()
	var out []sent
	dec, err := batch.NewDecoder(batch.DecoderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBatcher(BatcherOptions{BatchOptions: opts, Vehicle: testVehicle, Boot: "boot1", Now: now,
		Sink: func(data []byte, prio bool) error {
			bt, err := dec.Decode(data)
			if err != nil {
				t.Fatalf("batch does not decode: %v", err)
			}
			out = append(out, sent{b: bt, size: len(data), priority: prio})
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	return b, &out
}

func TestBatcherAgeByFrameTime(t *testing.T) {
	wall := time.Unix(1_700_000_000, 0)
	b, out := newBatcher(t, BatchOptions{MaxAge: time.Second}, func() time.Time { return wall })
	// 3.5 s of values, 10 per second, as fast as a replay at --speed 0 feeds them
	for i := range 35 {
		if err := b.Add(catalog.Value{ID: 1, Time: int64(i) * 100 * ms, Num: float64(i)}, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(*out) != 4 {
		t.Fatalf("%d batches for 3.5 s at max_age 1s, want 4", len(*out))
	}
	for i, s := range *out {
		h := s.b.Header
		if h.Seq != uint64(i+1) || h.Vehicle != testVehicle || h.Boot != "boot1" || h.Keyframe || h.SentAt != wall.UnixNano() {
			t.Errorf("batch %d header %+v", i, h)
		}
		if n := len(s.b.Values); i < 3 && n != 10 {
			t.Errorf("batch %d holds %d values, want 10", i, n)
		}
		first, last := s.b.Values[0].Time, s.b.Values[len(s.b.Values)-1].Time
		if last-first >= int64(time.Second) {
			t.Errorf("batch %d spans %v", i, time.Duration(last-first))
		}
	}
}

func TestBatcherDueOnWallClock(t *testing.T) {
	wall := time.Unix(1_700_000_000, 0)
	b, _ := newBatcher(t, BatchOptions{MaxAge: time.Second}, func() time.Time { return wall })
	if b.Due(0) {
		t.Fatal("an empty batch is due")
	}
	b.Add(catalog.Value{ID: 1, Time: 0, Num: 1}, false)
	if b.Due(int64(500 * time.Millisecond)) {
		t.Fatal("due after half its age")
	}
	if !b.Due(int64(time.Second)) {
		t.Fatal("not due at its age by frame time")
	}
	wall = wall.Add(time.Second) // the bus fell silent: frame time stands still
	if !b.Due(0) {
		t.Fatal("not due at its age by the wall clock")
	}
}

// TestBatcherNeverOverMaxBytes: values that do not compress at all, in many
// columns; no payload may pass the limit.
func TestBatcherNeverOverMaxBytes(t *testing.T) {
	b, out := newBatcher(t, BatchOptions{MaxBytes: 4 * bytesize.KiB, MaxAge: time.Hour}, nil)
	x := uint64(88172645463325252)
	n := 0
	for i := range 5000 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		v := math.Float64frombits(x&^(0x7ff<<52) | 0x3ff<<52) // random mantissas in [1, 2)
		if err := b.Add(catalog.Value{ID: uint32(x%97) + 1, Time: int64(i) * 997, Num: v}, false); err != nil {
			t.Fatal(err)
		}
		n++
	}
	b.Flush()
	total := 0
	for i, s := range *out {
		if s.size > 4096 {
			t.Fatalf("batch %d is %d bytes, over max_bytes 4096", i, s.size)
		}
		total += len(s.b.Values)
	}
	if total != n || len(*out) < 2 {
		t.Fatalf("%d values in %d batches, want %d in several", total, len(*out), n)
	}
}

func TestBatcherCriticalAndKeyframe(t *testing.T) {
	b, out := newBatcher(t, BatchOptions{MaxBytes: 4 * bytesize.KiB}, nil)
	b.Add(catalog.Value{ID: 1, Time: 0, Num: 1}, false)
	b.Add(catalog.Value{ID: 200, Time: 1, Num: 1}, true) // fog lights on: out at once
	if len(*out) != 1 || !(*out)[0].priority || !(*out)[0].b.Header.Priority || len((*out)[0].b.Values) != 2 {
		t.Fatalf("critical flush: %+v", *out)
	}
	if b.Open() != 0 {
		t.Fatal("values left open after a critical flush")
	}
	b.Add(catalog.Value{ID: 1, Time: 2, Num: 2}, false)
	kf := make([]catalog.Value, 600)
	for i := range kf {
		kf[i] = catalog.Value{ID: uint32(i + 1), Time: int64(i), Num: float64(i) * 1.5}
	}
	if err := b.Keyframe(kf); err != nil {
		t.Fatal(err)
	}
	got := (*out)[1:]
	if len(got) < 3 || got[0].b.Header.Keyframe || len(got[0].b.Values) != 1 {
		t.Fatalf("the open batch goes first, then keyframes: %d batches", len(got))
	}
	n := 0
	for _, s := range got[1:] {
		if !s.b.Header.Keyframe || s.size > 4096 {
			t.Fatalf("keyframe part %+v, %d bytes", s.b.Header, s.size)
		}
		n += len(s.b.Values)
	}
	if n != 600 {
		t.Fatalf("keyframes carry %d of 600 values", n)
	}
	if b.Seq() != uint64(len(*out)) {
		t.Errorf("Seq %d after %d batches", b.Seq(), len(*out))
	}
}

func TestBatchOptionsLimits(t *testing.T) {
	for _, o := range []BatchOptions{{MaxBytes: MaxBatchBytes + 1}, {MaxBytes: 100}, {MaxAge: -time.Second}} {
		if err := o.setDefaults(); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	o := BatchOptions{}
	if err := o.setDefaults(); err != nil || o.MaxBytes != DefaultBatchBytes || o.MaxAge != DefaultBatchAge || o.KeyframeInterval != DefaultKeyframeInterval {
		t.Errorf("defaults %+v, %v", o, err)
	}
}

// TestBatcherSeqNotSpentOnFailure: a batch the spool refuses spends no
// sequence number, so sequence numbers and spool positions stay in step.
func TestBatcherSeqNotSpentOnFailure(t *testing.T) {
	fail := true
	var seqs []uint64
	b, err := NewBatcher(BatcherOptions{Vehicle: testVehicle, Boot: "boot1", Sink: func(data []byte, _ bool) error {
		if fail {
			return errTest
		}
		h, err := batch.ReadHeader(data)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, h.Seq)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	b.Add(catalog.Value{ID: 1, Time: 1, Num: 1}, false)
	if err := b.Flush(); err == nil {
		t.Fatal("a refused batch flushed without an error")
	}
	fail = false
	b.Add(catalog.Value{ID: 1, Time: 2, Num: 2}, false)
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(seqs) != 1 || seqs[0] != 1 || b.Seq() != 1 {
		t.Fatalf("seqs %v, Seq %d: want the first stored batch to be 1", seqs, b.Seq())
	}
}

var errTest = errors.New("disk full")
