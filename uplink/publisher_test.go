package uplink

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/internal/brokertest"
	"github.com/kanal-dev/kanal/internal/wire"
	"github.com/kanal-dev/kanal/uplink/batch"
	"github.com/kanal-dev/kanal/uplink/spool"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const testVehicle = "veh-test-1"

func openSpool(t *testing.T, dir string) *spool.Spool {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	sp, err := spool.Open(spool.Options{Dir: dir, Fsync: spool.FsyncNone, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	return sp
}

// fill appends n encoded batches, each with a few values, and returns the
// boot they carry.
func fill(t *testing.T, sp *spool.Spool, n int) string {
	t.Helper()
	boot := batch.NewBoot()
	b, err := NewBatcher(BatcherOptions{Vehicle: testVehicle, Boot: boot,
		Sink: func(data []byte, prio bool) error { _, err := sp.Append(data, prio); return err }})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		for j := range 5 {
			if err := b.Add(catalog.Value{ID: uint32(1 + j), Time: int64(i)*int64(time.Second) + int64(j), Num: float64(i*10 + j)}, false); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	return boot
}

func startPublisher(t *testing.T, opts PublisherOptions) (*Publisher, func()) {
	t.Helper()
	if opts.Vehicle == "" {
		opts.Vehicle = testVehicle
	}
	if opts.Boot == "" {
		opts.Boot = batch.NewBoot()
	}
	opts.Logger = quiet
	opts.BackoffMin, opts.BackoffMax = 20*time.Millisecond, 200*time.Millisecond
	if opts.PublishTimeout == 0 {
		opts.PublishTimeout = 3 * time.Second
	}
	p, err := NewPublisher(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	stop := func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("publisher did not stop within 10s")
		}
	}
	t.Cleanup(stop)
	return p, stop
}

// seqs decodes the batches received and returns their sequence numbers.
func seqs(t *testing.T, msgs []brokertest.Message) []uint64 {
	t.Helper()
	var out []uint64
	for _, m := range msgs {
		h, err := batch.ReadHeader(m.Payload)
		if err != nil {
			t.Fatalf("batch on %s does not decode: %v", m.Topic, err)
		}
		if h.Vehicle != testVehicle {
			t.Fatalf("batch of vehicle %q", h.Vehicle)
		}
		out = append(out, h.Seq)
	}
	return out
}

func distinct(s []uint64) map[uint64]int {
	m := map[uint64]int{}
	for _, v := range s {
		m[v]++
	}
	return m
}

func waitEmpty(t *testing.T, sp *spool.Spool, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for sp.Stats().Records != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("spool still holds %d batches after %v", sp.Stats().Records, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPublisherDeliversEveryBatch(t *testing.T) {
	br := brokertest.Start(t, brokertest.Options{})
	sp := openSpool(t, "")
	fill(t, sp, 40)
	startPublisher(t, PublisherOptions{MQTTOptions: MQTTOptions{Broker: br.URL(), Inflight: 1}, Queue: sp})
	msgs := br.WaitFor(t, wire.BatchTopic(testVehicle), 10*time.Second, "40 batches", func(m []brokertest.Message) bool { return len(m) >= 40 })
	got := seqs(t, msgs)
	for i, s := range got {
		if s != uint64(i+1) {
			t.Fatalf("batch %d has seq %d: with one in flight they arrive in order: %v", i, s, got)
		}
	}
	waitEmpty(t, sp, 5*time.Second)
	dec, _ := batch.NewDecoder(batch.DecoderOptions{})
	b, err := dec.Decode(msgs[7].Payload)
	if err != nil || len(b.Values) != 5 || b.Values[0].Num != 70 {
		t.Fatalf("batch 8 decodes to %+v, %v", b, err)
	}
	online := br.Messages(wire.StatusTopic(testVehicle))
	var p wire.Presence
	if len(online) == 0 || json.Unmarshal(online[0].Payload, &p) != nil || !p.Online || !online[0].Retain {
		t.Fatalf("no retained online presence first: %+v", online)
	}
}

func TestPublisherSeveralInFlight(t *testing.T) {
	br := brokertest.Start(t, brokertest.Options{})
	sp := openSpool(t, "")
	fill(t, sp, 200)
	startPublisher(t, PublisherOptions{MQTTOptions: MQTTOptions{Broker: br.URL(), Inflight: 8}, Queue: sp})
	msgs := br.WaitFor(t, wire.BatchTopic(testVehicle), 20*time.Second, "200 batches", func(m []brokertest.Message) bool { return len(distinct(seqs(t, m))) >= 200 })
	waitEmpty(t, sp, 5*time.Second)
	if d := distinct(seqs(t, msgs)); len(d) != 200 {
		t.Fatalf("%d distinct batches of 200", len(d))
	}
}

// TestPublisherBrokerRestart stops the broker in mid-stream and starts it
// again on the same address: every batch arrives, and what arrives twice
// has the same sequence number (the gateway deduplicates on it).
func TestPublisherBrokerRestart(t *testing.T) {
	var slow atomic.Bool
	slow.Store(true)
	refuse := func(m brokertest.Message) byte {
		if slow.Load() && strings.HasSuffix(m.Topic, "/batch") {
			time.Sleep(5 * time.Millisecond) // keep batches in flight when the broker dies
		}
		return 0
	}
	br := brokertest.Start(t, brokertest.Options{Refuse: refuse})
	sp := openSpool(t, "")
	fill(t, sp, 300)
	startPublisher(t, PublisherOptions{MQTTOptions: MQTTOptions{Broker: br.URL(), Inflight: 4}, Queue: sp})
	br.WaitFor(t, wire.BatchTopic(testVehicle), 10*time.Second, "the first 50 batches", func(m []brokertest.Message) bool { return len(m) >= 50 })
	first := seqs(t, br.Messages(wire.BatchTopic(testVehicle)))
	addr := br.Addr
	br.Close()
	time.Sleep(200 * time.Millisecond)
	left := sp.Stats().Records
	if left == 0 {
		t.Fatal("every batch was acknowledged before the broker stopped: the test proves nothing")
	}
	slow.Store(false)
	br2 := brokertest.Start(t, brokertest.Options{Addr: addr})
	br2.WaitFor(t, wire.BatchTopic(testVehicle), 20*time.Second, "the rest", func(m []brokertest.Message) bool {
		return len(distinct(append(seqs(t, m), first...))) >= 300
	})
	waitEmpty(t, sp, 5*time.Second)
	all := append(first, seqs(t, br2.Messages(wire.BatchTopic(testVehicle)))...)
	d := distinct(all)
	for s := uint64(1); s <= 300; s++ {
		if d[s] == 0 {
			t.Fatalf("batch %d lost", s)
		}
	}
	t.Logf("%d batches left when the broker stopped; %d deliveries for 300 batches", left, len(all))
}

// TestPublisherNegativePubacks: a code that can succeed later is retried,
// a code that never will quarantines the batch, and the rest goes on.
func TestPublisherNegativePubacks(t *testing.T) {
	var mu sync.Mutex
	tries := map[uint64]int{}
	br := brokertest.Start(t, brokertest.Options{Refuse: func(m brokertest.Message) byte {
		h, err := batch.ReadHeader(m.Payload)
		if err != nil {
			return 0
		}
		mu.Lock()
		defer mu.Unlock()
		tries[h.Seq]++
		switch {
		case h.Seq == 3 && tries[3] <= 3:
			return 0x97 // quota exceeded, three times
		case h.Seq == 5 && tries[5] <= 2:
			return 0x89 // server busy, twice
		case h.Seq == 7:
			return 0x99 // payload format invalid, always
		}
		return 0
	}})
	sp := openSpool(t, "")
	fill(t, sp, 10)
	startPublisher(t, PublisherOptions{MQTTOptions: MQTTOptions{Broker: br.URL(), Inflight: 2}, Queue: sp})
	br.WaitFor(t, wire.BatchTopic(testVehicle), 10*time.Second, "9 batches", func(m []brokertest.Message) bool { return len(distinct(seqs(t, m))) >= 9 })
	waitEmpty(t, sp, 5*time.Second)
	d := distinct(seqs(t, br.Messages(wire.BatchTopic(testVehicle))))
	if d[7] != 0 || d[3] == 0 || d[5] == 0 || len(d) != 9 {
		t.Fatalf("stored %v: want all but 7", d)
	}
	st := sp.Stats()
	if st.Quarantined != 1 {
		t.Errorf("quarantined %d, want 1", st.Quarantined)
	}
	mu.Lock()
	defer mu.Unlock()
	if tries[3] != 4 || tries[5] != 3 || tries[7] != 1 {
		t.Errorf("tries %v: want 4 for seq 3, 3 for seq 5, 1 for seq 7", tries)
	}
}

func TestPublisherCommandsAndNotices(t *testing.T) {
	br := brokertest.Start(t, brokertest.Options{})
	sp := openSpool(t, "")
	connected := make(chan struct{}, 4)
	notices := make(chan wire.Notice, 4)
	p, _ := startPublisher(t, PublisherOptions{MQTTOptions: MQTTOptions{Broker: br.URL()}, Queue: sp,
		OnConnect: func() { connected <- struct{}{} },
		OnCommand: func(ctx context.Context, c wire.Command) (map[string]any, error) {
			if c.Cmd == wire.CmdStatus {
				return map[string]any{"spool_records": 0}, nil
			}
			return nil, &unknownErr{c.Cmd}
		},
		OnNotice: func(n wire.Notice, cell string) { notices <- n }})
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		t.Fatal("not connected")
	}
	p.SetCells([]string{"479ddf5c", "479ddf54"})
	time.Sleep(200 * time.Millisecond) // the subscription goes out asynchronously
	br.Publish(t, wire.CommandTopic(testVehicle), []byte(`{"id":"c1","cmd":"status"}`))
	br.Publish(t, wire.CommandTopic(testVehicle), []byte(`{"id":"c2","cmd":"selfdestruct"}`))
	br.Publish(t, wire.CommandTopic(testVehicle), []byte(`not json`))
	br.Publish(t, wire.NoticeTopic("479ddf54"), []byte(`{"id":"n1","kind":"fog","text":"Fog ahead"}`))
	br.Publish(t, wire.NoticeTopic("479ddf99"), []byte(`{"id":"n2","kind":"fog","text":"not my cell"}`))
	select {
	case n := <-notices:
		if n.ID != "n1" {
			t.Fatalf("notice %+v", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("notice not received")
	}
	replies := br.WaitFor(t, wire.StatusTopic(testVehicle), 5*time.Second, "3 replies", func(m []brokertest.Message) bool {
		n := 0
		for _, x := range m {
			if strings.Contains(string(x.Payload), `"type":"reply"`) {
				n++
			}
		}
		return n >= 3
	})
	byID := map[string]wire.Reply{}
	for _, m := range replies {
		var r wire.Reply
		if json.Unmarshal(m.Payload, &r) == nil && r.Type == "reply" {
			byID[r.ID] = r
			if m.Retain {
				t.Errorf("reply %s retained", r.ID)
			}
		}
	}
	if r := byID["c1"]; !r.OK || r.Status == nil {
		t.Errorf("status reply %+v", r)
	}
	if r := byID["c2"]; r.OK || !strings.Contains(r.Error, "selfdestruct") {
		t.Errorf("unknown command answered %+v", r)
	}
	if r := byID[""]; r.OK || r.Error == "" {
		t.Errorf("a malformed command answered %+v", r)
	}
	select {
	case n := <-notices:
		t.Fatalf("a notice of a cell not subscribed arrived: %+v", n)
	case <-time.After(200 * time.Millisecond):
	}
}

type unknownErr struct{ cmd string }

func (e *unknownErr) Error() string { return "unknown command " + e.cmd }

// TestPublisherLastWill: when the connection dies without a DISCONNECT the
// broker publishes the vehicle's offline presence.
func TestPublisherOfflineOnStop(t *testing.T) {
	br := brokertest.Start(t, brokertest.Options{})
	sp := openSpool(t, "")
	p, stop := startPublisher(t, PublisherOptions{MQTTOptions: MQTTOptions{Broker: br.URL()}, Queue: sp})
	deadline := time.Now().Add(10 * time.Second)
	for !p.Connected() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	msgs := br.WaitFor(t, wire.StatusTopic(testVehicle), 5*time.Second, "offline presence", func(m []brokertest.Message) bool {
		for _, x := range m {
			var pr wire.Presence
			if json.Unmarshal(x.Payload, &pr) == nil && pr.Type == "presence" && !pr.Online {
				return true
			}
		}
		return false
	})
	if !msgs[len(msgs)-1].Retain {
		t.Error("offline presence not retained")
	}
}

func TestMQTTOptionsErrors(t *testing.T) {
	for _, tc := range []struct {
		desc string
		o    MQTTOptions
		want string
	}{
		{"no broker", MQTTOptions{}, "broker: missing"},
		{"scheme", MQTTOptions{Broker: "http://x"}, `scheme "http"`},
		{"path", MQTTOptions{Broker: "mqtt://x/y"}, "scheme://host[:port] only"},
		{"credentials in URL", MQTTOptions{Broker: "mqtt://u:p@x"}, "scheme://host[:port] only"},
		{"tls on plain", MQTTOptions{Broker: "mqtt://x", TLS: TLSOptions{CA: "ca.pem"}}, "use mqtts://"},
		{"cert without key", MQTTOptions{Broker: "mqtts://x", TLS: TLSOptions{Cert: "c.pem"}}, "cert and key go together"},
		{"inflight", MQTTOptions{Broker: "mqtt://x", Inflight: -1}, "inflight -1"},
		{"password file", MQTTOptions{Broker: "mqtt://x", PasswordFile: "/nonexistent/pw"}, "password_file"},
		{"ca file", MQTTOptions{Broker: "mqtts://x", TLS: TLSOptions{CA: "/nonexistent/ca.pem"}}, "tls.ca"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			err := tc.o.Check()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check() = %v, want %q", err, tc.want)
			}
		})
	}
	ep, err := parseBroker("mqtts://[::1]")
	if err != nil || ep.addr != "[::1]:8883" || !ep.secure {
		t.Errorf("parseBroker(mqtts://[::1]) = %+v, %v", ep, err)
	}
}

// TestPublisherSpread: a batch stuck on retries holds back the ones more
// than MaxSpread past it, and no more; once it goes through, the rest
// follows.
func TestPublisherSpread(t *testing.T) {
	var stuck atomic.Bool
	stuck.Store(true)
	var mu sync.Mutex
	var maxSeen uint64
	br := brokertest.Start(t, brokertest.Options{Refuse: func(m brokertest.Message) byte {
		h, err := batch.ReadHeader(m.Payload)
		if err != nil {
			return 0
		}
		if h.Seq == 2 && stuck.Load() {
			return 0x89 // server busy, until released
		}
		mu.Lock()
		maxSeen = max(maxSeen, h.Seq)
		mu.Unlock()
		return 0
	}})
	sp := openSpool(t, "")
	fill(t, sp, 3*MaxSpread)
	startPublisher(t, PublisherOptions{MQTTOptions: MQTTOptions{Broker: br.URL(), Inflight: 8}, Queue: sp})
	br.WaitFor(t, wire.BatchTopic(testVehicle), 10*time.Second, "the batches within the spread", func(m []brokertest.Message) bool {
		return len(m) >= MaxSpread-1
	})
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	held := maxSeen
	mu.Unlock()
	if held != MaxSpread+1 {
		t.Fatalf("with seq 2 stuck the publisher went up to seq %d, want %d (2 + MaxSpread - 1)", held, MaxSpread+1)
	}
	stuck.Store(false)
	br.WaitFor(t, wire.BatchTopic(testVehicle), 20*time.Second, "every batch", func(m []brokertest.Message) bool {
		return len(distinct(seqs(t, m))) >= 3*MaxSpread
	})
	waitEmpty(t, sp, 5*time.Second)
}
