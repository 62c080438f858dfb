package uplink

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kanal-dev/kanal/internal/wire"
	"github.com/kanal-dev/kanal/uplink/batch"
	"github.com/kanal-dev/kanal/uplink/spool"
)

// Queue is what the publisher drains: the spool. It is the only record of a
// batch until the gateway's PUBACK (paho's autopaho queue drops entries
// before the PUBACK, so it is not used).
type Queue interface {
	// Next returns the first record with an ID above after, waiting for one.
	Next(ctx context.Context, after uint64) (spool.Record, error)
	Ack(id uint64) error
	Quarantine(id uint64, reason string) error
}

// PublisherOptions configures a Publisher.
type PublisherOptions struct {
	MQTTOptions
	Vehicle string // the client id and the topics' vehicle; required
	Boot    string // this run's boot id, in the presence messages
	Agent   string // agent version, in the presence messages
	Queue   Queue  // required
	// OnConnect runs after every successful connect, once the batch
	// publishing has started: the agent sends a keyframe, so the cloud has
	// the vehicle's whole state again after any gap.
	OnConnect func()
	// OnCommand answers a command from the cloud; nil answers every command
	// as unknown. It runs on a goroutine of its own.
	OnCommand func(ctx context.Context, c wire.Command) (map[string]any, error)
	// OnNotice receives the notices of the cells subscribed (SetCells).
	OnNotice func(n wire.Notice, topic string)
	Logger   *slog.Logger
	Metrics  prometheus.Registerer
}

// Publisher sends the spool's batches to the gateway over MQTT v5 at QoS 1,
// deletes each only after a successful PUBACK, and reconnects with backoff.
// Several batches may be in flight; exactly-once storage downstream rests on
// the (vehicle, boot, sequence) inside every batch, so a batch resent after a
// lost PUBACK is harmless.
type Publisher struct {
	opts     PublisherOptions
	ep       endpoint
	tls      *tls.Config
	password []byte
	log      *slog.Logger
	m        *publisherMetrics

	connected atomic.Bool
	mu        sync.Mutex
	cells     []string     // notice cells wanted
	client    *paho.Client // the current connection, nil between them
	subbed    map[string]bool
}

// NewPublisher checks the options and reads the password and TLS files.
func NewPublisher(opts PublisherOptions) (*Publisher, error) {
	if err := batch.CheckVehicleID(opts.Vehicle); err != nil {
		return nil, fmt.Errorf("uplink: vehicle: %w", err)
	}
	if opts.Queue == nil {
		return nil, errors.New("uplink: options: Queue is required")
	}
	if err := opts.MQTTOptions.setDefaults(); err != nil {
		return nil, fmt.Errorf("uplink: %w", err)
	}
	p := &Publisher{opts: opts, log: opts.Logger, m: newPublisherMetrics(opts.Metrics)}
	if p.log == nil {
		p.log = slog.Default()
	}
	p.ep, _ = parseBroker(opts.Broker)
	var err error
	if p.password, err = opts.password(); err != nil {
		return nil, fmt.Errorf("uplink: %w", err)
	}
	if p.ep.secure {
		if p.tls, err = opts.tlsConfig(p.ep.host); err != nil {
			return nil, fmt.Errorf("uplink: %w", err)
		}
	}
	return p, nil
}

// Connected reports whether a connection to the gateway is up.
func (p *Publisher) Connected() bool { return p.connected.Load() }

// SetCells sets the grid cells whose notices the agent wants: its current
// cell and the neighbours. Subscriptions move at once when connected, and
// are made at every connect.
func (p *Publisher) SetCells(tokens []string) {
	tokens = append([]string(nil), tokens...)
	sort.Strings(tokens)
	p.mu.Lock()
	p.cells = tokens
	c := p.client
	p.mu.Unlock()
	if c != nil {
		go p.syncCells(context.Background(), c)
	}
}

// Run connects and publishes until ctx ends. It returns nil then; before, it
// only retries: a gateway that is down is the normal state of a vehicle in a
// tunnel.
func (p *Publisher) Run(ctx context.Context) error {
	failures := 0
	for {
		up, err := p.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if up {
			failures = 0
			p.log.Warn("uplink disconnected", "broker", p.opts.Broker, "err", err)
		} else if failures == 0 {
			p.log.Warn("uplink cannot connect; retrying with backoff", "broker", p.opts.Broker, "err", err)
		}
		failures++
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(p.backoff(failures)):
		}
	}
}

