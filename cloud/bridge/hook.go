package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kanal-dev/kanal/cloud/store"
	"github.com/kanal-dev/kanal/internal/bytesize"
	"github.com/kanal-dev/kanal/internal/wire"
	"github.com/kanal-dev/kanal/uplink/batch"
)

// DefaultMaxPayload is the largest batch payload taken: the agent's
// uplink.MaxBatchBytes, which the broker's maximum packet size also allows.
const DefaultMaxPayload = 256 * bytesize.KiB

// Storer is what the hook needs of a *store.Store.
type Storer interface {
	Store(ctx context.Context, vehicle string, h batch.Header, payload []byte) (store.Result, error)
	Dead(ctx context.Context, reason, vehicle string, payload []byte, detail string) error
}

// Options configures a Hook.
type Options struct {
	// Store stores batches and dead letters; required. It bounds each call
	// by its publish timeout, which is how long a vehicle waits for a
	// negative PUBACK at most.
	Store Storer `yaml:"-"`
	// MaxPayload is the largest batch payload taken (default 256 KiB);
	// anything larger is refused with 0x99 and its first MaxPayload bytes
	// kept in KANAL_DEAD.
	MaxPayload bytesize.Size `yaml:"max_payload"`
	// Identity returns the authenticated identity of a client: the vehicle
	// id it may publish batches as. nil means the client id, which the
	// auth hook ties to the login.
	Identity func(cl *mqtt.Client) string `yaml:"-"`

	Logger  *slog.Logger          `yaml:"-"` // nil means slog.Default()
	Metrics prometheus.Registerer `yaml:"-"` // nil means not registered
}

// Hook is the mochi hook that stores vehicle batches in JetStream before
// their PUBACK. Add it to the server after the auth and ACL hooks; it
// starts no goroutines.
type Hook struct {
	mqtt.HookBase
	opts     Options
	max      int
	identity func(cl *mqtt.Client) string
	log      *slog.Logger
	m        *metrics

	mu       sync.Mutex
	stopped  bool
	inflight sync.WaitGroup
	failing  atomic.Bool // the store is failing: logged once when it starts and ends
}

