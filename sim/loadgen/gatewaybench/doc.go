// Package gatewaybench holds BenchmarkGateway, the gateway figures of
// `make bench`: the real ingest gateway (cloud/gateway) and a bare mochi
// broker as its reference, each loaded by the sim/loadgen generator in a
// child process on loopback. It is a package of its own so that the load
// generator's tests do not depend on the whole cloud side.
package gatewaybench