// backoff is the delay before attempt n (1, 2, ...): exponential from
// BackoffMin up to BackoffMax, with full jitter, so a fleet that lost the
// gateway together does not come back together.
func (p *Publisher) backoff(n int) time.Duration {
	d := p.opts.BackoffMin << min(n-1, 20)
	if d <= 0 || d > p.opts.BackoffMax {
		d = p.opts.BackoffMax
	}
	return d/2 + rand.N(d/2+1)
}

// session is one connection: connect, then publish until it fails or ctx
// ends. up says whether the CONNACK was a success.
func (p *Publisher) session(ctx context.Context) (up bool, err error) {
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	client, err := p.connect(sctx, cancel)
	if err != nil {
		return false, err
	}
	p.connected.Store(true)
	p.m.connected.Set(1)
	p.m.reconnects.Inc()
	p.log.Info("uplink connected", "broker", p.opts.Broker, "vehicle", p.opts.Vehicle)
	defer func() {
		p.connected.Store(false)
		p.m.connected.Set(0)
		p.mu.Lock()
		p.client, p.subbed = nil, nil
		p.mu.Unlock()
		if ctx.Err() != nil {
			// a clean stop: say offline ourselves, since a clean
			// DISCONNECT suppresses the last will
			pctx, pcancel := context.WithTimeout(context.Background(), time.Second)
			p.publishPresence(pctx, client, false)
			pcancel()
		}
		client.Disconnect(&paho.Disconnect{ReasonCode: 0})
		<-client.Done()
	}()

	if err := p.publishPresence(sctx, client, true); err != nil {
		return true, err
	}
	if err := p.subscribe(sctx, client); err != nil {
		return true, err
	}
	p.mu.Lock()
	p.client = client
	p.mu.Unlock()
	go p.syncCells(sctx, client)
	if p.opts.OnConnect != nil {
		p.opts.OnConnect()
	}
	err = p.drain(sctx, client)
	if cause := context.Cause(sctx); cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
	}
	return true, err
}

// connect dials the broker and sends CONNECT with the vehicle's id, its
// credentials and an offline last will. A connection error or a server
// DISCONNECT later cancels the session through cancel.
func (p *Publisher) connect(ctx context.Context, cancel context.CancelCauseFunc) (*paho.Client, error) {
	dctx, dcancel := context.WithTimeout(ctx, p.opts.ConnectTimeout)
	defer dcancel()
	var conn net.Conn
	var err error
	d := net.Dialer{KeepAlive: p.opts.KeepAlive}
	if p.tls != nil {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: p.tls}).DialContext(dctx, "tcp", p.ep.addr)
	} else {
		conn, err = d.DialContext(dctx, "tcp", p.ep.addr)
	}
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", p.ep.addr, err)
	}
	client := paho.NewClient(paho.ClientConfig{
		Conn:              packets.NewThreadSafeConn(conn),
		PacketTimeout:     p.opts.PublishTimeout,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){p.received},
		OnClientError:     func(err error) { cancel(fmt.Errorf("connection: %w", err)) },
		OnServerDisconnect: func(d *paho.Disconnect) {
			cancel(fmt.Errorf("gateway disconnected: reason %#02x", d.ReasonCode))
		},
	})
	will, _ := json.Marshal(wire.Presence{Type: "presence", Online: false, Boot: p.opts.Boot, Agent: p.opts.Agent, At: time.Now().UTC()})
	cp := &paho.Connect{
		ClientID:     p.opts.Vehicle,
		KeepAlive:    uint16(p.opts.KeepAlive / time.Second),
		CleanStart:   true,
		Username:     p.opts.Username,
		UsernameFlag: p.opts.Username != "",
		Password:     p.password,
		PasswordFlag: p.password != nil,
		WillMessage:  &paho.WillMessage{Topic: wire.StatusTopic(p.opts.Vehicle), QoS: 1, Retain: true, Payload: will},
	}
	ack, err := client.Connect(dctx, cp)
	if err != nil {
		conn.Close()
		if ack != nil {
			return nil, fmt.Errorf("connect: refused with reason %#02x: %w", ack.ReasonCode, err)
		}
		return nil, fmt.Errorf("connect: %w", err)
	}
	return client, nil
}

func (p *Publisher) publishPresence(ctx context.Context, c *paho.Client, online bool) error {
	b, _ := json.Marshal(wire.Presence{Type: "presence", Online: online, Boot: p.opts.Boot, Agent: p.opts.Agent, At: time.Now().UTC()})
	pctx, cancel := context.WithTimeout(ctx, p.opts.PublishTimeout)
	defer cancel()
	_, err := c.Publish(pctx, &paho.Publish{Topic: wire.StatusTopic(p.opts.Vehicle), QoS: 1, Retain: true, Payload: b})
	if err != nil {
		return fmt.Errorf("publish presence: %w", err)
	}
	return nil
}

