package batch

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/kanal-dev/kanal/uplink/batch/internal/batchpb"
)

// SchemaVersion is the version of the wire schema this package writes and
// the only one it reads (batchpb/batch.proto says when it changes).
const SchemaVersion = 1

// MaxIDLen is the longest vehicle or boot id, in bytes.
const MaxIDLen = 64

// ErrSchema is returned (wrapped) for a payload of a schema version this
// package does not read: an agent newer than the reader, not garbage.
var ErrSchema = errors.New("unsupported schema version")

// Header is what the gateway needs of a batch without decompressing it.
type Header struct {
	// Vehicle is the sender's id; see CheckVehicleID.
	Vehicle string
	// Boot is random per agent start (NewBoot); see CheckBootID.
	Boot string
	// Seq counts the batches of one boot, from 1.
	Seq uint64
	// SentAt is when the agent encoded the batch, Unix nanoseconds. A batch
	// resent from the spool keeps it, so it says how old the data is.
	SentAt int64
	// Keyframe marks a batch with the last value of every mapped signal.
	Keyframe bool
	// Priority marks a batch flushed early for a critical signal.
	Priority bool
	// Schema is the wire schema version. Encode writes SchemaVersion and
	// accepts 0 or SchemaVersion here.
	Schema uint32
	// Values is how many values the batch holds. ReadHeader and Decode set
	// it; Encode ignores it and writes len(Batch.Values).
	Values int
}

// MsgID returns "{vehicle}:{boot}:{seq}", the JetStream Nats-Msg-Id of the
// batch. Vehicle and boot ids cannot contain ':', so it names one batch.
func (h Header) MsgID() string {
	return h.Vehicle + ":" + h.Boot + ":" + strconv.FormatUint(h.Seq, 10)
}

// CheckVehicleID reports whether id can be a vehicle id: 1 to 64 characters
// of A-Z, a-z, 0-9, '_' and '-'. Such an id is a valid MQTT topic level
// (no '/', '+', '#') and NATS subject token (no '.', '*', '>', spaces), and
// it cannot break the ':'-separated MsgID.
func CheckVehicleID(id string) error { return checkID("vehicle id", id) }

// CheckBootID reports whether id can be a boot id: the same rule as
// CheckVehicleID, since it is part of MsgID too.
func CheckBootID(id string) error { return checkID("boot id", id) }

func checkID(what, id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%s is empty", what)
	case len(id) > MaxIDLen:
		return fmt.Errorf("%s %.16q... is %d bytes long (at most %d)", what, id, len(id), MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		if !idChar(id[i]) {
			return fmt.Errorf("%s %q: byte %d is %q (want A-Z, a-z, 0-9, _ or -)", what, id, i, id[i:i+1])
		}
	}
	return nil
}

func idChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

// bootBytes is the entropy of a boot id: 96 bits. Two starts of one vehicle
// get the same id with probability 2^-96, and a fleet of 100,000 vehicles
// restarting every minute for ten years stays below 2^-40 of any clash.
const bootBytes = 12

