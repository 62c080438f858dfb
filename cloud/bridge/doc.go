// Package bridge is the mochi hook between a vehicle's batch publish and
// JetStream: it validates the payload, stores it with cloud/store and only
// then lets mochi send the PUBACK, so a PUBACK means "stored". Failures
// become bare MQTT v5 reason codes (codes.go) that the agent either retries
// or quarantines on, and refused payloads are kept in KANAL_DEAD first.
//
// It handles only kanal/v1/vehicles/{vehicle}/batch; every other publish
// passes through untouched, for the ACL and other hooks to judge.
package bridge