// subscribe takes the vehicle's command topic.
func (p *Publisher) subscribe(ctx context.Context, c *paho.Client) error {
	sctx, cancel := context.WithTimeout(ctx, p.opts.PublishTimeout)
	defer cancel()
	ack, err := c.Subscribe(sctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: wire.CommandTopic(p.opts.Vehicle), QoS: 1}}})
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", wire.CommandTopic(p.opts.Vehicle), err)
	}
	if len(ack.Reasons) != 1 || ack.Reasons[0] >= 0x80 {
		return fmt.Errorf("subscribe %s: refused: %v", wire.CommandTopic(p.opts.Vehicle), ack.Reasons)
	}
	return nil
}

// syncCells moves the notice subscriptions to the wanted cells.
func (p *Publisher) syncCells(ctx context.Context, c *paho.Client) {
	p.mu.Lock()
	want := p.cells
	if p.subbed == nil {
		p.subbed = map[string]bool{}
	}
	var add, drop []string
	wanted := map[string]bool{}
	for _, cell := range want {
		wanted[cell] = true
		if !p.subbed[cell] {
			add = append(add, cell)
		}
	}
	for cell := range p.subbed {
		if !wanted[cell] {
			drop = append(drop, cell)
		}
	}
	for _, cell := range add {
		p.subbed[cell] = true
	}
	for _, cell := range drop {
		delete(p.subbed, cell)
	}
	p.mu.Unlock()
	sctx, cancel := context.WithTimeout(ctx, p.opts.PublishTimeout)
	defer cancel()
	if len(add) > 0 {
		subs := make([]paho.SubscribeOptions, len(add))
		for i, cell := range add {
			subs[i] = paho.SubscribeOptions{Topic: wire.NoticeTopic(cell), QoS: 1}
		}
		if _, err := c.Subscribe(sctx, &paho.Subscribe{Subscriptions: subs}); err != nil {
			p.log.Debug("notice subscribe failed; retried at the next connect", "err", err)
		}
	}
	if len(drop) > 0 {
		topics := make([]string, len(drop))
		for i, cell := range drop {
			topics[i] = wire.NoticeTopic(cell)
		}
		if _, err := c.Unsubscribe(sctx, &paho.Unsubscribe{Topics: topics}); err != nil {
			p.log.Debug("notice unsubscribe failed", "err", err)
		}
	}
}

// MaxSpread bounds how far ahead of the oldest unacknowledged batch the
// publisher may send: a batch is sent only when its spool position is less
// than MaxSpread past the oldest one still in flight. The gateway's
// exactly-once store (cloud/store) keeps a window of recent sequence
// numbers per boot, larger than this, and counts anything older as decided:
// that is safe only because no batch that old can still be on its first
// try. A batch stuck on retries thus holds back at most MaxSpread others.
const MaxSpread = 64

// spread tracks the records in flight, for MaxSpread.
type spread struct {
	mu      sync.Mutex
	ids     map[uint64]struct{}
	changed chan struct{} // closed and renewed whenever a record leaves
}

func newSpread() *spread {
	return &spread{ids: map[uint64]struct{}{}, changed: make(chan struct{})}
}

