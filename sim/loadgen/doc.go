// Package loadgen is an MQTT v5 load generator for the ingest gateway: it
// holds many vehicle connections (10,000 on a 2-core machine, beside the
// gateway), each logged in as its vehicle, and publishes real batches made
// with the agent's codec on kanal/v1/vehicles/{vehicle}/batch at QoS 1, a
// boot id per connection and sequence numbers from 1, at a steady rate,
// measuring the latency of every PUBACK.
//
// # Why not paho's client
//
// The common Go load tools speak MQTT 3 only, and paho.golang's full v5
// client spends more CPU per message than the broker under test (its
// queues, a goroutine set per client, per-message bookkeeping). This
// package uses paho's packet codec (packets.Connect, Publish, Puback,
// Pingreq, WriteTo and ReadPacket) and nothing else: one goroutine per
// connection reads PUBACKs, a shared scheduler spreads the publishes of
// the whole fleet evenly over time, a few writer goroutines build and
// write them. A publish writes one header in front of a body encoded once
// per profile second (PayloadHeader), so a payload costs 0.06 µs instead
// of an encode's 60 µs; PayloadEncode encodes each batch as an agent
// does. Memory per connection is bounded: a 256-byte read
// buffer, the inflight window (Options.Inflight, lowered to the broker's
// Receive Maximum) and a goroutine; nothing queues when the gateway is
// slow, publishes are skipped and counted instead.
//
// # Many connections from one machine
//
// Every connection is a file: internal/rlimit lifts the soft
// RLIMIT_NOFILE to the hard limit (Connect does it). On loopback, a client
// address has about 28,000 ephemeral ports toward one server port
// (net.ipv4.ip_local_port_range is 32768–60999 by default), plenty for
// 10,000 connections; LoopbackAddrs gives more source addresses in
// 127.0.0.0/8, each with its own ports, which also keeps a gateway's
// per-address connection limit from counting the whole fleet as one
// client.
//
// # What it measures
//
// Report: connections held, logins failed by reason, connections lost by
// reason, batches published, acknowledged and refused (negative PUBACKs by
// reason code), signal values acknowledged per second, and PUBACK latency
// p50/p90/p99/p99.9/max from a log-linear histogram (Histogram, relative
// error under 3.2 %). The schedule is open loop, so a slow gateway shows as
// latency and skipped publishes rather than as a slower generator.
//
// # Logins
//
// Options.Password gives each vehicle's password; WriteCredentials writes
// a gateway credentials file for a whole fleet (a low bcrypt cost by
// default, so that a 10,000-vehicle file takes seconds) and returns that
// function.
package loadgen