// New returns a Hook, or an error naming the bad option.
func New(opts Options) (*Hook, error) {
	if opts.Store == nil {
		return nil, errors.New("bridge: options: Store is required")
	}
	switch {
	case opts.MaxPayload == 0:
		opts.MaxPayload = DefaultMaxPayload
	case opts.MaxPayload < 0 || opts.MaxPayload > 64*bytesize.MiB:
		return nil, fmt.Errorf("bridge: options: max_payload %s: want up to 64MiB (0: %s)", opts.MaxPayload, DefaultMaxPayload)
	}
	h := &Hook{opts: opts, max: int(opts.MaxPayload), identity: opts.Identity, log: opts.Logger, m: newMetrics(opts.Metrics)}
	if h.identity == nil {
		h.identity = func(cl *mqtt.Client) string { return cl.ID }
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	return h, nil
}

// ID names the hook in mochi's logs.
func (h *Hook) ID() string { return "kanal-bridge" }

// Provides says the hook handles OnPublish only.
func (h *Hook) Provides(b byte) bool { return b == mqtt.OnPublish }

// Stop makes the hook refuse new batches (0x80, retried) and waits for the
// ones being stored, each bounded by the store's publish timeout. mochi
// calls it when the server closes.
func (h *Hook) Stop() error {
	h.mu.Lock()
	h.stopped = true
	h.mu.Unlock()
	h.inflight.Wait()
	return nil
}

// OnPublish runs on the publishing client's read loop before mochi writes
// the PUBACK, so blocking here for JetStream's ack holds back that client
// only: the intended back-pressure. For a batch topic it returns
//
//   - the packet and nil once the batch is stored or found a duplicate:
//     mochi acknowledges with success. The packet is marked Ignore, so mochi
//     neither routes the batch to subscribers nor retains it (a retained
//     flag is dropped too): batches are not kept in the broker's memory.
//     Its user properties are dropped, as mochi copies them into the PUBACK
//     and then writes its reason code 0x01, which no client reads as
//     success.
//   - a bare reason code (codes.go) otherwise: mochi sends it as the
//     PUBACK's reason code.
//   - packets.ErrRejectPacket for a publish that is not MQTT v5 at QoS 1:
//     mochi then sends no PUBACK at all and stores nothing. A v3.1.1 client
//     could not be told "no" (mochi acknowledges it whatever the hook says),
//     and at QoS 0 there is no PUBACK to hold back.
//
// Every other topic passes through untouched.
func (h *Hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	vehicle, leaf, ok := wire.VehicleOf(pk.TopicName)
	if !ok || leaf != "batch" {
		return pk, nil
	}
	h.m.bytes.Add(float64(len(pk.Payload)))
	if cl.Net.Inline || cl.Properties.ProtocolVersion != 5 || pk.FixedHeader.Qos != 1 {
		h.m.publishes.WithLabelValues(resultProtocol).Inc()
		h.log.Debug("batch publish refused: not MQTT v5 at QoS 1", "client", cl.ID, "version", cl.Properties.ProtocolVersion, "qos", pk.FixedHeader.Qos)
		return pk, packets.ErrRejectPacket
	}
	if !h.enter() {
		return h.refuse(pk, resultStopping, codeUnavailable)
	}
	defer h.inflight.Done()

	id := h.identity(cl)
	if vehicle != id {
		h.log.Debug("batch publish on another vehicle's topic", "client", cl.ID, "identity", id, "topic", pk.TopicName)
		return h.refuse(pk, resultNotAuthorized, codeNotAuthorized)
	}
	hdr, bad := validate(id, pk.Payload, h.max)
	if bad != nil {
		return h.dead(pk, id, bad)
	}
	res, err := h.opts.Store.Store(context.Background(), id, hdr, pk.Payload)
	if err != nil {
		if h.failing.CompareAndSwap(false, true) {
			h.log.Warn("storing batches fails; vehicles get negative PUBACKs and retry", "vehicle", id, "batch", hdr.MsgID(), "err", err)
		}
		return h.refuse(pk, resultFailed, storeCode(err))
	}
	if h.failing.CompareAndSwap(true, false) {
		h.log.Info("storing batches works again", "vehicle", id, "batch", hdr.MsgID())
	}
	if res == store.Duplicate {
		h.m.publishes.WithLabelValues(resultDuplicate).Inc()
	} else {
		h.m.publishes.WithLabelValues(resultStored).Inc()
	}
	pk.Ignore = true
	pk.FixedHeader.Retain = false
	pk.Properties.User = nil
	return pk, nil
}

// enter counts a publish in flight, unless the hook is stopping.
func (h *Hook) enter() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return false
	}
	h.inflight.Add(1)
	return true
}

// dead keeps a refused payload in KANAL_DEAD, then refuses it for good.
func (h *Hook) dead(pk packets.Packet, identity string, bad *refusal) (packets.Packet, error) {
	payload := pk.Payload
	if len(payload) > h.max {
		payload = payload[:h.max]
		bad.detail += fmt.Sprintf("; the first %d bytes kept", h.max)
	}
	if err := h.opts.Store.Dead(context.Background(), bad.reason, identity, payload, bad.detail); err != nil {
		h.log.Warn("dead letter not stored; the vehicle retries the batch", "vehicle", identity, "reason", bad.reason, "err", err)
		return h.refuse(pk, resultDeadFailed, storeCode(err))
	}
	h.log.Debug("batch refused for good", "vehicle", identity, "reason", bad.reason, "detail", bad.detail)
	return h.refuse(pk, bad.reason, codeInvalid)
}

// refuse counts a refusal and returns its bare code.
func (h *Hook) refuse(pk packets.Packet, result string, code packets.Code) (packets.Packet, error) {
	h.m.publishes.WithLabelValues(result).Inc()
	h.m.negative.WithLabelValues(codeLabel(code)).Inc()
	return pk, code
}

// storeCode maps a store error to its reason code.
func storeCode(err error) packets.Code {
	if errors.Is(err, store.ErrRefused) {
		return codeRefused
	}
	return codeUnavailable
}
