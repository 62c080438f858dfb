package bridge

import (
	"errors"
	"fmt"

	"github.com/kanal-dev/kanal/uplink/batch"
)

// Reasons a batch is refused for good: the dead letter's subject token and
// Kanal-Reason, and a result label of kanal_gateway_publishes_total.
const (
	ReasonTooLarge        = "too_large"        // over Options.MaxPayload
	ReasonMalformed       = "malformed"        // no readable, consistent header
	ReasonSchema          = "schema"           // a schema version this gateway does not read
	ReasonVehicleMismatch = "vehicle_mismatch" // the header names another vehicle than the sender
)

// refusal is why a payload is refused for good.
type refusal struct {
	reason string
	detail string
}

// validate checks a batch payload from the client authenticated as
// identity: its size, its header (read without decompressing anything),
// and that the header's vehicle is the sender. It returns the header, or
// why the payload can never be stored.
func validate(identity string, payload []byte, max int) (batch.Header, *refusal) {
	if len(payload) > max {
		return batch.Header{}, &refusal{ReasonTooLarge, fmt.Sprintf("payload of %d bytes, over the limit of %d", len(payload), max)}
	}
	h, err := batch.ReadHeader(payload)
	switch {
	case errors.Is(err, batch.ErrSchema):
		return batch.Header{}, &refusal{ReasonSchema, err.Error()}
	case err != nil:
		return batch.Header{}, &refusal{ReasonMalformed, err.Error()}
	case h.Vehicle != identity:
		return batch.Header{}, &refusal{ReasonVehicleMismatch,
			fmt.Sprintf("batch %s names vehicle %q; the sender is %q", h.MsgID(), h.Vehicle, identity)}
	}
	return h, nil
}
