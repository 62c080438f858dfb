package loadgen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/packets"

	"github.com/kanal-dev/kanal/internal/wire"
	"github.com/kanal-dev/kanal/uplink/batch"
)

// readBuffer is each connection's read buffer: PUBACKs are 4 to 6 bytes,
// and a bigger packet (a CONNACK with properties) is read in pieces.
const readBuffer = 256

// conn is one vehicle's MQTT v5 connection, built on paho's packet codec
// rather than its client: the client's queues, goroutines and per-message
// bookkeeping cost more CPU than the broker spends on the message, and the
// point is to measure the broker. One goroutine per connection reads
// PUBACKs (read); the Generator's writers publish (publish).
type conn struct {
	g       *Generator
	idx     int // 0-based, in the fleet
	vehicle string
	boot    string
	topic   string
	nc      net.Conn
	br      *bufio.Reader
	window  int           // publishes that may wait for a PUBACK
	keep    time.Duration // keep-alive, as the broker set it

	wmu sync.Mutex // one writer at a time, seq order on the wire

	mu       sync.Mutex // guards seq, slots, inflight
	seq      uint64
	slots    []slot
	inflight int

	lastWrite atomic.Int64 // ns since the generator's start
	dead      atomic.Bool  // lost or closed: publish no more
	closing   atomic.Bool  // Close is ending it: not a loss
}

// slot is one publish waiting for its PUBACK.
type slot struct {
	pid    uint16 // 0: free
	sent   int64  // ns since the generator's start
	values int
}

// dial connects and logs in: CONNECT, then CONNACK within the timeout.
func (g *Generator) dial(ctx context.Context, idx int) (*conn, error) {
	o := &g.opts
	d := net.Dialer{Timeout: o.ConnectTimeout}
	if len(o.LocalAddrs) > 0 {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(o.LocalAddrs[idx%len(o.LocalAddrs)])}
	}
	nc, err := d.DialContext(ctx, "tcp", o.Broker)
	if err != nil {
		return nil, err
	}
	vehicle := VehicleID(o.VehiclePrefix, o.FirstVehicle+idx)
	c := &conn{g: g, idx: idx, vehicle: vehicle, boot: batch.NewBoot(), topic: wire.BatchTopic(vehicle),
		nc: nc, br: bufio.NewReaderSize(nc, readBuffer), window: o.Inflight, keep: o.KeepAlive}
	if err := c.login(); err != nil {
		nc.Close()
		return nil, err
	}
	c.slots = make([]slot, c.window)
	c.lastWrite.Store(g.now())
	return c, nil
}

func (c *conn) login() error {
	o := &c.g.opts
	c.nc.SetDeadline(time.Now().Add(o.ConnectTimeout))
	cp := packets.NewControlPacket(packets.CONNECT)
	pk := cp.Content.(*packets.Connect)
	pk.ClientID = c.vehicle
	pk.CleanStart = true
	pk.KeepAlive = uint16(o.KeepAlive / time.Second)
	pk.UsernameFlag, pk.Username = true, c.vehicle
	if o.Password != nil {
		pk.PasswordFlag, pk.Password = true, []byte(o.Password(c.vehicle))
	}
	if _, err := cp.WriteTo(c.nc); err != nil {
		return err
	}
	ack, err := packets.ReadPacket(c.br)
	if err != nil {
		return err
	}
	ca, ok := ack.Content.(*packets.Connack)
	if !ok {
		return &reasonError{"connect: " + ack.PacketType() + " before CONNACK"}
	}
	if ca.ReasonCode != packets.ConnackSuccess {
		return &reasonError{"connack " + codeName(connReason, ca.ReasonCode)}
	}
	p := ca.Properties
	if p.ReceiveMaximum != nil && int(*p.ReceiveMaximum) < c.window {
		c.window = max(int(*p.ReceiveMaximum), 1)
	}
	if p.ServerKeepAlive != nil && *p.ServerKeepAlive > 0 {
		c.keep = time.Duration(*p.ServerKeepAlive) * time.Second
	}
	if p.MaximumPacketSize != nil && int64(*p.MaximumPacketSize) < c.g.maxPacket {
		return &reasonError{fmt.Sprintf("broker's maximum packet size %d is below the largest batch (%d bytes)", *p.MaximumPacketSize, c.g.maxPacket)}
	}
	c.nc.SetDeadline(time.Time{})
	return nil
}

// read takes PUBACKs until the connection ends. It owns c.br.
func (c *conn) read() {
	for {
		c.nc.SetReadDeadline(time.Now().Add(2 * c.keep)) // the broker answers every PINGREQ
		cp, err := packets.ReadPacket(c.br)
		if err != nil {
			c.lose(err)
			c.nc.Close()
			return
		}
		switch pk := cp.Content.(type) {
		case *packets.Puback:
			c.acked(pk.PacketID, pk.ReasonCode)
		case *packets.Pingresp:
		case *packets.Disconnect:
			c.lose(&reasonError{"disconnect " + codeName(connReason, pk.ReasonCode)})
			c.nc.Close()
			return
		default:
			c.g.unexpected.Add(1)
		}
	}
}