// NewBoot returns a new random boot id: 96 bits from crypto/rand as 16
// characters of unpadded base64url, which CheckBootID accepts.
func NewBoot() string {
	var b [bootBytes]byte
	rand.Read(b[:]) // never fails (crypto/rand documents it)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ReadHeader returns the header of an encoded batch without decompressing
// or parsing its body: the gateway calls it for every publish. It checks
// the schema version (ErrSchema), the vehicle and boot ids, the sequence
// number and that the body is described consistently.
func ReadHeader(data []byte) (Header, error) {
	h, _, _, err := parseOuter(data)
	if err != nil {
		return Header{}, fmt.Errorf("read batch header: %w", err)
	}
	return h, nil
}

// parseOuter splits a payload into its checked header and its body bytes
// (a subslice of data, not a copy).
func parseOuter(data []byte) (Header, *batchpb.Header, []byte, error) {
	var hdr, body []byte
	var sawHeader, sawBody bool
	for rest := data; len(rest) > 0; {
		num, typ, n := protowire.ConsumeTag(rest)
		if n < 0 {
			return Header{}, nil, nil, fmt.Errorf("payload: %w", protowire.ParseError(n))
		}
		rest = rest[n:]
		switch {
		case num == 1 && typ == protowire.BytesType, num == 2 && typ == protowire.BytesType:
			v, m := protowire.ConsumeBytes(rest)
			if m < 0 {
				return Header{}, nil, nil, fmt.Errorf("payload field %d: %w", num, protowire.ParseError(m))
			}
			rest = rest[m:]
			if num == 1 {
				if sawHeader {
					return Header{}, nil, nil, errors.New("payload: header repeated")
				}
				hdr, sawHeader = v, true
			} else {
				if sawBody {
					return Header{}, nil, nil, errors.New("payload: body repeated")
				}
				body, sawBody = v, true
			}
		case num == 1 || num == 2:
			return Header{}, nil, nil, fmt.Errorf("payload field %d: wire type %d, want bytes", num, typ)
		default: // a field a later minor revision may add
			m := protowire.ConsumeFieldValue(num, typ, rest)
			if m < 0 {
				return Header{}, nil, nil, fmt.Errorf("payload field %d: %w", num, protowire.ParseError(m))
			}
			rest = rest[m:]
		}
	}
	if !sawHeader {
		return Header{}, nil, nil, errors.New("payload has no header")
	}
	var pb batchpb.Header
	if err := proto.Unmarshal(hdr, &pb); err != nil {
		return Header{}, nil, nil, fmt.Errorf("header: %w", err)
	}
	h, err := checkHeader(&pb, len(body))
	if err != nil {
		return Header{}, nil, nil, err
	}
	return h, &pb, body, nil
}

// checkHeader validates a decoded wire header against a body of bodyLen
// bytes and converts it.
func checkHeader(pb *batchpb.Header, bodyLen int) (Header, error) {
	if pb.Schema != SchemaVersion {
		return Header{}, fmt.Errorf("header: schema %d: %w (this reader knows %d)", pb.Schema, ErrSchema, SchemaVersion)
	}
	if err := CheckVehicleID(pb.Vehicle); err != nil {
		return Header{}, fmt.Errorf("header: %w", err)
	}
	if err := CheckBootID(pb.Boot); err != nil {
		return Header{}, fmt.Errorf("header: %w", err)
	}
	if pb.Seq == 0 {
		return Header{}, errors.New("header: seq is 0 (sequence numbers start at 1)")
	}
	switch pb.Codec {
	case batchpb.Codec_CODEC_NONE:
		if int(pb.BodySize) != bodyLen {
			return Header{}, fmt.Errorf("header: body_size %d, but the uncompressed body has %d bytes", pb.BodySize, bodyLen)
		}
	case batchpb.Codec_CODEC_ZSTD:
		if bodyLen == 0 {
			return Header{}, errors.New("header: codec zstd with an empty body")
		}
	default:
		return Header{}, fmt.Errorf("header: unknown codec %d", int32(pb.Codec))
	}
	if pb.Values > 0 && pb.BodySize == 0 {
		return Header{}, fmt.Errorf("header: %d values in an empty body", pb.Values)
	}
	return Header{
		Vehicle:  pb.Vehicle,
		Boot:     pb.Boot,
		Seq:      pb.Seq,
		SentAt:   pb.SentAt,
		Keyframe: pb.Keyframe,
		Priority: pb.Priority,
		Schema:   pb.Schema,
		Values:   int(pb.Values),
	}, nil
}

// checkEncodable validates a header before encoding.
func checkEncodable(h *Header) error {
	if h.Schema != 0 && h.Schema != SchemaVersion {
		return fmt.Errorf("header: schema %d: %w (this writer knows %d)", h.Schema, ErrSchema, SchemaVersion)
	}
	if err := CheckVehicleID(h.Vehicle); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	if err := CheckBootID(h.Boot); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	if h.Seq == 0 {
		return errors.New("header: seq is 0 (sequence numbers start at 1)")
	}
	return nil
}
