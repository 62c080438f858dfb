// Package broker is the ingest gateway's MQTT v5 broker: mochi-mqtt with
// one hook for authentication, client-id binding, authorization and
// limits, and listeners of its own (TCP, TLS, WebSocket) that add what
// mochi lacks at the connection level. The gateway (cloud/gateway) makes it
// with New, adds the bridge into JetStream with AddHook, then calls Serve.
//
// # Who a client is
//
// A client logs in with a user name and password from the credentials file
// (cloud/auth), or, on a TLS listener with tls.client_ca, with a client
// certificate: a verified certificate makes the client the vehicle named by
// its Subject CommonName, no password needed. Everything else is refused
// (0x86 bad user name or password, 0x87 not authorized). MQTT v5 only, for
// every role: mochi refuses 3.1.1 (0x01), so there is one protocol to
// secure and every refusal carries a reason code.
//
// The client id is the identity. A vehicle connects with its vehicle id; a
// traffic or operator user with NAME:anything, or with none and is given
// NAME:<random>. Anything else is refused with 0x85. Vehicle ids cannot
// contain ':', so no one can log in with another vehicle's client id, take
// over its session or receive its queued commands, all of which stock
// mochi allows to whoever sends the client id.
//
// # What a client may do
//
// Deny by default, in the hook's OnACLCheck (see rules in acl.go): a
// vehicle publishes only kanal/v1/vehicles/{its id}/batch and /status and
// reads its /cmd and kanal/v1/cells/+/notice; traffic services read
// kanal/v1/alerts/#; operators publish commands and notices and read
// status, alerts and notices. A subscription is allowed only when every
// topic its filter matches is allowed; each message is checked again on
// delivery. A last will must be on a topic the client may publish to.
// Alerts come only from the gateway's inline client (Server.Publish).
//
// # Limits
//
// One misbehaving client is disconnected, counted
// (kanal_broker_disconnects_total by reason) and logged once, and every
// other client goes on being served:
//
//   - packets over MaxPacketSize (256 KiB of payload and 1 KiB of headers)
//     get DISCONNECT 0x95, seen from the fixed header before the body is
//     read (mochi alone would close without a reason, and allocate first);
//     the limit is announced in CONNACK;
//   - a connection must send CONNECT within ConnectTimeout (10 s); mochi
//     has no such timeout;
//   - each connection's publishes go through a token bucket (200/s, burst
//     2000): empty, the client gets DISCONNECT 0x96;
//   - at most MaxConnsPerAddress (1000) open connections per IP address;
//   - ReceiveMaximum (32) QoS 1 publishes in flight per client, MaxInflight
//     (1024) messages held for one, keep-alive at most MaxKeepAlive (5 min),
//     sessions kept at most MaxSessionExpiry (1 h), QoS at most 1, no topic
//     aliases, no retained batches or commands.
//
// A client the broker cuts is sent its DISCONNECT, then the connection is
// half-closed and drained for up to 2 s before it is closed, so a TCP reset
// cannot destroy the reason code before the client reads it.
//
// # Memory
//
// mochi gives each client an outbound queue of MaximumClientWritesPending
// slots, 8192 by default: 64 KiB of pointers per client, most of an idle
// connection's cost. The broker uses 128 (WritesPending). Measured with
// BenchmarkIdleConnections on the project's 2-core machine (idle MQTT v5
// connections on loopback, the clients in another process; the Go heap and
// stacks of the broker's process, and its RSS):
//
//	writes_pending       heap+stacks  RSS     per idle connection
//	8192 (mochi)         90 KiB       28 KiB
//	128 (the default)    27 KiB       29 KiB
//	128, over TLS        37 KiB       44 KiB
//
// A fresh process's RSS misses most of mochi's queue: memory new from the
// system is zero and Go does not write to clear it; once connections come
// and go and the heap is reused, the heap figure is what they cost. 10,000
// connections (held in the benchmark with KANAL_BENCH_CONNS=10000) take
// about 280 MiB, 430 MiB over TLS. The rest is two goroutines per client
// (mochi's read and write loops), its 2 KiB read buffer and mochi's
// per-client maps.
package broker
