package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kanal-dev/kanal/internal/wire"
)

// Headers of a dead letter in KANAL_DEAD (the payload is as received).
const (
	// HeaderReason is why the gateway refused the payload; also the last
	// token of the subject kanal.dead.{reason}.
	HeaderReason = "Kanal-Reason"
	// HeaderVehicle is the authenticated identity of the sender, never a
	// vehicle id read from the payload.
	HeaderVehicle = "Kanal-Vehicle"
	// HeaderDetail says what was wrong, for people (at most MaxDetail bytes).
	HeaderDetail = "Kanal-Detail"
)

// MaxDetail bounds the Kanal-Detail header: an error message, not a dump.
const MaxDetail = 1024

// Dead stores payload in KANAL_DEAD on kanal.dead.{reason} with the reason,
// the authenticated vehicle and detail in headers, and waits for the ack (at
// most Options.PublishTimeout). reason is a subject token (A-Z, a-z, 0-9,
// '_' and '-'); vehicle may be empty when the sender has no identity.
// Control characters in vehicle and detail become '?', as a header line
// cannot hold them.
//
// The message id is a hash of reason, vehicle and payload, so a vehicle
// retrying a refused payload within the duplicate window leaves one dead
// letter. Call it before refusing the payload for good: until it returns
// nil the payload exists only at the vehicle.
func (s *Store) Dead(ctx context.Context, reason, vehicle string, payload []byte, detail string) error {
	if err := checkToken(reason); err != nil {
		return fmt.Errorf("store dead letter: reason: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.PublishTimeout)
	defer cancel()
	hdr := nats.Header{HeaderReason: {reason}}
	if vehicle != "" {
		hdr.Set(HeaderVehicle, headerSafe(vehicle, MaxDetail))
	}
	if detail != "" {
		hdr.Set(HeaderDetail, headerSafe(detail, MaxDetail))
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", reason, vehicle)
	h.Write(payload)
	id := "dead:" + hex.EncodeToString(h.Sum(nil)[:16])
	msg := &nats.Msg{Subject: wire.DeadSubject(reason), Data: payload, Header: hdr}
	if _, err := s.js.PublishMsg(ctx, msg, jetstream.WithMsgID(id)); err != nil {
		return classify("store dead letter "+reason, err)
	}
	s.m.dead.WithLabelValues(reason).Inc()
	return nil
}

// checkToken reports whether t can be one NATS subject token and a metric
// label: 1 to 64 of A-Z, a-z, 0-9, '_' and '-'.
func checkToken(t string) error {
	if t == "" || len(t) > 64 {
		return fmt.Errorf("%q: want 1 to 64 characters", t)
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("%q: byte %d is %q (want A-Z, a-z, 0-9, _ or -)", t, i, t[i:i+1])
		}
	}
	return nil
}

// headerSafe returns v valid as a header value: valid UTF-8, no control
// characters, at most max bytes.
func headerSafe(v string, max int) string {
	v = strings.ToValidUTF8(v, "?")
	v = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, v)
	if len(v) > max {
		v = v[:max]
		v = strings.ToValidUTF8(v, "")
	}
	return v
}
