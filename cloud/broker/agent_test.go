package broker

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	mpackets "github.com/mochi-mqtt/server/v2/packets"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/internal/await"
	"github.com/kanal-dev/kanal/internal/wire"
	"github.com/kanal-dev/kanal/uplink"
	"github.com/kanal-dev/kanal/uplink/batch"
	"github.com/kanal-dev/kanal/uplink/spool"
)

// batchRecorder stands in for the bridge: a hook after the broker's that
// sees each accepted batch.
type batchRecorder struct {
	mqtt.HookBase
	mu   sync.Mutex
	seqs map[string][]uint64 // by authenticated client id
}

func (r *batchRecorder) ID() string           { return "test-recorder" }
func (r *batchRecorder) Provides(b byte) bool { return b == mqtt.OnPublish }
func (r *batchRecorder) count(vehicle string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seqs[vehicle])
}

func (r *batchRecorder) OnPublish(cl *mqtt.Client, pk mpackets.Packet) (mpackets.Packet, error) {
	if v, leaf, ok := wire.VehicleOf(pk.TopicName); ok && leaf == "batch" {
		h, err := batch.ReadHeader(pk.Payload)
		role, id, ok := ClientIdentity(cl)
		if err != nil || h.Vehicle != v || !ok || role != "vehicle" || v != id {
			return pk, mpackets.ErrPayloadFormatInvalid
		}
		r.mu.Lock()
		r.seqs[v] = append(r.seqs[v], h.Seq)
		r.mu.Unlock()
	}
	return pk, nil
}

// TestAgentPublisher runs the edge agent's real uplink publisher against
// the broker, once with a password and once with a client certificate:
// every batch is accepted and acknowledged, presence and command replies
// go through, notices arrive, and the ACL denies nothing the agent does.
func TestAgentPublisher(t *testing.T) {
	p := newPKI(t)
	f := start(t, Options{MQTTSListen: "127.0.0.1:0", TLS: TLSOptions{Cert: p.certFile, Key: p.keyFile, ClientCA: p.caFile}})
	rec := &batchRecorder{seqs: make(map[string][]uint64)}
	if err := f.s.AddHook(rec, nil); err != nil {
		t.Fatal(err)
	}
	ops := f.login(t, "ops", "ops:1")
	ops.subscribe(t, wire.StatusTopic("+"))

	dir := t.TempDir()
	pwFile := filepath.Join(dir, "veh-1.pw")
	os.WriteFile(pwFile, []byte(f.pw["veh-1"]+"\n"), 0o600)
	cert := p.issue(t, "veh-cert", x509.ExtKeyUsageClientAuth)
	certFile, keyFile := filepath.Join(dir, "veh.pem"), filepath.Join(dir, "veh.key")
	writeKeyPair(t, cert, certFile, keyFile)

	for _, tc := range []struct {
		vehicle string
		mqtt    uplink.MQTTOptions
	}{
		{"veh-1", uplink.MQTTOptions{Broker: "mqtt://" + f.s.Addr(ListenerMQTT), Username: "veh-1", PasswordFile: pwFile}},
		{"veh-cert", uplink.MQTTOptions{Broker: "mqtts://" + f.s.Addr(ListenerMQTTS), TLS: uplink.TLSOptions{CA: p.caFile, Cert: certFile, Key: keyFile, ServerName: "localhost"}}},
	} {
		t.Run(tc.vehicle, func(t *testing.T) {
			sp, err := spool.Open(spool.Options{Dir: t.TempDir(), Fsync: spool.FsyncNone, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			defer sp.Close()
			const n = 30
			boot := batch.NewBoot()
			bt, err := uplink.NewBatcher(uplink.BatcherOptions{Vehicle: tc.vehicle, Boot: boot,
				Sink: func(data []byte, prio bool) error { _, err := sp.Append(data, prio); return err }})
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				bt.Add(catalog.Value{ID: 1, Time: int64(i) * int64(time.Second), Num: float64(i)}, false)
				if err := bt.Flush(); err != nil {
					t.Fatal(err)
				}
			}
			notices := make(chan wire.Notice, 4)
			tc.mqtt.BackoffMin, tc.mqtt.BackoffMax = 20*time.Millisecond, 200*time.Millisecond
			pub, err := uplink.NewPublisher(uplink.PublisherOptions{MQTTOptions: tc.mqtt, Vehicle: tc.vehicle, Boot: boot, Queue: sp, Logger: quiet,
				OnCommand: func(context.Context, wire.Command) (map[string]any, error) { return map[string]any{"ok": true}, nil },
				OnNotice:  func(n wire.Notice, _ string) { notices <- n }})
			if err != nil {
				t.Fatal(err)
			}
			cell := "89c2" + tc.vehicle[len(tc.vehicle)-1:] // one cell per vehicle: the other subtest's subscription is not this one's
			pub.SetCells([]string{cell})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { pub.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()

			await.Until(t, 5*time.Second, "every batch acknowledged", func() bool { return sp.Stats().Records == 0 && rec.count(tc.vehicle) >= n })
			ops.expect(t, wire.StatusTopic(tc.vehicle), 5*time.Second) // presence
			cmd, _ := json.Marshal(wire.Command{ID: "c1", Cmd: "ping"})
			await.Until(t, 5*time.Second, "the agent subscribed to its commands", func() bool {
				return len(f.s.Topics.Subscribers(wire.CommandTopic(tc.vehicle)).Subscriptions) > 0
			})
			if code := ops.publish(t, wire.CommandTopic(tc.vehicle), cmd); code >= 0x80 {
				t.Fatalf("command: %#02x", code)
			}
			ops.expect(t, wire.StatusTopic(tc.vehicle), 5*time.Second) // the command's reply
			await.Until(t, 5*time.Second, "the agent subscribed to its cell", func() bool {
				return len(f.s.Topics.Subscribers(wire.NoticeTopic(cell)).Subscriptions) > 0
			})
			if err := f.s.Publish(wire.NoticeTopic(cell), []byte(`{"id":"n1","kind":"fog","text":"fog ahead"}`), false, 1); err != nil {
				t.Fatal(err)
			}
			select {
			case <-notices:
			case <-time.After(5 * time.Second):
				t.Error("no notice")
			}
			if d := f.metric(t, f.s.m.aclDenied.WithLabelValues("vehicle", "publish")) + f.metric(t, f.s.m.aclDenied.WithLabelValues("vehicle", "read")); d != 0 {
				t.Errorf("the ACL denied the agent %v times:\n%s", d, f.logs)
			}
		})
	}
}
