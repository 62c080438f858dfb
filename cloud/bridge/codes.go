package bridge

import "github.com/mochi-mqtt/server/v2/packets"

// The PUBACK reason codes of a refused batch. The agent (uplink/reason.go)
// quarantines a batch on 0x99 payload format invalid and 0x95 packet too
// large and retries every other failure later, from its spool; mochi sends
// a code as the PUBACK's reason only when OnPublish returns it bare, and
// acknowledges with success on any other error (server.go processPublish),
// so these are returned unwrapped, never with %w.
//
// MQTT 5 allows only 0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97 and
// 0x99 in a PUBACK; 0x89 server busy and 0x95 are CONNACK and DISCONNECT
// codes, so they are not used here.
var (
	// codeInvalid (0x99 payload format invalid): the bytes themselves are
	// wrong (no readable header, an unknown schema, a batch naming another
	// vehicle than the sender, over the size limit); resending cannot help,
	// so the agent quarantines it. The payload is in KANAL_DEAD before the
	// code is sent. A batch naming another vehicle is the payload's fault
	// (the agent wrote it), so it gets 0x99 too: 0x87 would be retried
	// forever.
	codeInvalid = packets.ErrPayloadFormatInvalid
	// codeNotAuthorized (0x87): the topic names another vehicle than the
	// client's identity. The ACL refuses that before the hook; if it gets
	// here the gateway is misconfigured, and the agent retrying until an
	// operator fixes it loses nothing.
	codeNotAuthorized = packets.ErrNotAuthorized
	// codeUnavailable (0x80 unspecified error): JetStream did not answer
	// within the publish timeout, or the connection to it is down, or the
	// hook is stopping. The batch may even have been stored; the agent
	// retries with backoff and the store finds the duplicate.
	codeUnavailable = packets.ErrUnspecifiedError
	// codeRefused (0x97 quota exceeded): JetStream answered and refused (a
	// stream limit, a message size limit, a missing stream): retried until
	// an operator acts.
	codeRefused = packets.ErrQuotaExceeded
)

// A payload refused for good whose dead letter cannot be stored gets
// codeUnavailable or codeRefused, as the store's error says, not
// codeInvalid: until KANAL_DEAD holds it, the agent's spool is its only
// copy, and a quarantine there is out of everyone's sight.

// codeLabel is the negative_pubacks_total label of a code, as the agent
// writes it in its own metric (uplink/publisher.go codeLabel).
func codeLabel(c packets.Code) string {
	const hex = "0123456789abcdef"
	return "0x" + string([]byte{hex[c.Code>>4], hex[c.Code&0xf]})
}
