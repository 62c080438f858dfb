package uplink

// outcome is what a PUBACK's reason code means for the batch.
type outcome uint8

const (
	// delivered: the gateway stored it (0x00, or 0x10 "no matching
	// subscribers", which MQTT counts as success).
	delivered outcome = iota
	// later: a code that can succeed later (server busy, quota, unspecified,
	// the gateway's storage failing): keep the batch, retry with backoff.
	later
	// never: the gateway says the bytes themselves are wrong (payload format
	// invalid, packet too large); resending them cannot help.
	never
)

// MQTT v5 reason codes the uplink acts on (MQTT 5.0, 2.4).
const (
	codeSuccess             = 0x00
	codeNoMatchingSubs      = 0x10
	codePacketTooLarge      = 0x95
	codePayloadFormatInvald = 0x99
)

// classify reads a PUBACK reason code. Only the codes that name the payload
// as the problem quarantine a batch: "not authorized" or "topic name
// invalid" mean a misconfigured gateway or agent, which an operator fixes,
// after which the batch goes through; throwing it away would lose data.
func classify(code byte) outcome {
	switch {
	case code == codeSuccess || code == codeNoMatchingSubs:
		return delivered
	case code == codePayloadFormatInvald || code == codePacketTooLarge:
		return never
	}
	return later
}
