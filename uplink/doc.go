// Package uplink is what carries the normalized signals out of the vehicle:
// the privacy stage (precise positions become grid cells, or nothing inside
// privacy zones), the sampler (on-change, deadband, intervals, heartbeats,
// critical signals), the batcher (columnar batches by age and size, keyframes)
// and the MQTT v5 publisher that drains the durable spool, deleting a batch
// only after the broker's PUBACK.
//
// The batch codec (uplink/batch) and the spool (uplink/spool) are packages of
// their own: the gateway reads batches without importing any MQTT client code,
// and the spool knows nothing of what it stores.
//
// uplink imports catalog and geo and never dbc: the decoder's output reaches
// it as catalog.Values, and the sampling policy as catalog.Sampling.
package uplink
