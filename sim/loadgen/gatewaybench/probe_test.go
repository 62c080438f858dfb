package gatewaybench

import (
	"context"
	"fmt"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/nats-io/nats.go"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/cloud/alert"
	"github.com/kanal-dev/kanal/geo"
	"github.com/kanal-dev/kanal/internal/wire"
	"github.com/kanal-dev/kanal/uplink/batch"
)

// probeVehicle is the vehicle whose warning lamp the probe switches.
const probeVehicle = "probe-0001"

// alertProbe measures, while the gateway carries the load test, how long a
// warning lamp takes from the CAN frame's timestamp (the value's time in
// the batch, as an agent stamps it) to the alert on the traffic subject:
// through the broker, the bridge into JetStream, the processor and the
// alerts stream. Five times a second it sends a batch that switches the
// ABS lamp on (with the vehicle's cell), then one that switches it off.
type alertProbe struct {
	mu      sync.Mutex
	pending int64 // the time of the lamp-on not yet alerted; 0: none
	samples []time.Duration
	acked   uint64 // the probe's batches the gateway took
	raised  int    // warning alerts raised
	cleared int    // and cleared
	ons     int    // lamp-on batches taken
	cancel  context.CancelFunc
	done    chan struct{}
}

// stop ends the probe and waits for its last publish.
func (p *alertProbe) stop() {
	p.cancel()
	<-p.done
}

// ackedBatches is how many of the probe's batches the gateway took.
func (p *alertProbe) ackedBatches() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acked
}

func (p *alertProbe) run(ctx context.Context, mqttAddr, password string, nc *nats.Conn) error {
	cat := catalog.Default()
	lamp, _ := cat.ByPath("Vehicle.Kanal.Warning.ABS.IsOn")
	cellEntry, _ := cat.ByPath("Vehicle.Kanal.Location.Cell")
	grid, _ := geo.NewGrid(geo.DefaultLevel)
	cell, _ := grid.Cell(48.137, 11.575)
	sub, err := nc.Subscribe(wire.AlertSubject("warning", ">"), func(m *nats.Msg) {
		a, err := alert.Parse(m.Data)
		if err != nil {
			return
		}
		if a.State != "raised" {
			p.mu.Lock()
			p.cleared++
			p.mu.Unlock()
			return
		}
		now := time.Now()
		p.mu.Lock()
		defer p.mu.Unlock()
		p.raised++
		if p.pending != 0 && a.First.UnixNano() == p.pending {
			// one lamp-on is in flight at a time: this alert is its
			p.samples = append(p.samples, now.Sub(time.Unix(0, p.pending)))
			p.pending = 0
		}
	})
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	conn, err := net.Dial("tcp", mqttAddr)
	if err != nil {
		return err
	}
	c := paho.NewClient(paho.ClientConfig{Conn: packets.NewThreadSafeConn(conn)})
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: probeVehicle, CleanStart: true, KeepAlive: 30,
		Username: probeVehicle, UsernameFlag: true, Password: []byte(password), PasswordFlag: true}); err != nil {
		return fmt.Errorf("probe connect: %w", err)
	}
	defer c.Disconnect(&paho.Disconnect{})
	enc, err := batch.NewEncoder(batch.EncoderOptions{Level: 1})
	if err != nil {
		return err
	}
	boot := batch.NewBoot()
	var seq uint64
	send := func(on float64) (int64, error) {
		seq++
		now := time.Now().UnixNano()
		if on == 1 {
			// before the publish: the alert can come before the PUBACK
			p.mu.Lock()
			p.pending = now
			p.mu.Unlock()
		}
		b := batch.Batch{Header: batch.Header{Vehicle: probeVehicle, Boot: boot, Seq: seq, SentAt: now, Priority: on == 1},
			Values: []catalog.Value{{ID: cellEntry.ID, Time: now, Num: cell.Float64()}, {ID: lamp.ID, Time: now, Num: on}}}
		data, err := enc.Encode(nil, &b)
		if err != nil {
			return 0, err
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err = c.Publish(pctx, &paho.Publish{Topic: wire.BatchTopic(probeVehicle), QoS: 1, Payload: data}); err == nil {
			p.mu.Lock()
			p.acked++
			p.mu.Unlock()
		}
		return now, err
	}
	for ctx.Err() == nil {
		if _, err := send(1); err == nil {
			p.mu.Lock()
			p.ons++
			p.mu.Unlock()
		} else {
			if ctx.Err() != nil {
				break
			}
			continue // a negative PUBACK under load: try again
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
		send(0)
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// percentiles returns the p50 and p99 of the samples, in milliseconds.
func (p *alertProbe) percentiles() (n int, p50, p99 float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := append([]time.Duration(nil), p.samples...)
	if len(s) == 0 {
		return 0, 0, 0
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	at := func(q float64) float64 { return float64(s[min(len(s)-1, int(q*float64(len(s))))]) / 1e6 }
	return len(s), at(0.50), at(0.99)
}
