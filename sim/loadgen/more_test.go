package loadgen

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/dbc"
	"github.com/kanal-dev/kanal/internal/brokertest"
	"github.com/kanal-dev/kanal/uplink"
	"github.com/kanal-dev/kanal/uplink/batch"
)

// TestPayloadIsTheEncoders: a payload with a fresh header is byte for
// byte what the agent's Encoder makes of the same values under that
// header, for any ids, seqs and times: the generator sends exactly what
// agents send.
func TestPayloadIsTheEncoders(t *testing.T) {
	enc, err := batch.NewEncoder(batch.EncoderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := newPayloader(PayloadHeader)
	rng := rand.New(rand.NewPCG(3, 4))
	for seed := range uint64(4) {
		prof, err := SyntheticProfile(SyntheticOptions{Signals: 10 + int(seed)*100, Seconds: 8, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		ts, err := newTemplates(prof)
		if err != nil {
			t.Fatal(err)
		}
		for i := range ts {
			h := batch.Header{
				Vehicle: VehicleID(strings.Repeat("v", 1+rng.IntN(50)), rng.IntN(1e6)),
				Boot:    batch.NewBoot(),
				Seq:     1 + rng.Uint64N(math.MaxUint64-1),
				SentAt:  rng.Int64(),
			}
			got, err := p.payload(&ts[i], h)
			if err != nil {
				t.Fatal(err)
			}
			want, err := enc.Encode(nil, &batch.Batch{Header: h, Values: prof.Seconds[i]})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("seed %d second %d header %+v: payload differs from the encoder's (%d vs %d bytes)", seed, i, h, len(got), len(want))
			}
		}
	}
}

func TestMoreOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Broker: "h:1", Writers: 5000}, "writers 5000"},
		{Options{Broker: "h:1", ConnectRate: -1}, "connect_rate -1"},
		{Options{Broker: "h:1", FirstVehicle: -1}, "first_vehicle -1"},
		{Options{Broker: "h:1", DrainTimeout: -1}, "drain_timeout"},
		{Options{Broker: "h:1", WriteTimeout: -time.Second}, "write_timeout"},
		{Options{Broker: "h:1", ConnectTimeout: -time.Second}, "connect_timeout"},
		{Options{Broker: "h:1", Rate: 5000}, "rate 5000"},
		{Options{Broker: "h:1", Connections: 2_000_000}, "connections 2000000"},
		{Options{Broker: "h:1", Profile: &Profile{Seconds: [][]catalog.Value{{}}}}, "second 0 has no values"},
		{Options{Broker: "ws://h:1"}, `scheme "ws" not supported`},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if _, err := New(tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "loadgen: options: ") {
				t.Errorf("error %v, want loadgen: options: ...%s", err, tc.want)
			}
		})
	}
}

// TestDriveProfileSampling: the profile is what the agent's sampler
// sends: without the heartbeat fewer values, and a real car's log (when
// ../shared is next to the checkout) at its measured density.
func TestDriveProfileSampling(t *testing.T) {
	buses := dbc.PipelineOptions{DBC: []string{candumps + "/kanal_demo.dbc"}, Mapping: candumps + "/kanal_demo.mapping.yaml"}
	with, err := DriveProfile(DriveOptions{Log: candumps + "/drive_fog.log", Buses: buses})
	if err != nil {
		t.Fatal(err)
	}
	without, err := DriveProfile(DriveOptions{Log: candumps + "/drive_fog.log", Buses: buses, Sampling: uplink.SamplingOptions{Heartbeat: -1}})
	if err != nil {
		t.Fatal(err)
	}
	count := func(p *Profile) (n int) {
		for _, s := range p.Seconds {
			n += len(s)
		}
		return n
	}
	if count(without) >= count(with) {
		t.Errorf("%d values without the heartbeat, %d with it", count(without), count(with))
	}
	ford := "../../../shared/candumps/ford_gt350.log"
	if _, err := os.Stat(ford); err != nil {
		t.Skipf("%s not found (the real logs live in ../shared next to the checkout)", ford)
	}
	p, err := DriveProfile(DriveOptions{Log: ford, Buses: dbc.PipelineOptions{DBC: []string{"../../../shared/dbc/ford_lincoln_base_pt.dbc"},
		Mapping: candumps + "/ford_gt350.mapping.yaml"}})
	if err != nil {
		t.Fatal(err)
	}
	if v := p.Values(); v < 8 || v > 20 {
		t.Errorf("Ford GT350: %.1f values a batch, measured 12.3", v)
	}
}

// TestSnapshotFresh: a report before anything happened has zeros, no NaN.
func TestSnapshotFresh(t *testing.T) {
	g, err := New(Options{Broker: "127.0.0.1:1", Profile: smallProfile(t), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	r := g.Snapshot()
	s := fmt.Sprintf("%+v", *r)
	if strings.Contains(s, "NaN") || r.PayloadBytes != 0 || r.BatchesPerSecond != 0 || r.Held != 0 || r.Puback.P99 != 0 {
		t.Errorf("fresh report %s", s)
	}
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil || !strings.Contains(b.String(), "0 held of 100") {
		t.Errorf("%v: %s", err, b.String())
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestSnapshotDuringConnect reads the report while logins are under way.
func TestSnapshotDuringConnect(t *testing.T) {
	br := brokertest.Start(t, brokertest.Options{})
	g, err := New(Options{Broker: br.URL(), Connections: 30, ConnectRate: 100, Profile: smallProfile(t), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	done := make(chan error, 1)
	go func() { done <- g.Connect(testCtx(t, 20*time.Second)) }()
	var seen []int
	for loop := true; loop; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			loop = false
		case <-time.After(20 * time.Millisecond):
			seen = append(seen, g.Snapshot().Held)
		}
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] < seen[i-1] {
			t.Fatalf("held went down while connecting: %v", seen)
		}
	}
	if len(seen) < 3 || seen[0] == 30 {
		t.Errorf("30 logins at 100/s seen as %v", seen)
	}
	if r := g.Snapshot(); r.Held != 30 || r.PeakHeld != 30 || r.Connected != 30 {
		t.Errorf("held %d peak %d connected %d", r.Held, r.PeakHeld, r.Connected)
	}
}

// TestBucketEdges: each bucket's lowest and highest value land in it.
func TestBucketEdges(t *testing.T) {
	for i := 0; i < histBuckets-1; i++ {
		lo, w := bucketRange(i)
		if bucketOf(lo) != i || bucketOf(lo+w-1) != i {
			t.Fatalf("bucket %d [%d, %d): edges in %d and %d", i, lo, lo+w, bucketOf(lo), bucketOf(lo+w-1))
		}
		if next, _ := bucketRange(i + 1); i+1 < histBuckets-1 && next != lo+w {
			t.Fatalf("gap after bucket %d: %d then %d", i, lo+w, next)
		}
	}
}
