// Package cloud is the ingest gateway's side of Kanal: the subpackages hold
// the parts between a vehicle's MQTT v5 publish and NATS JetStream.
//
//   - cloud/store: the JetStream streams (KANAL_BATCHES, KANAL_DEAD), created
//     or updated at start, and the exactly-once store of batches: each
//     (vehicle, boot, seq) is stored once however late its retry comes, with
//     state per vehicle kept in JetStream itself (store/dedup.go argues it).
//   - cloud/bridge: the mochi OnPublish hook that validates a vehicle's batch
//     (size, header, identity), stores it and only then lets mochi send the
//     PUBACK, answering failures with bare MQTT v5 reason codes the agent
//     understands (retry later, or quarantine).
//
// The broker's authentication, ACL and limits hooks and the gateway that
// assembles mochi, NATS and HTTP live beside them. Nothing under cloud
// imports the agent's uplink code except the batch codec (uplink/batch).
package cloud