// admit waits until id is within MaxSpread of the oldest record in flight,
// then counts it in flight.
func (s *spread) admit(ctx context.Context, id uint64) error {
	for {
		s.mu.Lock()
		oldest := id
		for x := range s.ids {
			oldest = min(oldest, x)
		}
		if id-oldest < MaxSpread {
			s.ids[id] = struct{}{}
			s.mu.Unlock()
			return nil
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// done takes id out of flight.
func (s *spread) done(id uint64) {
	s.mu.Lock()
	delete(s.ids, id)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// drain publishes the queue's records with up to Inflight in flight, from
// the oldest unacknowledged one: after a reconnect everything not yet
// acknowledged is sent again.
func (p *Publisher) drain(ctx context.Context, c *paho.Client) error {
	jobs := make(chan spool.Record)
	win := newSpread()
	errc := make(chan error, p.opts.Inflight+1)
	var wg sync.WaitGroup
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range p.opts.Inflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rec := range jobs {
				err := p.publishBatch(wctx, c, rec)
				win.done(rec.ID)
				if err != nil {
					errc <- err
					cancel()
					return
				}
			}
		}()
	}
	var err error
	var after uint64
loop:
	for {
		rec, nerr := p.opts.Queue.Next(wctx, after)
		if nerr != nil {
			err = nerr
			break
		}
		after = rec.ID
		if err = win.admit(wctx, rec.ID); err != nil {
			break
		}
		select {
		case jobs <- rec:
		case <-wctx.Done():
			err = wctx.Err()
			break loop
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case werr := <-errc:
		return werr
	default:
	}
	return err
}

// publishBatch sends one record until the gateway takes it, refuses it for
// good, or the connection fails (then the error ends the session).
func (p *Publisher) publishBatch(ctx context.Context, c *paho.Client, rec spool.Record) error {
	topic := wire.BatchTopic(p.opts.Vehicle)
	for attempt := 1; ; attempt++ {
		start := time.Now()
		pctx, cancel := context.WithTimeout(ctx, p.opts.PublishTimeout)
		resp, err := c.Publish(pctx, &paho.Publish{Topic: topic, QoS: 1, Payload: rec.Data})
		cancel()
		if resp == nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("publish batch %d: %w", rec.ID, err)
		}
		switch classify(resp.ReasonCode) {
		case delivered:
			p.m.pubackSeconds.Observe(time.Since(start).Seconds())
			p.m.batches.Inc()
			p.m.bytes.Add(float64(len(rec.Data)))
			if err := p.opts.Queue.Ack(rec.ID); err != nil {
				return fmt.Errorf("ack batch %d: %w", rec.ID, err)
			}
			return nil
		case never:
			p.m.negative.WithLabelValues(codeLabel(resp.ReasonCode)).Inc()
			p.log.Error("gateway refused a batch for good; quarantined", "id", rec.ID, "reason", codeLabel(resp.ReasonCode), "bytes", len(rec.Data))
			if err := p.opts.Queue.Quarantine(rec.ID, "puback "+codeLabel(resp.ReasonCode)); err != nil {
				return fmt.Errorf("quarantine batch %d: %w", rec.ID, err)
			}
			return nil
		}
		p.m.negative.WithLabelValues(codeLabel(resp.ReasonCode)).Inc()
		if attempt == 1 {
			p.log.Warn("gateway cannot take a batch now; retrying", "id", rec.ID, "reason", codeLabel(resp.ReasonCode))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(p.backoff(attempt)):
		}
	}
}

func codeLabel(code byte) string { return fmt.Sprintf("0x%02x", code) }

// received routes a message from the gateway: a command or a notice. It runs
// on paho's goroutine, so anything that publishes runs on a goroutine of
// its own (a publish from here would wait for an ack this goroutine reads).
func (p *Publisher) received(pr paho.PublishReceived) (bool, error) {
	pk := pr.Packet
	if pk.Topic == wire.CommandTopic(p.opts.Vehicle) {
		p.m.commands.Inc()
		go p.command(pr.Client, pk.Payload)
		return true, nil
	}
	if cell, ok := wire.CellOf(pk.Topic); ok {
		n, err := wire.ParseNotice(pk.Payload)
		if err != nil {
			p.log.Warn("notice ignored", "topic", pk.Topic, "err", err)
			return true, nil
		}
		p.m.notices.Inc()
		if p.opts.OnNotice != nil {
			p.opts.OnNotice(n, cell)
		}
		return true, nil
	}
	return false, nil
}

// command answers one command on the status topic.
func (p *Publisher) command(c *paho.Client, payload []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), p.opts.PublishTimeout)
	defer cancel()
	reply := wire.Reply{Type: "reply", At: time.Now().UTC()}
	cmd, err := wire.ParseCommand(payload)
	reply.ID, reply.Cmd = cmd.ID, cmd.Cmd
	switch {
	case err != nil:
		reply.Error = err.Error()
	case p.opts.OnCommand == nil:
		reply.Error = fmt.Sprintf("unknown command %q", cmd.Cmd)
	default:
		reply.Status, err = p.opts.OnCommand(ctx, cmd)
		reply.OK = err == nil
		if err != nil {
			reply.Error = err.Error()
		}
	}
	p.log.Info("command", "cmd", cmd.Cmd, "id", cmd.ID, "ok", reply.OK, "err", reply.Error)
	b, _ := json.Marshal(reply)
	if _, err := c.Publish(ctx, &paho.Publish{Topic: wire.StatusTopic(p.opts.Vehicle), QoS: 1, Payload: b}); err != nil {
		p.log.Debug("command reply not sent", "err", err)
	}
}
