// Package batch is the codec of the batches an edge agent sends and the
// gateway stores: a versioned protobuf schema (internal/batchpb/batch.proto,
// the contract for readers in any language), columnar per catalog signal,
// zstd-compressed.
//
// A payload is a small plain header (vehicle, boot id, sequence number,
// schema version, send time, keyframe and priority flags, value count,
// body codec and size) and a body, usually zstd, with one column per
// catalog id. The gateway reads and checks the header with ReadHeader
// without decompressing anything, and names the batch in JetStream with
// Header.MsgID.
//
// A column stores its timestamps as zigzag-varint deltas in the coarsest
// unit exact for all of them (10^e ns: microseconds for candump logs), and
// its values in the most compact form that gives every value back bit for
// bit: deltas of scaled integers (value = n / 10^k), unsigned integers for
// 64-bit cell ids, float32, or float64 bits (values.go says how the
// encoder chooses). Decoded values are always exactly the encoded ones,
// NaN payloads, infinities and -0 included; the catalog type is not needed
// to read them.
//
// Bound gives a size no payload of a given number of values and columns
// exceeds, so the agent never builds a batch over the broker's limit.
//
// The package imports catalog, protobuf and zstd only: no MQTT, no DBC.
package batch
