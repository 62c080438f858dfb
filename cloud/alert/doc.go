// Package alert turns the stored batches into alerts: fog per grid cell,
// warning lamps, breakdowns (one file per rule: fog.go, warning.go,
// breakdown.go), keeps the vehicle twins (cloud/twin) and sends notices
// back to the vehicles of a cell.
//
// The Engine reads KANAL_BATCHES through a durable pull consumer with
// explicit acks and publishes every alert change to KANAL_ALERTS: the
// traffic view on kanal.alerts.{kind}.{cell}, anonymous (no vehicle in
// the payload, the subject or the headers), and for warnings and
// breakdowns the fleet view on kanal.fleet.alerts.{kind}.{vehicle}. A
// raised fog alert also puts a notice for its cell and the neighbours into
// KANAL_NOTICES. The Relay, which runs in every gateway, hands both to the
// gateway's MQTT broker (kanal/v1/alerts/{kind}/{cell}, kanal/v1/cells/
// {cell}/notice), so processors need no broker of their own.
//
// # One active processor
//
// Several replicas may run (each gateway, and `ingest-gateway process`);
// one at a time is active, the one holding a lease in the KV bucket
// LeaseBucket (created with a TTL, renewed every quarter of it), and the
// others wait to take over. Fog needs every vehicle of a cell in one
// place, and a warning needs a vehicle's previous lamp state: partitioning
// by vehicle would split the first, partitioning by cell the second (a
// vehicle changes cells). A single writer of the rules' state makes "raise
// once" a local decision instead of a distributed one. The load it carries
// is decoding batches and updating maps in memory, with KV writes grouped
// per flush; the benchmarks measure it.
//
// # Exactly once
//
// The state is the twins (KANAL_TWINS) and the rules' records (StateBucket:
// fog per cell, warnings and breakdowns per vehicle). A batch is
// acknowledged only after everything it changed is written, so the
// consumer's ack floor is always a point up to which the state is complete;
// a new term (another replica, or this one restarted) loads the state and
// resumes right after the ack floor (term.consumer). Applying a batch a
// second time changes nothing, because every twin field keeps the time of
// its latest report and ignores reports no newer (twin.Reading), and the
// rules raise only on a change of the twin. One exception, by design: a
// twin whose values did not change, only its report times, is written up
// to Options.TwinRefresh later (fresh.go), so a new term may start from
// report times that much older; never from older values.
//
// An alert is decided while a batch or a tick is processed, and goes into
// the outbox of the record that decided it. flush then writes the records
// with their outboxes, publishes the outboxes in decision order with a
// deterministic Nats-Msg-Id (the episode id and the state; the fleet view
// prefixed "fleet:"), writes the records again with the outboxes emptied,
// writes the twins, and only then acknowledges the batches. A crash:
//
//   - before the records are written: nothing was published; the batches
//     are processed again from the same state and decide the same alerts;
//   - after the records, before their outboxes are emptied (or some of
//     them): the next term finds the outboxes (term.recover), reads back
//     the Nats-Msg-Ids on their subjects since those records were written,
//     and publishes, in decision order, what JetStream does not have.
//     Nats-Msg-Id dedup (Options.Duplicates) would catch most repeats
//     anyway; this catches them after an outage of any length;
//   - after the outboxes are emptied, before the twins are written: the
//     records say raised (or cleared), so the batches processed again
//     raise nothing new, although the twins they start from are older
//     than the records (asof.go says how the records guard that).
//
// A replica that lost its lease (not renewed for half its TTL, or another
// holds the key) stops before it writes or publishes anything more, and a
// standby takes over only after the TTL.
//
// # Time
//
// The rules run on the vehicles' timestamps: every value carries its own
// (Unix ns, from the CAN frame). A report older than max_lateness by the
// processor's clock (a spool backlog after an outage, or a processor
// catching up) updates the twin and raises nothing: an alert about the
// past misleads. A report more than max_clock_skew in the future (a vehicle
// clock that is off) is counted, kept, and taken as reported now. The
// windows that need no report (a vehicle falling silent, clear_after,
// stopped_for) run on the processor's clock, every Options.Tick.
package alert
