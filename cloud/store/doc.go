// Package store is the gateway's JetStream side: the streams and the
// exactly-once store of vehicle batches.
//
// Ensure creates or updates KANAL_BATCHES (kanal.batches.{vehicle}) and
// KANAL_DEAD (kanal.dead.{reason}) with the retention of Options, at every
// start of every replica. A Store then puts each batch on its vehicle's
// subject exactly as the vehicle sent it, with Nats-Msg-Id
// {vehicle}:{boot}:{seq}, and waits for the stream's ack: the bridge sends
// the PUBACK only after it. Each (vehicle, boot, seq) is stored once even
// when its retry comes hours after JetStream's duplicate window, with state
// per vehicle that travels in the vehicle's last message (dedup.go has the
// argument). Dead stores what the gateway refused, with the reason and the
// authenticated vehicle in headers.
//
// Nothing here reads a batch's body: the header (uplink/batch.ReadHeader)
// is all the store needs.
package store