// acked settles the publish with packet id pid.
func (c *conn) acked(pid uint16, code byte) {
	now := c.g.now()
	c.mu.Lock()
	var s slot
	for i := range c.slots {
		if c.slots[i].pid == pid && pid != 0 {
			s, c.slots[i] = c.slots[i], slot{}
			c.inflight--
			break
		}
	}
	c.mu.Unlock()
	if s.pid == 0 {
		c.g.unexpected.Add(1) // a PUBACK for nothing in flight
		return
	}
	c.g.settle(time.Duration(now-s.sent), s.values, code)
}

// publish sends the connection's next batch, unless its window is full.
func (c *conn) publish(w *writer) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.dead.Load() {
		return
	}
	g := c.g
	c.mu.Lock()
	if c.dead.Load() {
		c.mu.Unlock()
		return
	}
	if c.inflight >= c.window {
		c.mu.Unlock()
		g.skipped.Add(1)
		return
	}
	c.seq++
	seq := c.seq
	tpl := &g.templates[(uint64(c.idx)+seq-1)%uint64(len(g.templates))]
	pid := uint16((seq-1)%65535 + 1)
	now := g.now()
	for i := range c.slots {
		if c.slots[i].pid == 0 {
			c.slots[i] = slot{pid: pid, sent: now, values: len(tpl.values)}
			break
		}
	}
	c.inflight++
	c.mu.Unlock()
	g.inflight.Add(1)

	payload, err := w.p.payload(tpl, batch.Header{Vehicle: c.vehicle, Boot: c.boot, Seq: seq, SentAt: g.wall(now)})
	if err != nil { // a profile that encoded once encodes again: cannot happen
		g.opts.Logger.Error("encode batch", "vehicle", c.vehicle, "err", err)
		c.failLocked(err)
		return
	}
	w.pub.Topic, w.pub.PacketID, w.pub.Payload = c.topic, pid, payload
	c.nc.SetWriteDeadline(time.Now().Add(g.opts.WriteTimeout))
	_, err = w.pub.WriteTo(c.nc)
	w.pub.Payload = nil
	if err != nil {
		c.failLocked(err) // the batch did not go out: its slot goes with the connection
		return
	}
	c.lastWrite.Store(g.now())
	g.published.Add(1)
	g.payloadBytes.Add(uint64(len(payload)))
}

// ping keeps an idle connection alive.
func (c *conn) ping() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.dead.Load() {
		return
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.g.opts.WriteTimeout))
	if _, err := packets.NewControlPacket(packets.PINGREQ).WriteTo(c.nc); err != nil {
		c.failLocked(err)
		return
	}
	c.lastWrite.Store(c.g.now())
}

// idle reports whether the connection has written nothing for half its
// keep-alive.
func (c *conn) idle(now int64) bool {
	return !c.dead.Load() && time.Duration(now-c.lastWrite.Load()) >= c.keep/2
}

// failLocked ends the connection after a failed write; c.wmu is held.
func (c *conn) failLocked(err error) {
	c.lose(err)
	c.nc.Close() // the reader sees it and returns
}

// lose records the end of the connection once, unless Close ended it,
// and gives up on its publishes in flight: they count as unacknowledged.
func (c *conn) lose(err error) {
	c.mu.Lock()
	if c.dead.Load() {
		c.mu.Unlock()
		return
	}
	c.dead.Store(true) // under mu: publish sees it before it takes a slot
	n := c.inflight
	clear(c.slots)
	c.inflight = 0
	c.mu.Unlock()
	c.g.held.Add(-1)
	c.g.inflight.Add(-int64(n))
	if c.closing.Load() {
		return
	}
	if errors.Is(err, net.ErrClosed) && c.g.closed.Load() {
		return
	}
	reason := reasonOf(err)
	c.g.countLost(reason)
	c.g.opts.Logger.Debug("connection lost", "vehicle", c.vehicle, "reason", reason)
}

// close sends DISCONNECT (normal) and closes the socket. Publishes still
// in flight stay unacknowledged.
func (c *conn) close() {
	c.closing.Store(true)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !c.dead.Load() {
		c.nc.SetWriteDeadline(time.Now().Add(time.Second))
		packets.NewControlPacket(packets.DISCONNECT).WriteTo(c.nc)
	}
	c.nc.Close()
}

// unsettled returns the publishes still waiting for a PUBACK.
func (c *conn) unsettled() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inflight
}
