package uplink

import (
	"math"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/catalog"
)

const ms = int64(time.Millisecond)

func TestSamplerPolicies(t *testing.T) {
	type offer struct {
		at   int64 // ms
		num  float64
		want Decision
	}
	for _, tc := range []struct {
		desc   string
		policy catalog.Sampling
		hb     time.Duration
		offers []offer
	}{
		{"on change, every change", catalog.Sampling{OnChange: true, Priority: catalog.PriorityNormal}, 0, []offer{
			{0, 1, Send}, {10, 1, Drop}, {20, 2, Send}, {30, 2, Drop}, {40, 1, Send},
		}},
		{"deadband", catalog.Sampling{OnChange: true, Deadband: 0.5, Priority: catalog.PriorityNormal}, 0, []offer{
			{0, 10, Send}, {10, 10.4, Drop}, {20, 10.5, Drop}, {30, 10.6, Send}, {40, 10.2, Drop}, {50, 10.0, Send}, {60, 9.9, Drop},
		}},
		{"on change at most every 100 ms", catalog.Sampling{OnChange: true, IntervalMS: 100, Priority: catalog.PriorityNormal}, 0, []offer{
			{0, 1, Send}, {50, 2, Drop}, {99, 3, Drop}, {100, 3, Send}, {150, 3, Drop}, {250, 3, Drop}, {260, 4, Send},
		}},
		{"periodic", catalog.Sampling{IntervalMS: 1000, Priority: catalog.PriorityNormal}, 0, []offer{
			{0, 1, Send}, {500, 2, Drop}, {999, 3, Drop}, {1000, 3, Send}, {1999, 3, Drop}, {2000, 3, Send},
		}},
		{"heartbeat resends an unchanged signal", catalog.Sampling{OnChange: true, Priority: catalog.PriorityNormal}, time.Second, []offer{
			{0, 1, Send}, {999, 1, Drop}, {1000, 1, Send}, {1500, 1, Drop}, {2000, 1, Send},
		}},
		{"heartbeat off", catalog.Sampling{OnChange: true, Priority: catalog.PriorityNormal}, -1, []offer{
			{0, 1, Send}, {1000, 1, Drop}, {3_600_000, 1, Drop}, {3_600_001, 2, Send},
		}},
		{"critical change skips the batch, its heartbeat does not", catalog.Sampling{OnChange: true, Priority: catalog.PriorityCritical}, time.Second, []offer{
			{0, 0, SendNow}, {10, 1, SendNow}, {20, 1, Drop}, {1020, 1, Send}, {1030, 0, SendNow},
		}},
		{"clock going back starts afresh", catalog.Sampling{OnChange: true, IntervalMS: 1000, Priority: catalog.PriorityNormal}, 0, []offer{
			{5000, 1, Send}, {5100, 2, Drop}, {100, 2, Send}, {200, 3, Drop},
		}},
		{"NaN is a change once", catalog.Sampling{OnChange: true, Priority: catalog.PriorityNormal}, 0, []offer{
			{0, 1, Send}, {10, math.NaN(), Send}, {20, math.NaN(), Drop}, {30, 1, Send},
		}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			s := NewSampler(map[uint32]catalog.Sampling{7: tc.policy}, SamplingOptions{Heartbeat: tc.hb})
			for i, o := range tc.offers {
				if got := s.Offer(catalog.Value{ID: 7, Time: o.at * ms, Num: o.num}); got != o.want {
					t.Errorf("offer %d (t=%d ms, %v): got %v, want %v", i, o.at, o.num, got, o.want)
				}
			}
		})
	}
}

func TestSamplerUnknownAndLatest(t *testing.T) {
	s := NewSampler(map[uint32]catalog.Sampling{
		3: {OnChange: true, Priority: catalog.PriorityNormal},
		1: {IntervalMS: 100, Priority: catalog.PriorityNormal},
		2: {OnChange: true, Priority: catalog.PriorityNormal},
	}, SamplingOptions{})
	if d := s.Offer(catalog.Value{ID: 99, Time: 0, Num: 1}); d != Drop {
		t.Errorf("an unmapped id: %v", d)
	}
	s.Offer(catalog.Value{ID: 3, Time: 1, Num: 30})
	s.Offer(catalog.Value{ID: 1, Time: 2, Num: 10})
	s.Offer(catalog.Value{ID: 1, Time: 3, Num: 11}) // dropped, but the latest
	got := s.Latest(nil)
	want := []catalog.Value{{ID: 1, Time: 3, Num: 11}, {ID: 3, Time: 1, Num: 30}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("Latest = %v, want %v (id order, last seen, unseen left out)", got, want)
	}
	s.Forget(3)
	if got := s.Latest(nil); len(got) != 1 || got[0].ID != 1 {
		t.Fatalf("after Forget: %v", got)
	}
	if d := s.Offer(catalog.Value{ID: 3, Time: 4, Num: 30}); d != Send {
		t.Errorf("a forgotten signal's next value: %v, want Send", d)
	}
	if p, ok := s.Policy(1); !ok || p.IntervalMS != 100 {
		t.Errorf("Policy(1) = %+v, %v", p, ok)
	}
}

func BenchmarkSamplerOffer(b *testing.B) {
	pol := map[uint32]catalog.Sampling{}
	for id := uint32(1); id <= 100; id++ {
		pol[id] = catalog.Sampling{OnChange: true, Deadband: 0.5, Priority: catalog.PriorityNormal}
	}
	s := NewSampler(pol, SamplingOptions{})
	b.ReportAllocs()
	var n int64
	for b.Loop() {
		n++
		s.Offer(catalog.Value{ID: uint32(n%100) + 1, Time: n * ms, Num: float64(n % 7)})
	}
}
