// Package twin keeps a vehicle's twin: what the cloud knows of it now (its
// grid cell, when it last reported, whether it is online, fog lights,
// hazard lights, wipers, speed band and warning lamps), in the NATS KV
// bucket KANAL_TWINS under the vehicle id.
//
// A twin is built from the values of the vehicle's batches (Signals.Apply)
// and its presence messages (Twin.SetPresence). Every field is a Reading
// that keeps the vehicle's time of its latest report, and a report older
// than the one a field holds is ignored: batches may be processed out of
// order (a spool backlog arriving after newer data, a batch redelivered),
// and applying one twice changes nothing. A keyframe holds the last value
// of every mapped signal, so after any gap the next keyframe makes the twin
// whole again.
//
// A twin holds no precise position (the vehicle never sends one) and no
// exact speed, only a band (SpeedBand): it is for operators, who know the
// vehicle's identity, and it says no more than they need to act.
package twin
