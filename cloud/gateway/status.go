package gateway

import (
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/nats-io/nats.go"

	"github.com/kanal-dev/kanal/internal/wire"
)

// statusHook forwards what vehicles say on their status topics (presence,
// their last will, command replies) to kanal.status.{vehicle} in NATS, so
// processors that have no MQTT broker keep the twins' online state. It is a
// plain NATS publish: presence is a state, and the next one supersedes a
// lost one; the retained MQTT message keeps the latest for MQTT readers.
type statusHook struct {
	mqtt.HookBase
	nc *nats.Conn
}

func (h *statusHook) ID() string { return "kanal-status" }

func (h *statusHook) Provides(b byte) bool { return b == mqtt.OnPublished || b == mqtt.OnWillSent }

// OnPublished runs after a publish was accepted (the ACL lets a vehicle
// publish only its own status).
func (h *statusHook) OnPublished(cl *mqtt.Client, pk packets.Packet) { h.forward(pk) }

// OnWillSent runs when the broker publishes a vehicle's last will.
func (h *statusHook) OnWillSent(cl *mqtt.Client, pk packets.Packet) { h.forward(pk) }

func (h *statusHook) forward(pk packets.Packet) {
	vehicle, leaf, ok := wire.VehicleOf(pk.TopicName)
	if !ok || leaf != "status" {
		return
	}
	h.nc.Publish(wire.StatusSubject(vehicle), pk.Payload)
}
