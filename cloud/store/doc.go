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
// per vehicle that travels in the vehicle's last message (the argument
// follows). Dead stores what the gateway refused, with the reason and the
// authenticated vehicle in headers.
//
// Nothing here reads a batch's body: the header (uplink/batch.ReadHeader)
// is all the store needs.
//
// # Exactly once, whatever the retry delay
//
// JetStream's Nats-Msg-Id dedup holds only within the stream's duplicate
// window, and it keeps every id of the window in memory. An agent may retry
// a batch hours after an outage (its spool is the only copy until the
// PUBACK), and a window of hours for 16,500 vehicles sending every second
// would hold hundreds of millions of ids. So the window is the first line
// only, and the Store also refuses a (vehicle, boot, seq) it has stored
// before, from state that grows with the number of vehicles, not with time
// or traffic.
//
// # Where the state lives
//
// The state of a vehicle travels in JetStream itself, in the Kanal-Dedup
// header of the last message on its subject kanal.batches.{vehicle}: for
// each of the vehicle's Boots most recently written boots, the boot id, the
// highest seq stored and a bitmap of which of the Window seqs below it are
// stored (state.go: 21 bytes a boot for a vehicle that sends in order, at
// most 92; under 120 bytes of base64 for four boots of 16-character ids,
// at most 496 for ids of 64). A batch's header is the state of the previous message with
// the batch marked, and the batch is published with
// Nats-Expected-Last-Subject-Sequence set to the stream sequence of that
// previous message ("0" when the subject has none: JetStream takes a
// present header with 0 as "no message on this subject yet", while an
// absent header means no check at all). So "read the state, decide, store
// the batch and the new state" is one atomic step per vehicle, across every
// gateway replica and every NATS node: if anything was stored for the
// vehicle in between, JetStream refuses the publish (wrong last sequence,
// 10071; 10164 on a replicated stream, where a concurrent publish on the
// subject is also refused while in flight), and the Store reads the
// subject's last message again (a direct get) and decides again: the batch
// may now be a duplicate. There is no separate KV and no crash window
// between storing a batch and marking it: the mark is the stored message.
//
// The state is monotone: a batch marked in the state of some message was
// stored (or is below the window, see next), and every later state keeps the
// mark. So a stale state (from the cache, or a direct get answered by a
// follower that is behind) can only say "new" too often, and a "new" is
// checked by the expected sequence; a "stored" from any state is final. A
// publish whose ack was lost (a timeout, a reconnect) is no different: the
// vehicle retries, and the retry finds the mark, or the message id within
// the window.
//
// # Several batches in flight, gaps
//
// A plain high-water mark per boot would lose a batch whose first try
// failed while a later one was stored. The bitmap marks each of the Window
// seqs below the highest one, so an earlier seq is stored when it comes, in
// any order. Seqs the agent never sends (its spool's disk budget dropped
// them, an encode failed) stay unmarked and block nothing: nothing waits for
// them.
//
// A seq more than Window below the boot's highest stored seq counts as
// decided (a duplicate) without a bit. That is safe because the agent's
// publisher (uplink.MaxSpread = 64) never sends a batch more than 64 spool
// positions past the oldest one still unacknowledged, and a boot's batches
// enter the spool in seq order: when seq s+Window was first sent, s was
// already acknowledged (stored), quarantined or dropped by the agent's
// policy, so a copy of s arriving now is a late retry of a stored batch or
// of one the agent gave up. Window = 128 leaves a margin of 64 over the
// agent's spread for the seqs a boot spends without spooling a batch (a
// failed encode or append): the argument needs, within one boot, at most 64
// such spent seqs between a batch stuck on retries and the batches sent
// past it.
//
// # Boots
//
// A boot id is random per agent start, and the spool outlives the process,
// so batches of several boots may be outstanding after restarts. The state
// keeps the Boots = 4 boots written most recently; a batch of a boot that
// is not among them (evicted by newer boots) is stored as new. A duplicate
// is thus possible only when a batch comes back after four newer boots of
// the same vehicle have stored batches while it was outstanding; never a
// loss.
//
// # Replicas and the cache
//
// Each Store keeps an LRU of vehicles (Options.CacheSize) with the subject
// sequence and state of the last message it knows, so the common path is
// one publish per batch; a miss costs one direct get. Mochi hands one
// client's publishes to Store one after another, but a vehicle may reconnect
// to another replica while a publish of the old connection is still in
// flight, and two replicas then race on one subject: the expected-sequence
// check makes one of them lose, re-read and find the batch marked. The
// window's message id stays a line of its own: a PubAck with Duplicate set
// is a duplicate (a replicated stream checks the id before the expected
// sequence; R1 checks it after, and the conflict's re-read finds the mark),
// and an id still in flight on a replicated stream (10158) is retried like a
// conflict. It is what still catches a copy whose state was lost (an
// evicted boot, an expired last message) within the window.
//
// # What it does not cover
//
// Retention by age or bytes may delete a vehicle's last message, and with
// it the state: a batch older than the retention could then be stored again
// (its first copy is gone too, so the stream still holds it once). A purge
// of a vehicle's subject, or a message published to it by anything but a
// Store, resets the vehicle's state in the same way: the Store then treats
// the vehicle as new (a message without a readable Kanal-Dedup header is
// counted and logged).
package store
